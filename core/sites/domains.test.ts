import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDns, type TestDns } from "../../testkit/dns.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
let dns: TestDns;
let owner: string;
let stranger: string;

const as = (token: string) => (method: string, path: string, body?: unknown) =>
  t.request(method, `/v1${path}`, { token, body });

beforeAll(async () => {
  dns = await startTestDns();
  // No HTTPS port: domains are verified and served over HTTP, and no certificate is requested.
  t = await startTestPlatform({ config: { dnsServers: [dns.address] } });
  owner = await (await t.account()).token(["*"]);
  stranger = await (await t.account()).token(["*"]);
  expect((await as(owner)("POST", "/projects", { slug: "mine", name: "Mine", kind: "site" })).status).toBe(201);
  expect((await as(stranger)("POST", "/projects", { slug: "theirs", name: "Theirs", kind: "site" })).status).toBe(201);
});
afterAll(async () => {
  await dns?.close();
  await t?.close();
});

describe("add_domain", () => {
  it("answers the CNAME and TXT records to create; list_domains and get_domain show the domain", async () => {
    const res = await as(owner)("POST", "/projects/mine/domains", { domain: "WWW.Example.ORG." });
    expect(res.status).toBe(201);
    expect(res.body.domain).toBe("www.example.org");
    expect(res.body.status).toBe("pending");
    expect(res.body.records[0]).toEqual({ type: "CNAME", name: "www.example.org", value: "mine.localhost" });
    expect(res.body.records[1].type).toBe("TXT");
    expect(res.body.records[1].name).toBe("_bosun-challenge.www.example.org");
    expect(res.body.records[1].value).toMatch(/^bosun-verify=[\w-]{32}$/);
    expect(res.body.certificate).toEqual({ status: "none", expires_at: null, error: null });

    const got = await as(owner)("GET", "/projects/mine/domains/www.example.org");
    expect(got.status).toBe(200);
    expect(got.body.records).toEqual(res.body.records);
    const list = await as(owner)("GET", "/projects/mine/domains");
    expect(list.body.domains.map((d: { domain: string }) => d.domain)).toEqual(["www.example.org"]);
  });

  it("turns an internationalised name into its ASCII form", async () => {
    const res = await as(owner)("POST", "/projects/mine/domains", { domain: "bücher.example" });
    expect(res.status).toBe(201);
    expect(res.body.domain).toBe("xn--bcher-kva.example");
  });

  it("refuses what is not a domain name, naming the field", async () => {
    for (const domain of [
      "localhost",
      "127.0.0.1",
      "a..b.com",
      "-a.example.com",
      "a_b.example.com",
      "x.123",
      "a b.com",
    ]) {
      const res = await as(owner)("POST", "/projects/mine/domains", { domain });
      expect(res.status, domain).toBe(400);
      expect(res.body.error.issues[0].path).toBe("domain");
    }
  });

  it("refuses this server's own site hosts", async () => {
    const res = await as(owner)("POST", "/projects/mine/domains", { domain: "theirs.localhost" });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/own site hosts/);
  });

  it("a domain belongs to one site: another tenant gets 409 adding it and 404 reading it", async () => {
    await as(owner)("POST", "/projects/mine/domains", { domain: "taken.example.net" });
    const again = await as(stranger)("POST", "/projects/theirs/domains", { domain: "taken.example.net" });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    expect((await as(stranger)("GET", "/projects/theirs/domains/taken.example.net")).status).toBe(404);
    expect((await as(stranger)("POST", "/projects/theirs/domains/taken.example.net/verify")).status).toBe(404);
    expect((await as(stranger)("DELETE", "/projects/theirs/domains/taken.example.net")).status).toBe(404);
    expect((await as(stranger)("GET", "/projects/mine/domains")).status).toBe(404);
    expect((await as(stranger)("GET", "/projects/theirs/domains")).body.domains).toEqual([]);
    // The same site adding it twice is a conflict too.
    expect((await as(owner)("POST", "/projects/mine/domains", { domain: "taken.example.net" })).status).toBe(409);
  });

  it("an unverified claim left for a week yields to another site", async () => {
    await as(owner)("POST", "/projects/mine/domains", { domain: "squat.example.net" });
    await t.platform.db
      .updateTable("site_domains")
      .set({ created_at: new Date(Date.now() - 8 * 86_400_000) } as never)
      .where("domain", "=", "squat.example.net")
      .execute();
    expect((await as(stranger)("POST", "/projects/theirs/domains", { domain: "squat.example.net" })).status).toBe(201);
    expect((await as(owner)("GET", "/projects/mine/domains/squat.example.net")).status).toBe(404);
  });

  it("needs domains:write, and domains:read to read", async () => {
    const reader = await (await t.account()).token(["projects:write", "domains:read"]);
    await as(reader)("POST", "/projects", { slug: "reader-site", name: "r", kind: "site" });
    const res = await as(reader)("POST", "/projects/reader-site/domains", { domain: "r.example.com" });
    expect(res.status).toBe(403);
    expect(res.body.error.message).toContain("domains:write");
    expect((await as(reader)("GET", "/projects/reader-site/domains")).status).toBe(200);
    const writerOnly = await (await t.account()).token(["projects:write", "domains:write"]);
    await as(writerOnly)("POST", "/projects", { slug: "writer-site", name: "w", kind: "site" });
    const list = await as(writerOnly)("GET", "/projects/writer-site/domains");
    expect(list.status).toBe(403);
    expect(list.body.error.message).toContain("domains:read");
  });

  it("refuses an instance project, naming its kind", async () => {
    await as(owner)("POST", "/projects", { slug: "box", name: "Box", kind: "instance" });
    const res = await as(owner)("POST", "/projects/box/domains", { domain: "box.example.com" });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/instance, not a site/);
  });
});

describe("verify_domain", () => {
  it("fails clearly when the records are missing or wrong, and records what it found", async () => {
    const added = await as(owner)("POST", "/projects/mine/domains", { domain: "shop.example.com" });
    const res = await as(owner)("POST", "/projects/mine/domains/shop.example.com/verify");
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain("TXT _bosun-challenge.shop.example.com was not found");
    expect(res.body.error.message).toContain("CNAME shop.example.com → mine.localhost was not found");
    expect(res.body.error.missing).toHaveLength(2);

    // Someone else's token, and a CNAME to another site: still not verified, and said so.
    dns.set("_bosun-challenge.shop.example.com", { TXT: ["bosun-verify=someone-else"] });
    dns.set("shop.example.com", { CNAME: "theirs.localhost" });
    const wrong = await as(owner)("POST", "/projects/mine/domains/shop.example.com/verify");
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.message).toContain("does not hold this domain's token");
    expect(wrong.body.error.message).toContain("points at theirs.localhost, not mine.localhost");
    const got = await as(owner)("GET", "/projects/mine/domains/shop.example.com");
    expect(got.body.status).toBe("pending");
    expect(got.body.last_check_error).toContain("does not hold this domain's token");

    dns.set("_bosun-challenge.shop.example.com", { TXT: ["unrelated", added.body.records[1].value] });
    dns.set("shop.example.com", { CNAME: "mine.localhost." });
    const ok = await as(owner)("POST", "/projects/mine/domains/shop.example.com/verify");
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe("verified");
    expect(ok.body.last_check_error).toBeNull();
    // No HTTPS port configured: no certificate is asked for.
    expect(ok.body.certificate.status).toBe("none");
    expect(
      await t.platform.db.selectFrom("jobs").selectAll().where("queue", "=", "site_certificates").execute(),
    ).toEqual([]);
  });

  it("accepts an apex name whose addresses are the site host's (no CNAME possible there)", async () => {
    const added = await as(owner)("POST", "/projects/mine/domains", { domain: "example.shop" });
    dns.set("_bosun-challenge.example.shop", { TXT: [added.body.records[1].value] });
    dns.set("mine.localhost", { A: ["192.0.2.10"] });
    dns.set("example.shop", { A: ["192.0.2.99"] });
    const other = await as(owner)("POST", "/projects/mine/domains/example.shop/verify");
    expect(other.status).toBe(409);
    dns.set("example.shop", { A: ["192.0.2.10"] });
    expect((await as(owner)("POST", "/projects/mine/domains/example.shop/verify")).body.status).toBe("verified");
  });

  it("remove_domain detaches it; a second removal is 404", async () => {
    await as(owner)("POST", "/projects/mine/domains", { domain: "gone.example.com" });
    const res = await as(owner)("DELETE", "/projects/mine/domains/gone.example.com");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ removed: true, domain: "gone.example.com" });
    expect((await as(owner)("DELETE", "/projects/mine/domains/gone.example.com")).status).toBe(404);
  });

  it("list_domains pages the list", async () => {
    const first = await as(owner)("GET", "/projects/mine/domains?limit=2");
    expect(first.body.domains).toHaveLength(2);
    expect(first.body.next_cursor).toBeTruthy();
    const second = await as(owner)(
      "GET",
      `/projects/mine/domains?limit=200&cursor=${encodeURIComponent(first.body.next_cursor)}`,
    );
    const all = [...first.body.domains, ...second.body.domains].map((d: { domain: string }) => d.domain);
    expect(new Set(all).size).toBe(all.length);
    expect(all).toEqual([...all].sort());
  });
});
