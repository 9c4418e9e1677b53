// End to end over real HTTP: a site is written, previewed, published, served by the sites listener on its
// own port (content, types, ETag/304, redirects, headers, 404 page, SPA, password), edited, published again
// and rolled back — through REST, and through MCP.
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPreview, signPreview } from "../core/sites/releases.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";
import { dbSnapshot } from "../testkit/operation-inputs.ts";
import { PNG_1X1 } from "../testkit/sites.ts";
import { createSitesApp } from "./app.ts";

let t: TestPlatform;
let token: string;
let server: ServerType;
let origin: string;

beforeAll(async () => {
  t = await startTestPlatform();
  const user = await t.account();
  token = await user.token(["*"]);
  const app = createSitesApp(t.platform);
  origin = await new Promise<string>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
  t.platform.config.sitesUrl = origin;
  // These tests exercise path mode (`/s/{slug}/`); each site on its own origin (the default) is in
  // sites-origin.test.ts.
  t.platform.config.sitesPathMode = true;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.close();
});

const api = (method: string, path: string, body?: unknown) => t.request(method, `/v1${path}`, { token, body });
const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${origin}${path}`, { headers, redirect: "manual" });

async function site(slug: string) {
  expect((await api("POST", "/projects", { slug, name: slug, kind: "site" })).status).toBe(201);
}

describe("a site, end to end over REST", () => {
  it("previews the draft, publishes, serves, republishes and rolls back", async () => {
    await site("e2e-site");
    const p = "/projects/e2e-site";
    expect(
      (
        await api("POST", `${p}/pages`, {
          slug: "Index",
          title: "Home",
          content: '<nav><a href="about.html">About</a></nav><h1>Welcome v1</h1>',
        })
      ).status,
    ).toBe(201);
    expect(
      (await api("POST", `${p}/pages`, { slug: "About Us!", title: "About", content: "<p>About us</p>" })).body.slug,
    ).toBe("about-us");
    expect(
      (await api("POST", `${p}/pages`, { slug: "missing", title: "Lost", content: "<p>Nothing here</p>" })).status,
    ).toBe(201);
    expect(
      (await api("PUT", `${p}/files`, { path: "img/dot.png", content: PNG_1X1.toString("base64"), encoding: "base64" }))
        .status,
    ).toBe(200);
    expect((await api("PUT", `${p}/files`, { path: "css/site.css", content: "body{color:red}" })).status).toBe(200);
    const settings = await api("PATCH", `${p}/settings`, {
      settings: {
        not_found_path: "missing.html",
        redirects: [
          { from: "/old", to: "/about-us", status: 301 },
          { from: "/ext", to: "https://example.com/", status: 302 },
        ],
        headers: [{ path: "/*", name: "X-Frame-Options", value: "DENY" }],
      },
    });
    expect(settings.body.updated).toEqual(["not_found_path", "redirects", "headers"]);

    // Nothing is live yet; the preview shows the draft.
    expect((await get("/s/e2e-site/")).status).toBe(404);
    const preview = await api("POST", `${p}/preview-links`, { expires_in_minutes: 5 });
    expect(preview.status).toBe(201);
    expect(preview.body.url.startsWith(`${origin}/s/e2e-site/_preview/`)).toBe(true);
    const previewed = await fetch(preview.body.url);
    expect(previewed.status).toBe(200);
    expect(await previewed.text()).toContain("Welcome v1");
    expect(previewed.headers.get("x-robots-tag")).toBe("noindex");
    const forged = preview.body.url.replace(/\.[\w-]{43}\/$/, `.${"A".repeat(43)}/`);
    expect((await fetch(forged)).status).toBe(403);

    const first = await api("POST", `${p}/releases`);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ release: 1, files: 5, files_changed: 5 });
    const again = await api("POST", `${p}/releases`);
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe("nothing_to_publish");

    const home = await get("/s/e2e-site/");
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(home.headers.get("x-frame-options")).toBe("DENY");
    expect(home.headers.get("x-content-type-options")).toBe("nosniff");
    const etag = home.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(await home.text()).toContain("Welcome v1");
    expect((await get("/s/e2e-site/", { "If-None-Match": etag })).status).toBe(304);
    expect((await get("/s/e2e-site")).headers.get("location")).toBe("/s/e2e-site/");
    // Root-relative links from a page under /s/{slug}/ find their way back into the site.
    const rootLink = await get("/about-us?x=1", { Referer: `${origin}/s/e2e-site/` });
    expect(rootLink.status).toBe(307);
    expect(rootLink.headers.get("location")).toBe("/s/e2e-site/about-us?x=1");
    expect((await get("/about-us", { Referer: "https://elsewhere.test/s/e2e-site/" })).status).toBe(404);
    expect((await get("/s/e2e-site/about-us")).status).toBe(200);
    expect((await get("/s/e2e-site/about-us.html")).status).toBe(200);
    const png = await get("/s/e2e-site/img/dot.png");
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await png.arrayBuffer())).toEqual(PNG_1X1);
    expect((await get("/s/e2e-site/css/site.css")).headers.get("content-type")).toBe("text/css; charset=utf-8");
    const moved = await get("/s/e2e-site/old");
    expect(moved.status).toBe(301);
    expect(moved.headers.get("location")).toBe("/s/e2e-site/about-us");
    expect((await get("/s/e2e-site/ext")).headers.get("location")).toBe("https://example.com/");
    const lost = await get("/s/e2e-site/nope");
    expect(lost.status).toBe(404);
    expect(await lost.text()).toContain("Nothing here");
    expect((await get("/s/e2e-site/%2e%2e/%2e%2e/etc/passwd")).status).toBe(404);
    expect((await get("/s/e2e-site/%E0%A4%A")).status).toBe(400);
    expect((await fetch(`${origin}/s/e2e-site/`, { method: "POST" })).status).toBe(405);

    // Edit, publish again, roll back.
    expect(
      (await api("POST", `${p}/files/edit`, { path: "index.html", old_str: "Welcome v1", new_str: "Welcome v2" }))
        .status,
    ).toBe(200);
    expect((await get("/s/e2e-site/")).status).toBe(200);
    expect(await (await get("/s/e2e-site/")).text()).toContain("Welcome v1"); // drafts are not live
    const diff = await api("GET", `${p}/draft/diff`);
    expect(diff.body).toMatchObject({ live_release: 1, added: [], modified: ["index.html"], deleted: [] });
    const second = await api("POST", `${p}/releases`);
    expect(second.body).toMatchObject({ release: 2, files: 5, files_changed: 1 });
    const v2 = await get("/s/e2e-site/", { "If-None-Match": etag });
    expect(v2.status).toBe(200);
    expect(await v2.text()).toContain("Welcome v2");

    const rolled = await api("POST", `${p}/rollback`, { release: 1 });
    expect(rolled.body).toEqual({ live_release: 1, previous_live_release: 2 });
    expect(await (await get("/s/e2e-site/")).text()).toContain("Welcome v1");
    const releases = await api("GET", `${p}/releases`);
    expect(releases.body.releases.map((r: { release: number; live: boolean }) => [r.release, r.live])).toEqual([
      [2, false],
      [1, true],
    ]);
    // The draft still holds v2; publishing it makes release 3.
    expect((await api("GET", `${p}/files/content?path=index.html`)).body.content).toContain("Welcome v2");
    expect((await api("POST", `${p}/releases`)).body).toMatchObject({ release: 3, files_changed: 0 });
    expect(await (await get("/s/e2e-site/")).text()).toContain("Welcome v2");

    // Discard returns the draft to the live release.
    await api("PUT", `${p}/files`, { path: "scratch.txt", content: "x" });
    await api("DELETE", `${p}/files?path=css/site.css`);
    const discarded = await api("POST", `${p}/draft/discard`);
    expect(discarded.body).toMatchObject({ added: ["scratch.txt"], deleted: ["css/site.css"] });
    expect((await api("GET", `${p}/draft/diff`)).body.changed).toBe(false);
    expect((await api("POST", `${p}/releases`)).status).toBe(422);
  });

  it("serves an SPA fallback and protects a site with a password", async () => {
    await site("spa-site");
    const p = "/projects/spa-site";
    await api("PUT", `${p}/files`, { path: "index.html", content: "<div id=app>spa</div>" });
    await api("PATCH", `${p}/settings`, { settings: { spa_fallback: true } });
    await api("POST", `${p}/releases`);
    const deep = await get("/s/spa-site/some/client/route");
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain("spa");
    expect((await get("/s/spa-site/missing.js")).status).toBe(404);

    const set = await api("PATCH", `${p}/settings`, { settings: { password: "correct horse" } });
    expect(set.body.settings.password_protected).toBe(true);
    expect(set.body.unpublished).toEqual(["password"]);
    const stored = await t.platform.db
      .selectFrom("sites")
      .select(["password_hash", "settings"])
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(stored)).not.toContain("correct horse");
    // A draft setting: the live site is open until the password is published.
    expect((await get("/s/spa-site/")).status).toBe(200);
    expect((await api("POST", `${p}/releases`)).body).toMatchObject({ files_changed: 0, settings_changed: true });
    const locked = await get("/s/spa-site/");
    expect(locked.status).toBe(401);
    expect(await locked.text()).toContain('type="password"');
    const wrong = await fetch(`${origin}/s/spa-site/_auth`, {
      method: "POST",
      body: new URLSearchParams({ password: "nope" }),
      redirect: "manual",
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${origin}/s/spa-site/_auth`, {
      method: "POST",
      body: new URLSearchParams({ password: "correct horse" }),
      redirect: "manual",
    });
    expect(right.status).toBe(303);
    const cookie = right.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Path=\/s\/spa-site/);
    const open = await get("/s/spa-site/", { Cookie: cookie.split(";")[0]! });
    expect(open.status).toBe(200);
    expect(open.headers.get("cache-control")).toContain("private");
    expect((await get("/s/spa-site/", { Cookie: cookie.split(";")[0]!.replace(/=.*/, "=forged") })).status).toBe(401);
    // A new password logs everyone out.
    await api("PATCH", `${p}/settings`, { settings: { password: "another secret" } });
    await api("POST", `${p}/releases`);
    expect((await get("/s/spa-site/", { Cookie: cookie.split(";")[0]! })).status).toBe(401);
    await api("PATCH", `${p}/settings`, { settings: { password: null } });
    expect((await get("/s/spa-site/")).status).toBe(401);
    await api("POST", `${p}/releases`);
    expect((await get("/s/spa-site/")).status).toBe(200);
    // Rolling back restores the release's settings with its files: the password is back.
    const releases = (await api("GET", `${p}/releases`)).body.releases as { release: number }[];
    expect((await api("POST", `${p}/rollback`, { release: releases[1]!.release })).status).toBe(200);
    expect((await get("/s/spa-site/")).status).toBe(401);
  });

  it("answers unknown sites, instance projects and other paths with 404", async () => {
    expect((await get("/s/no-such-site/")).status).toBe(404);
    expect((await get("/v1/projects")).status).toBe(404);
    expect((await api("POST", "/projects", { slug: "e2e-vm", name: "vm", kind: "instance" })).status).toBe(201);
    expect((await get("/s/e2e-vm/")).status).toBe(404);
  });
});

describe("a site, end to end over MCP", () => {
  it("writes, publishes, edits and rolls back through tools", async () => {
    await site("mcp-site");
    const client = await connectMcp(t.app, token, "project=mcp-site");
    const call = async (name: string, args: Record<string, unknown>) => {
      const res = await client.callTool({ name, arguments: args });
      expect(res.isError, `${name}: ${JSON.stringify(res.content)}`).toBeFalsy();
      return res.structuredContent as Record<string, any>;
    };
    await call("create_page", { slug: "index", title: "MCP", content: "<h1>one</h1>" });
    expect((await call("publish_site", {})).release).toBe(1);
    expect(await (await get("/s/mcp-site/")).text()).toContain("<h1>one</h1>");
    await call("edit_file", { path: "index.html", old_str: "<h1>one</h1>", new_str: "<h1>two</h1>" });
    await call("publish_site", {});
    expect(await (await get("/s/mcp-site/")).text()).toContain("<h1>two</h1>");
    await call("rollback_site", { release: 1 });
    expect(await (await get("/s/mcp-site/")).text()).toContain("<h1>one</h1>");
    const bad = await client.callTool({ name: "write_file", arguments: { path: "../x.html", content: "x" } });
    expect(bad.isError).toBe(true);
    await client.close();
  });
});

describe("serving: bad input", () => {
  it("refuses a rollback to a missing release and a publish of an untouched site, changing nothing", async () => {
    await site("empty-site");
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    expect((await api("POST", "/projects/empty-site/releases")).body.error.code).toBe("nothing_to_publish");
    expect((await api("POST", "/projects/empty-site/rollback", { release: 7 })).status).toBe(404);
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });
});

describe("serving: origins, hosts and previews", () => {
  it("serves {slug}.{BOSUN_SITES_DOMAIN} by Host, and never serves sites on the API origin", async () => {
    await site("host-site");
    await api("PUT", "/projects/host-site/files", { path: "index.html", content: "<p>by host</p>" });
    await api("POST", "/projects/host-site/releases");
    t.platform.config.sitesDomain = "sites.test";
    try {
      const app = createSitesApp(t.platform);
      const res = await app.request("http://host-site.sites.test/");
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("by host");
      expect(
        (await app.request("http://host-site.sites.test/", { method: "HEAD" })).headers.get("content-length"),
      ).toBe("14");
      expect((await app.request("http://nope.sites.test/")).status).toBe(404);
      expect((await app.request("http://a.b.sites.test/")).status).toBe(404);
    } finally {
      t.platform.config.sitesDomain = undefined;
    }
    expect((await t.app.request("/s/host-site/")).status).toBe(404);
  });

  it("checks preview signatures: expired, for another project, or tampered tokens are refused", () => {
    const now = Date.now();
    const exp = Math.floor(now / 1000) + 60;
    const token = signPreview(t.platform, "project-a", exp);
    expect(checkPreview(t.platform, "project-a", token, now)).toBe(true);
    expect(checkPreview(t.platform, "project-a", token, now + 61_000)).toBe(false);
    expect(checkPreview(t.platform, "project-b", token, now)).toBe(false);
    expect(checkPreview(t.platform, "project-a", token.replace(/^\d+/, String(exp + 3600)), now)).toBe(false);
    expect(checkPreview(t.platform, "project-a", "garbage", now)).toBe(false);
  });
});
