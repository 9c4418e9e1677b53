// The client address behind proxies (BOSUN_TRUST_PROXY), over real sockets: X-Forwarded-For is read from the
// right past trusted hops, so entries a client writes itself (the left-most) are never believed.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTrustProxy, type TrustProxy } from "../core/config.ts";
import type { Platform } from "../core/platform.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { clientIp } from "./request.ts";

/** A GET from a chosen loopback address with an X-Forwarded-For header; resolves to the body. */
function get(port: number, path: string, opts: { from?: string; xff?: string; method?: string; body?: string } = {}) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.xff !== undefined) headers["X-Forwarded-For"] = opts.xff;
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    const req = http.request(
      { host: "127.0.0.1", port, path, method: opts.method ?? "GET", localAddress: opts.from ?? "127.0.0.1", headers },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const listen = (fetch: (req: Request, env?: unknown) => Response | Promise<Response>) =>
  new Promise<ServerType>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
const close = (s?: ServerType) => new Promise((r) => (s ? s.close(r) : r(undefined)));

describe("clientIp", () => {
  let server: ServerType;
  let port: number;
  let trust: TrustProxy = false;
  beforeAll(async () => {
    const app = new Hono();
    const platform = {
      config: {
        get trustProxy() {
          return trust;
        },
      },
    } as unknown as Platform;
    app.get("/ip", (c) => c.json({ ip: clientIp(c, platform) }));
    server = await listen(app.fetch);
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => close(server));

  const ipWith = async (t: TrustProxy, opts: { from?: string; xff?: string }) => {
    trust = t;
    return (await get(port, "/ip", opts)).body.ip;
  };

  it("trusts no header by default: the socket's peer is the client", async () => {
    expect(await ipWith(false, { xff: "203.0.113.9" })).toBe("127.0.0.1");
    expect(await ipWith(parseTrustProxy(undefined), { from: "127.0.0.2", xff: "203.0.113.9" })).toBe("127.0.0.2");
  });

  it("with a hop count, takes the address that many hops from the right; a spoofed left-most entry is ignored", async () => {
    // The client sent "6.6.6.6" itself; our one proxy appended the address it saw (198.51.100.1).
    expect(await ipWith(1, { xff: "6.6.6.6, 198.51.100.1" })).toBe("198.51.100.1");
    expect(await ipWith(parseTrustProxy("true"), { xff: "6.6.6.6, 198.51.100.1" })).toBe("198.51.100.1");
    // Two proxies: the CDN appended the client, the load balancer appended the CDN.
    expect(await ipWith(2, { xff: "6.6.6.6, 198.51.100.1, 10.0.0.7" })).toBe("198.51.100.1");
    // No header (a request that did not come through the proxy): the peer itself.
    expect(await ipWith(1, {})).toBe("127.0.0.1");
  });

  it("with a CIDR list, walks from the right past trusted proxies only", async () => {
    const trusted = parseTrustProxy("127.0.0.1, 10.0.0.0/8");
    expect(trusted).toEqual(["127.0.0.1", "10.0.0.0/8"]);
    expect(await ipWith(trusted, { xff: "6.6.6.6, 198.51.100.1, 10.1.2.3" })).toBe("198.51.100.1");
    // Every entry is a trusted proxy: the left-most is what the first proxy saw.
    expect(await ipWith(trusted, { xff: "10.9.9.9, 10.1.2.3" })).toBe("10.9.9.9");
    // A peer outside the list is the client: whatever header it sends is not read.
    expect(await ipWith(trusted, { from: "127.0.0.2", xff: "198.51.100.1" })).toBe("127.0.0.2");
    expect(await ipWith(parseTrustProxy("loopback"), { from: "127.0.0.2", xff: "6.6.6.6, 198.51.100.1" })).toBe(
      "198.51.100.1",
    );
    // An IPv4-mapped entry is one spelling of the address.
    expect(await ipWith(trusted, { xff: "::ffff:198.51.100.1" })).toBe("198.51.100.1");
    // Garbage a (misconfigured) proxy passed on is not an address: fall back to the peer.
    expect(await ipWith(trusted, { xff: "not-an-ip" })).toBe("127.0.0.1");
  });

  it("reads BOSUN_TRUST_PROXY as none, hops or a list, refusing a malformed one at start", () => {
    for (const v of [undefined, "", "false", "0", "off"]) expect(parseTrustProxy(v), String(v)).toBe(false);
    expect(parseTrustProxy("yes")).toBe(1);
    expect(parseTrustProxy("3")).toBe(3);
    expect(parseTrustProxy("loopback, fd00::/8")).toEqual(["loopback", "fd00::/8"]);
    expect(() => parseTrustProxy("10.0.0.0/99")).toThrow(/BOSUN_TRUST_PROXY/);
    expect(() => parseTrustProxy("proxy.example.com")).toThrow(/BOSUN_TRUST_PROXY/);
  });
});

describe("the login limit behind a proxy", () => {
  let t: TestPlatform;
  let server: ServerType;
  let port: number;
  beforeAll(async () => {
    t = await startTestPlatform({ config: { authRateLimitPerMinute: 2, trustProxy: ["127.0.0.1"] } });
    server = await listen(t.app.fetch);
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await close(server);
    await t?.close();
  });

  it("cannot be dodged by writing a new left-most X-Forwarded-For on each try", async () => {
    const body = JSON.stringify({ email: "victim@example.test", password: "a wrong guess" });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      // The proxy at 127.0.0.1 appends the real client (198.51.100.50); the client prepends a new lie each time.
      const res = await get(port, "/v1/auth/login", { method: "POST", body, xff: `203.0.113.${i}, 198.51.100.50` });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    const audit = await t.platform.db
      .selectFrom("audit_events")
      .select("client_ip")
      .where("operation", "=", "login")
      .execute();
    expect(new Set(audit.map((a) => a.client_ip))).toEqual(new Set(["198.51.100.50"]));
  });
});
