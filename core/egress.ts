// The only way to open an outbound connection on a customer's behalf. A customer names a host; we resolve it,
// refuse addresses inside private, loopback, link-local and other special ranges (unless the operator allows
// private ranges: a self-hosted single-user install usually does), then connect to the very address we
// checked — never resolving again between check and connect, so DNS rebinding cannot slip past the check.
import dns from "node:dns/promises";
import net from "node:net";
import { BosunError } from "./errors.ts";

export interface EgressPolicy {
  allowPrivate: boolean;
}

const blocked = new net.BlockList();
for (const [addr, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(addr, prefix, "ipv4");
}
for (const [addr, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b::", 96], // NAT64: embeds an IPv4 address we cannot see through cheaply
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10],
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(addr, prefix, "ipv6");
}

/** Whether an IP address is outside the public internet. */
export function isPrivateAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 0) throw new Error(`not an IP address: ${ip}`);
  if (family === 6) {
    // Canonical form first (the URL parser compresses it), so every spelling of an address is judged alike;
    // IPv4-mapped and IPv4-compatible forms are the IPv4 address in disguise.
    const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1).toLowerCase();
    const embedded = /^::(?:ffff:)?([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
    if (embedded && canonical !== "::1") {
      const hi = parseInt(embedded[1]!, 16);
      const lo = parseInt(embedded[2]!, 16);
      return isPrivateAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
    }
    return blocked.check(canonical, "ipv6");
  }
  return blocked.check(ip, "ipv4");
}

export const egressDenied = (host: string, address: string) =>
  new BosunError(
    "egress_denied",
    `'${host}' resolves to ${address}, a private or reserved address; this Bosun only connects to public addresses (the operator can allow private ranges with BOSUN_EGRESS_ALLOW_PRIVATE)`,
    { host, address },
  );

/**
 * The one address we may connect to for `host`: the first the resolver gives, refused if it is private (any
 * private answer refuses the host, so a mixed answer cannot be used to reach inside).
 */
export async function resolveEgress(host: string, policy: EgressPolicy): Promise<string> {
  let addresses: string[];
  if (net.isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await dns.lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch (err) {
      throw new BosunError("unreachable", `the host '${host}' does not resolve (${(err as NodeJS.ErrnoException).code ?? "lookup failed"})`, { host });
    }
    if (!addresses.length) throw new BosunError("unreachable", `the host '${host}' does not resolve`, { host });
  }
  if (!policy.allowPrivate) {
    const inside = addresses.find(isPrivateAddress);
    if (inside) throw egressDenied(host, inside);
  }
  return addresses[0]!;
}

/** A TCP connection to host:port under the policy, connected to the address that was checked. */
export async function connectEgress(
  host: string,
  port: number,
  policy: EgressPolicy,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<net.Socket> {
  const address = await resolveEgress(host, policy);
  return new Promise((resolve, reject) => {
    // No Nagle: interactive protocols (SSH) send small packets back to back and would wait on delayed ACKs.
    const socket = net.connect({ host: address, port, noDelay: true });
    const fail = (err: BosunError) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(err);
    };
    const onAbort = () => fail(new BosunError("timeout", `connecting to ${host}:${port} was cancelled`, { host, port }));
    const timer = setTimeout(
      () => fail(new BosunError("timeout", `connecting to ${host}:${port} timed out after ${opts.timeoutMs} ms`, { host, port })),
      opts.timeoutMs,
    );
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      // Until the caller attaches its own handler (the next tick), an error must not crash the process.
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", (err: NodeJS.ErrnoException) =>
      fail(new BosunError("unreachable", `cannot connect to ${host}:${port} (${err.code ?? err.message})`, { host, port })),
    );
  });
}
