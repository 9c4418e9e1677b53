import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEgress, isPrivateAddress, resolveEgress } from "./egress.ts";

describe("egress policy", () => {
  it("classifies private, loopback, link-local and reserved addresses in every spelling", () => {
    const inside = [
      "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
      "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
      "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
      "::ffff:127.0.0.1", "::ffff:10.0.0.1", "0:0:0:0:0:ffff:7f00:1", "::ffff:a9fe:a9fe", "::127.0.0.1",
    ];
    const outside = ["1.1.1.1", "8.8.8.8", "203.0.114.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"];
    for (const ip of inside) expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of outside) expect(isPrivateAddress(ip), ip).toBe(false);
  });

  it("refuses a host resolving inside unless private ranges are allowed", async () => {
    await expect(resolveEgress("localhost", { allowPrivate: false })).rejects.toMatchObject({ code: "egress_denied" });
    await expect(resolveEgress("127.0.0.1", { allowPrivate: false })).rejects.toMatchObject({ code: "egress_denied" });
    expect(await resolveEgress("127.0.0.1", { allowPrivate: true })).toBe("127.0.0.1");
    await expect(resolveEgress("no-such-host.invalid", { allowPrivate: true })).rejects.toMatchObject({ code: "unreachable" });
  });

  describe("connect", () => {
    let server: net.Server;
    let port: number;
    beforeAll(async () => {
      server = net.createServer((s) => {
        s.on("error", () => {});
        s.end("hello");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("connects to the checked address, and maps refusals to typed errors", async () => {
      const sock = await connectEgress("localhost", port, { allowPrivate: true }, { timeoutMs: 2000 });
      expect(sock.remoteAddress).toMatch(/^(127\.0\.0\.1|::1)$/);
      sock.destroy();
      await expect(connectEgress("127.0.0.1", port, { allowPrivate: false }, { timeoutMs: 2000 })).rejects.toMatchObject({ code: "egress_denied" });
      await expect(connectEgress("127.0.0.1", 1, { allowPrivate: true }, { timeoutMs: 2000 })).rejects.toMatchObject({ code: "unreachable" });
    });
  });
});
