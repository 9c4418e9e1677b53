// The only way to open an outbound connection on a customer's behalf. A customer names a host; we resolve it,
// refuse addresses inside private, loopback, link-local and other special ranges (unless the operator allows
// private ranges: a self-hosted single-user install usually does), then connect to the very address we
// checked — never resolving again between check and connect, so DNS rebinding cannot slip past the check.
import dns from "node:dns/promises";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { BosunError, present } from "./kernel/errors.ts";

export interface EgressPolicy {
  allowPrivate: boolean;
}

/**
 * IPv6 prefixes whose low 32 bits are an IPv4 address the packet ends up at: IPv4-mapped, SIIT (RFC 6145),
 * the NAT64 well-known prefix (RFC 6052) and IPv4-compatible (`::/96`, deprecated). We judge the IPv4 inside.
 */
const EMBEDS_IPV4_LOW32 = ["::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "::/96"].map((c) =>
  ipaddr.IPv6.parseCIDR(c),
);
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR("2002::/16");

const v4 = (bytes: number[]) => ipaddr.IPv4.parse(bytes.join("."));

/**
 * Whether an IP address is outside the public internet. Ranges come from `ipaddr.js` (maintained against the
 * IANA special-purpose registries): anything but plain `unicast` is refused. Translation prefixes that carry
 * an IPv4 address at a fixed place (mapped, SIIT, NAT64 `64:ff9b::/96`, 6to4, IPv4-compatible) are judged by
 * that IPv4 address; those where it is obfuscated or placed by local choice (Teredo `2001::/32`, local NAT64
 * `64:ff9b:1::/48`) are refused outright, since we cannot tell where they lead.
 */
export function isPrivateAddress(ip: string): boolean {
  if (net.isIP(ip) === 0) throw new Error(`not an IP address: ${ip}`);
  const addr = ipaddr.parse(ip);
  if (addr.kind() === "ipv4") return (addr as ipaddr.IPv4).range() !== "unicast";
  const six = addr as ipaddr.IPv6;
  const bytes = six.toByteArray();
  // `::` and `::1` sit inside `::/96` but are IPv6's own unspecified and loopback addresses.
  if (six.range() === "unspecified" || six.range() === "loopback") return true;
  if (EMBEDS_IPV4_LOW32.some((cidr) => six.match(cidr))) return isPrivateAddress(v4(bytes.slice(12)).toString());
  if (six.match(SIX_TO_FOUR)) return isPrivateAddress(v4(bytes.slice(2, 6)).toString());
  return six.range() !== "unicast";
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
      throw new BosunError(
        "unreachable",
        `the host '${host}' does not resolve (${(err as NodeJS.ErrnoException).code ?? "lookup failed"})`,
        { host },
      );
    }
    if (!addresses.length) throw new BosunError("unreachable", `the host '${host}' does not resolve`, { host });
  }
  if (!policy.allowPrivate) {
    const inside = addresses.find(isPrivateAddress);
    if (inside) throw egressDenied(host, inside);
  }
  return present(addresses[0], `an address of ${host}`);
}

/**
 * A `lookup` for node:net / node:http(s) that answers only `address` (the one the policy checked), whatever the name
 * resolves to now: the Host header and TLS name stay the URL's, the connection goes where it was allowed to.
 */
export function pinnedLookup(address: string): net.LookupFunction {
  const family = net.isIP(address);
  // net.connect may ask for all addresses (autoSelectFamily); either way it gets only the checked one.
  return (_host, options, cb) => {
    if (options.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  };
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
    const onAbort = () =>
      fail(new BosunError("timeout", `connecting to ${host}:${port} was cancelled`, { host, port }));
    const timer = setTimeout(
      () =>
        fail(
          new BosunError("timeout", `connecting to ${host}:${port} timed out after ${opts.timeoutMs} ms`, {
            host,
            port,
          }),
        ),
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
      fail(
        new BosunError("unreachable", `cannot connect to ${host}:${port} (${err.code ?? err.message})`, { host, port }),
      ),
    );
  });
}
