// The whole custom-domain flow against a real ACME server: add_domain, DNS records in a test DNS server,
// verify_domain, the site served by Host, a certificate issued by pebble through the job queue (HTTP-01
// answered by the sites listener), the HTTPS listener choosing it by SNI, verified by a TLS client that
// trusts only pebble's root; then a renewal, and removal.
import type { Server } from "node:http";
import https from "node:https";
import tls from "node:tls";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CertificateWorker, scheduleRenewals, startCertificateWorker } from "../core/sites/certificates.ts";
import { startTestDns, type TestDns } from "../testkit/dns.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { type Pebble, pebbleMissing, startPebble } from "../testkit/pebble.ts";
import { siteFetch } from "../testkit/site-fetch.ts";
import { createSitesApp } from "./app.ts";
import { serveSitesHttps } from "./tls.ts";

const missing = pebbleMissing();
if (missing) console.warn(`skipping the ACME flow: ${missing}`);

const DOMAIN = "shop.example.com";

describe.skipIf(missing !== null)("custom domain with a certificate from pebble", () => {
  let t: TestPlatform;
  let dns: TestDns;
  let pebble: Pebble;
  let http: ServerType;
  let httpsServer: Server;
  let httpPort: number;
  let httpsPort: number;
  let worker: CertificateWorker | undefined;
  let token: string;
  const api = (method: string, path: string, body?: unknown) => t.request(method, `/v1${path}`, { token, body });

  beforeAll(async () => {
    dns = await startTestDns();
    // The sites listener first: pebble must be told its port for HTTP-01.
    t = await startTestPlatform({ config: { dnsServers: [dns.address], sitesHttpsPort: 0 } });
    const app = createSitesApp(t.platform);
    httpPort = await new Promise<number>((resolve) => {
      http = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve(info.port));
    });
    pebble = await startPebble({ httpPort, dnsServer: dns.address });
    t.platform.config.acme = { directoryUrl: pebble.directoryUrl, email: "ops@example.com", caFile: pebble.caFile };
    httpsPort = await new Promise<number>((resolve) => {
      httpsServer = serveSitesHttps(t.platform, app, { port: 0, hostname: "127.0.0.1", onListen: resolve });
    });
    token = await (await t.account()).token(["*"]);
    expect((await api("POST", "/projects", { slug: "shop", name: "Shop", kind: "site" })).status).toBe(201);
    await api("POST", "/projects/shop/pages", { slug: "index", title: "Shop", content: "<h1>the shop</h1>" });
    expect((await api("POST", "/projects/shop/releases")).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await worker?.stop();
    await new Promise((r) => http?.close(r));
    await new Promise((r) => httpsServer?.close(r));
    await pebble?.close();
    await dns?.close();
    await t?.close();
  });

  /** A TLS handshake to the HTTPS listener for `servername`, trusting only `ca`; answers the peer certificate. */
  const handshake = (servername: string, ca: string) =>
    new Promise<tls.PeerCertificate>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port: httpsPort, servername, ca, timeout: 5000 }, () => {
        const cert = socket.getPeerCertificate();
        socket.end();
        resolve(cert);
      });
      socket.on("error", reject);
      socket.on("timeout", () => socket.destroy(new Error("TLS timeout")));
    });

  const httpsGet = (servername: string, ca: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.get(
        { host: "127.0.0.1", port: httpsPort, servername, ca, headers: { Host: servername }, path: "/", timeout: 5000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("error", reject);
      req.on("timeout", () => req.destroy(new Error("HTTPS timeout")));
    });

  async function waitForCertificate(different?: string | null) {
    for (let i = 0; i < 150; i++) {
      const d = (await api("GET", `/projects/shop/domains/${DOMAIN}`)).body;
      if (d.certificate.status === "issued" && d.certificate.expires_at !== different) return d;
      if (d.certificate.status === "failed") throw new Error(`issuance failed: ${d.certificate.error}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("no certificate within 30 s");
  }

  it("verifies the domain, serves it by Host, and gets a certificate that a client trusting pebble's root accepts", async () => {
    const added = await api("POST", "/projects/shop/domains", { domain: DOMAIN });
    expect(added.status).toBe(201);
    const txt = added.body.records.find((r: { type: string }) => r.type === "TXT");
    expect(txt.name).toBe(`_bosun-challenge.${DOMAIN}`);
    const cname = added.body.records.find((r: { type: string }) => r.type === "CNAME");
    expect(cname).toEqual({ type: "CNAME", name: DOMAIN, value: "shop.localhost" });

    // Not served before it is verified.
    expect((await siteFetch(`http://${DOMAIN}:${httpPort}/`)).status).toBe(404);

    dns.set(DOMAIN, { A: ["127.0.0.1"], CNAME: "shop.localhost" });
    dns.set(`_bosun-challenge.${DOMAIN}`, { TXT: [txt.value] });
    const verified = await api("POST", `/projects/shop/domains/${DOMAIN}/verify`);
    expect(verified.status).toBe(200);
    expect(verified.body.status).toBe("verified");
    expect(verified.body.certificate.status).toBe("pending");

    const page = await siteFetch(`http://${DOMAIN}:${httpPort}/`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("the shop");

    worker = startCertificateWorker(t.platform, { pollMs: 100 });
    const issued = await waitForCertificate();
    expect(new Date(issued.certificate.expires_at).getTime()).toBeGreaterThan(Date.now());
    // The challenge answers are gone once the order is done.
    expect(await t.platform.db.selectFrom("acme_challenges").selectAll().execute()).toEqual([]);

    const root = await pebble.rootPem();
    const peer = await handshake(DOMAIN, root);
    expect(peer.subjectaltname).toContain(`DNS:${DOMAIN}`);
    const res = await httpsGet(DOMAIN, root);
    expect(res.status).toBe(200);
    expect(res.body).toContain("the shop");

    // Stored sealed: the key is not in the row as PEM.
    const row = await t.platform.db
      .selectFrom("site_domains")
      .select(["cert_key_enc"])
      .where("domain", "=", DOMAIN)
      .executeTakeFirstOrThrow();
    expect(row.cert_key_enc).toMatch(/^v1:/);
    expect(row.cert_key_enc).not.toContain("PRIVATE KEY");
    const keys = await t.platform.db.selectFrom("acme_accounts").select("key_enc").execute();
    expect(keys.length).toBe(1);
    expect(keys[0]!.key_enc).not.toContain("PRIVATE KEY");

    // The answer never carries the certificate's key.
    expect(JSON.stringify(issued)).not.toContain("PRIVATE KEY");
  }, 60_000);

  it("a name without a certificate gets no TLS handshake, and a client not trusting pebble refuses the site", async () => {
    const root = await pebble.rootPem();
    await expect(handshake("other.example.com", root)).rejects.toThrow();
    await expect(handshake(DOMAIN, tls.rootCertificates.join("\n"))).rejects.toThrow(/certificate/i);
  });

  it("renews a certificate that is due, and the HTTPS listener presents the new one", async () => {
    const before = (await api("GET", `/projects/shop/domains/${DOMAIN}`)).body.certificate.expires_at as string;
    const root = await pebble.rootPem();
    const oldSerial = (await handshake(DOMAIN, root)).serialNumber;
    // Nothing is due now; 10 days before expiry, this one is.
    expect(await scheduleRenewals(t.platform)).toBe(0);
    expect(await scheduleRenewals(t.platform, new Date(new Date(before).getTime() - 10 * 86_400_000))).toBe(1);
    for (let i = 0; i < 150; i++) {
      const serial = (await handshake(DOMAIN, root)).serialNumber;
      if (serial !== oldSerial) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the renewed certificate was not served within 30 s");
  }, 60_000);

  it("records a failed issuance on the domain (the ACME server could not reach it) and keeps no certificate", async () => {
    const name = "unreachable.example.com";
    const added = await api("POST", "/projects/shop/domains", { domain: name });
    dns.set(`_bosun-challenge.${name}`, { TXT: [added.body.records[1].value] });
    dns.set(name, { CNAME: "shop.localhost" });
    expect((await api("POST", `/projects/shop/domains/${name}/verify`)).status).toBe(200);
    // No A record: pebble cannot resolve the name to check the HTTP-01 answer.
    for (let i = 0; i < 150; i++) {
      const d = (await api("GET", `/projects/shop/domains/${name}`)).body;
      if (d.certificate.status === "failed") {
        expect(d.certificate.error).toBeTruthy();
        expect(d.certificate.expires_at).toBeNull();
        await expect(handshake(name, await pebble.rootPem())).rejects.toThrow();
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the failure was not recorded within 30 s");
  }, 60_000);

  it("remove_domain stops serving it on both listeners", async () => {
    expect((await api("DELETE", `/projects/shop/domains/${DOMAIN}`)).status).toBe(200);
    expect((await siteFetch(`http://${DOMAIN}:${httpPort}/`)).status).toBe(404);
    await expect(handshake(DOMAIN, await pebble.rootPem())).rejects.toThrow();
  });
});
