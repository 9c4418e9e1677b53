// The serving cache: a cached site follows publish, rollback and delete at once (through the notifier), not
// when its entry ages out — and another tenant cannot make it forget anything it is not allowed to change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { SiteServer } from "./serving.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

async function served(server: SiteServer, slug: string) {
  const site = await server.site(slug);
  if (!site?.liveRelease) return site ? "unpublished" : "no site";
  const found = await server.resolve(site, { kind: "live", release: site.liveRelease }, "/", "");
  if (found.kind !== "file") return found.kind;
  return Buffer.from((await server.blobs.get(t.platform.db, found.entry.sha256)) ?? []).toString("utf8");
}

describe("the serving cache", () => {
  it("serves a publish, a rollback and a delete at once, with the site cached in between", async () => {
    const user = await t.account();
    const token = await user.token(["*"]);
    const api = (method: string, path: string, body?: unknown) => t.request(method, `/v1${path}`, { token, body });
    expect((await api("POST", "/projects", { slug: "cache-site", name: "c", kind: "site" })).status).toBe(201);
    const server = new SiteServer(t.platform);
    const write = (content: string) =>
      api("PUT", "/projects/cache-site/files", { path: "index.html", content }).then((r) => expect(r.status).toBe(200));

    expect(await served(server, "cache-site")).toBe("unpublished");
    await write("v1");
    expect((await api("POST", "/projects/cache-site/releases", {})).status).toBe(201);
    expect(await served(server, "cache-site")).toBe("v1");
    await write("v2");
    expect((await api("POST", "/projects/cache-site/releases", {})).status).toBe(201);
    expect(await served(server, "cache-site")).toBe("v2");
    expect((await api("POST", "/projects/cache-site/rollback", { release: 1 })).status).toBe(200);
    expect(await served(server, "cache-site")).toBe("v1");

    // Another account cannot delete it (404, nothing forgotten); its owner can, and it stops serving at once.
    const other = await (await t.account()).token(["*"]);
    expect((await t.request("DELETE", "/v1/projects/cache-site", { token: other })).status).toBe(404);
    expect(await served(server, "cache-site")).toBe("v1");
    expect((await api("DELETE", "/projects/cache-site")).status).toBe(200);
    expect(await served(server, "cache-site")).toBe("no site");
  });
});
