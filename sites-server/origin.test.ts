// Each site on its own origin (the default): `{slug}.localhost:{port}` by Host header over real HTTP, the
// password cookie bound to that one origin, `/s/{slug}/` only as a redirect to the site's own origin, and
// every link an operation hands out pointing there.
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../core/config.ts";
import type { Platform } from "../core/platform.ts";
import { siteFromHost, siteUrl } from "../core/sites/origin.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { siteFetch } from "../testkit/site-fetch.ts";
import { createSitesApp } from "./app.ts";

let t: TestPlatform;
let token: string;
let server: ServerType;
let port: number;

const api = (method: string, path: string, body?: unknown) => t.request(method, `/v1${path}`, { token, body });
const at = (slug: string, path = "/") => `http://${slug}.localhost:${port}${path}`;

beforeAll(async () => {
  t = await startTestPlatform();
  expect(t.platform.config.sitesPathMode).toBe(false);
  token = await (await t.account()).token(["*"]);
  port = await new Promise<number>((resolve) => {
    server = serve({ fetch: createSitesApp(t.platform).fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve(info.port),
    );
  });
  t.platform.config.sitesUrl = `http://127.0.0.1:${port}`;
  for (const slug of ["site-a", "site-b"]) {
    expect((await api("POST", "/projects", { slug, name: slug, kind: "site" })).status).toBe(201);
    await api("POST", `/projects/${slug}/pages`, { slug: "index", title: slug, content: `<h1>home of ${slug}</h1>` });
    await api("POST", `/projects/${slug}/pages`, { slug: "about", title: "About", content: `<p>about ${slug}</p>` });
    await api("PATCH", `/projects/${slug}/settings`, {
      settings: { password: "one shared password", redirects: [{ from: "/old", to: "/about" }] },
    });
    expect((await api("POST", `/projects/${slug}/releases`)).status).toBe(201);
  }
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.close();
});

async function unlock(slug: string): Promise<string> {
  const res = await siteFetch(at(slug, "/_auth"), {
    method: "POST",
    body: new URLSearchParams({ password: "one shared password" }),
  });
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/");
  return res.headers.get("set-cookie")!;
}

describe("each site on its own origin", () => {
  it("serves a site by its Host header, and nothing on the bare listener or a deeper name", async () => {
    const cookie = (await unlock("site-a")).split(";")[0]!;
    const home = await siteFetch(at("site-a"), { headers: { Cookie: cookie } });
    expect(home.status).toBe(200);
    expect(home.text).toContain("home of site-a");
    const moved = await siteFetch(at("site-a", "/old"), { headers: { Cookie: cookie } });
    expect([moved.status, moved.headers.get("location")]).toEqual([301, "/about"]);
    expect((await siteFetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await siteFetch(`http://x.site-a.localhost:${port}/`)).status).toBe(404);
    expect((await siteFetch(at("no-such-site"))).status).toBe(404);
  });

  it("moves an old /s/{slug}/ address to the site's own origin instead of serving it on a shared one", async () => {
    const res = await siteFetch(`http://127.0.0.1:${port}/s/site-a/about?x=1`);
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe(at("site-a", "/about?x=1"));
    expect(res.text).not.toContain("about site-a");
  });

  it("binds the password cookie to the one site's origin: host-only, Path=/, refused by another site", async () => {
    const setCookie = await unlock("site-a");
    expect(setCookie).toMatch(/; Path=\/;/);
    expect(setCookie).not.toMatch(/domain=/i);
    expect(setCookie).toMatch(/HttpOnly/);
    const [pair] = setCookie.split(";");
    const value = pair!.split("=")[1]!;
    // Even sent on purpose (same password, the other site's cookie name), site-a's cookie does not open site-b.
    expect((await siteFetch(at("site-b"), { headers: { Cookie: `bosun_site_site_b=${value}; ${pair}` } })).status).toBe(
      401,
    );
    expect((await siteFetch(at("site-a"), { headers: { Cookie: pair! } })).status).toBe(200);
  });

  it("hands out links on the site's own origin: previews and published page URLs", async () => {
    const preview = await api("POST", "/projects/site-b/preview-links", { expires_in_minutes: 5 });
    expect(preview.body.url.startsWith(`${at("site-b", "/_preview/")}`)).toBe(true);
    const shown = await siteFetch(preview.body.url);
    expect(shown.status).toBe(200);
    expect(shown.text).toContain("home of site-b");
    // The password gate of a protected site hides its public pages; an open site lists its URLs.
    await api("PATCH", "/projects/site-b/settings", { settings: { password: null } });
    await api("POST", "/projects/site-b/releases");
    const pages = await t.request("GET", "/v1/sites/site-b/pages");
    expect(pages.status).toBe(200);
    expect(pages.body.pages.map((p: { url: string }) => p.url).sort()).toEqual([
      at("site-b", "/"),
      at("site-b", "/about.html"),
    ]);
  });
});

describe("site URLs and host names", () => {
  const platformWith = (env: Record<string, string>) =>
    ({ config: loadConfig({ ...env, BOSUN_DATA_DIR: "/tmp/x" }) }) as unknown as Platform;
  it("builds the site's base URL from the mode, domain and sites URL", () => {
    expect(siteUrl(platformWith({}), "shop")).toBe("http://shop.localhost:8788");
    expect(siteUrl(platformWith({ BOSUN_SITES_PORT: "9000" }), "shop")).toBe("http://shop.localhost:9000");
    expect(
      siteUrl(
        platformWith({ BOSUN_SITES_DOMAIN: "sites.example.com", BOSUN_SITES_URL: "https://sites.example.com" }),
        "shop",
      ),
    ).toBe("https://shop.sites.example.com");
    expect(
      siteUrl(platformWith({ BOSUN_SITES_PATH_MODE: "1", BOSUN_SITES_URL: "http://127.0.0.1:8788" }), "shop"),
    ).toBe("http://127.0.0.1:8788/s/shop");
  });
  it("reads the site from a Host header: one label under the domain or localhost", () => {
    const config = loadConfig({ BOSUN_SITES_DOMAIN: "sites.example.com" });
    expect(siteFromHost(config, "shop.sites.example.com")).toBe("shop");
    expect(siteFromHost(config, "Shop.Sites.Example.com:443")).toBe("shop");
    expect(siteFromHost(config, "shop.localhost:8788")).toBe("shop");
    expect(siteFromHost(config, "a.shop.sites.example.com")).toBeNull();
    expect(siteFromHost(config, "sites.example.com")).toBeNull();
    expect(siteFromHost(config, "shop.example.com")).toBeNull();
    expect(siteFromHost(config, "-x.localhost")).toBeNull();
    expect(siteFromHost(config, undefined)).toBeNull();
  });
});
