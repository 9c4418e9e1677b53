import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEgress, isPrivateAddress, resolveEgress } from "./egress.ts";

describe("egress policy", () => {
  it("classifies private, loopback, link-local and reserved addresses in every spelling", () => {
    const inside = [
      "127.0.0.1",
      "127.255.255.254",
      "10.0.0.1",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "255.255.255.255",
      "198.18.0.1",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "0:0:0:0:0:ffff:7f00:1",
      "::ffff:a9fe:a9fe",
      "::127.0.0.1",
    ];
    const outside = [
      "1.1.1.1",
      "8.8.8.8",
      "203.0.114.1",
      "172.32.0.1",
      "100.128.0.1",
      "2606:4700:4700::1111",
      "::ffff:8.8.8.8",
    ];
    for (const ip of inside) expect(isPrivateAddress(ip), ip).toBe(true);
    for (const ip of outside) expect(isPrivateAddress(ip), ip).toBe(false);
  });

  it("judges IPv6 translation forms by the IPv4 address they embed, and refuses the opaque ones", () => {
    const cases: [string, boolean][] = [
      // IPv4-mapped ::ffff:0:0/96
      ["::ffff:10.1.2.3", true],
      ["::ffff:169.254.169.254", true],
      ["::ffff:1.1.1.1", false],
      // SIIT ::ffff:0:0:0/96 (RFC 6145)
      ["::ffff:0:7f00:1", true],
      ["::ffff:0:a9fe:a9fe", true],
      ["0:0:0:0:ffff:0:c0a8:101", true],
      ["::ffff:0:808:808", false],
      // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052)
      ["64:ff9b::127.0.0.1", true],
      ["64:ff9b::a00:1", true],
      ["64:ff9b::169.254.169.254", true],
      ["64:ff9b::8.8.8.8", false],
      // Local-use NAT64 64:ff9b:1::/48 (RFC 8215): where the IPv4 sits is a local choice, so always refused
      ["64:ff9b:1::a00:1", true],
      ["64:ff9b:1:7f00:1::", true],
      ["64:ff9b:1::808:808", true],
      // 6to4 2002::/16: the IPv4 is in bits 16..48
      ["2002:7f00:1::1", true],
      ["2002:a9fe:a9fe::", true],
      ["2002:c0a8:101:1::5", true],
      ["2002:808:808::1", false],
      // Teredo 2001::/32: the client address is obfuscated, refused outright
      ["2001:0:4136:e378:8000:63bf:3fff:fdd2", true],
      ["2001::1", true],
      // IPv4-compatible ::/96 (deprecated)
      ["::10.0.0.1", true],
      ["::a9fe:a9fe", true],
      ["::8.8.8.8", false],
      // Other special IPv6 ranges
      ["2001:db8::1", true],
      ["100::1", true],
      ["fec0::1", true],
      ["5f00::1", true],
      ["2606:4700:4700::1111", false],
    ];
    for (const [ip, inside] of cases) expect(isPrivateAddress(ip), ip).toBe(inside);
  });

  it("refuses an IPv6 literal embedding a private IPv4 address when asked to connect to it", async () => {
    for (const host of [
      "::ffff:0:7f00:1",
      "64:ff9b::7f00:1",
      "64:ff9b:1::7f00:1",
      "2002:7f00:1::",
      "::ffff:127.0.0.1",
    ]) {
      await expect(resolveEgress(host, { allowPrivate: false }), host).rejects.toMatchObject({ code: "egress_denied" });
    }
  });

  it("refuses a host resolving inside unless private ranges are allowed", async () => {
    await expect(resolveEgress("localhost", { allowPrivate: false })).rejects.toMatchObject({ code: "egress_denied" });
    await expect(resolveEgress("127.0.0.1", { allowPrivate: false })).rejects.toMatchObject({ code: "egress_denied" });
    expect(await resolveEgress("127.0.0.1", { allowPrivate: true })).toBe("127.0.0.1");
    await expect(resolveEgress("no-such-host.invalid", { allowPrivate: true })).rejects.toMatchObject({
      code: "unreachable",
    });
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
      await expect(
        connectEgress("127.0.0.1", port, { allowPrivate: false }, { timeoutMs: 2000 }),
      ).rejects.toMatchObject({ code: "egress_denied" });
      await expect(connectEgress("127.0.0.1", 1, { allowPrivate: true }, { timeoutMs: 2000 })).rejects.toMatchObject({
        code: "unreachable",
      });
    });
  });
});
