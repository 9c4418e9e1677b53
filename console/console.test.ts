// The console over HTTP (in-process): sign-in into an HttpOnly SameSite=Strict cookie, every page rendering
// through operations, CSRF and Origin checks on every change, and the CSP on every response. The browser
// tests (console/browser-*.test.ts) drive the same pages in Chromium.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../testkit/harness.ts";
import { CONTACT_FORM } from "../testkit/sites.ts";

let t: TestPlatform;
let user: TestAccount;
const ORIGIN = "http://localhost";

async function signIn(account: TestAccount) {
  const res = await t.app.request("/console/sign-in", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN },
    body: new URLSearchParams({ email: account.email, password: account.password, next: "/console" }).toString(),
  });
  expect(res.status).toBe(303);
  const cookie = res.headers.get("set-cookie") ?? "";
  const page = await t.app.request("/console", { headers: { Cookie: cookie.split(";")[0]! } });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1] ?? "";
  return { setCookie: cookie, cookie: cookie.split(";")[0]!, csrf };
}

const post = (path: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.app.request(path, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie, Origin: ORIGIN, ...headers },
    body: new URLSearchParams(fields).toString(),
  });

beforeAll(async () => {
  t = await startTestPlatform();
  user = await t.account();
});
afterAll(() => t?.close());

describe("console sessions", () => {
  it("signs in with email and password into an HttpOnly, SameSite=Strict cookie and out again", async () => {
    const s = await signIn(user);
    expect(s.setCookie).toMatch(/HttpOnly/i);
    expect(s.setCookie).toMatch(/SameSite=Strict/i);
    expect(s.setCookie).not.toMatch(/Secure/i); // plain http here; https sets Secure
    expect(s.csrf).toMatch(/^[\w-]{40,}$/);
    const out = await post("/console/sign-out", s.cookie, { _csrf: s.csrf });
    expect(out.status).toBe(303);
    const after = await t.app.request("/console", { headers: { Cookie: s.cookie } });
    expect(after.status).toBe(303);
    expect(after.headers.get("location")).toMatch(/^\/console\/sign-in/);
  });

  it("over https the cookie is Secure too", async () => {
    const res = await t.app.request("https://console.example/console/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: "https://console.example" },
      body: new URLSearchParams({ email: user.email, password: user.password }).toString(),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/;\s*Secure/i);
  });

  it("refuses a wrong password with the sign-in form again, and a sign-in from another origin", async () => {
    const res = await t.app.request("/console/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN },
      body: new URLSearchParams({ email: user.email, password: "wrong password" }).toString(),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(await res.text()).toContain("invalid email or password");
    const foreign = await t.app.request("/console/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: "https://evil.example" },
      body: new URLSearchParams({ email: user.email, password: user.password }).toString(),
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("set-cookie")).toBeNull();
  });

  it("a change needs the session's CSRF token and our own Origin (create_project)", async () => {
    const s = await signIn(user);
    const fields = { name: "Forged", slug: "forged", kind: "site" };
    expect((await post("/console/call/create_project", s.cookie, fields)).status).toBe(403);
    expect((await post("/console/call/create_project", s.cookie, { ...fields, _csrf: "x".repeat(43) })).status).toBe(
      403,
    );
    const foreign = await post(
      "/console/call/create_project",
      s.cookie,
      { ...fields, _csrf: s.csrf },
      { Origin: "https://evil.example" },
    );
    expect(foreign.status).toBe(403);
    const noOrigin = await t.app.request("/console/call/create_project", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: s.cookie },
      body: new URLSearchParams({ ...fields, _csrf: s.csrf }).toString(),
    });
    expect(noOrigin.status).toBe(403);
    const token = await user.token(["projects:read"]);
    expect((await t.request("GET", "/v1/projects/forged", { token })).status).toBe(404);

    const ok = await post("/console/call/create_project", s.cookie, fields, {
      "X-CSRF-Token": s.csrf,
      "HX-Request": "true",
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("hx-redirect")).toBe("/console/p/forged");
    expect((await t.request("GET", "/v1/projects/forged", { token })).status).toBe(200);
    // The invoker wrote the audit record, with the console as the surface.
    const audit = await t.request("GET", "/v1/audit-events?operation=create_project", {
      token: await user.token(["audit:read"]),
    });
    expect(audit.body.events[0]).toMatchObject({ operation: "create_project", surface: "console", outcome: "ok" });
  });

  it("a form submitted twice with its idempotency key runs once (create_api_token)", async () => {
    const s = await signIn(user);
    const fields = {
      name: "twice",
      preset: "viewer",
      _csrf: s.csrf,
      _then: "show",
      _idempotency_key: "k-0123456789abcdef",
    };
    const first = await post("/console/call/create_api_token", s.cookie, fields, { "HX-Request": "true" });
    const second = await post("/console/call/create_api_token", s.cookie, fields, { "HX-Request": "true" });
    expect(first.status).toBe(200);
    const secret = /value="(bsn_[^"]+)"/.exec(await first.text())?.[1];
    expect(secret).toBeTruthy();
    expect(await second.text()).toContain(secret);
    const list = await t.request("GET", "/v1/tokens", { token: await user.token(["tokens:read"]) });
    expect(list.body.tokens.filter((x: { name: string }) => x.name === "twice")).toHaveLength(1);
  });

  it("a session cookie is the only credential: a bearer token in the cookie is no sign-in", async () => {
    const token = await user.token(["*"]);
    const res = await t.app.request("/console", { headers: { Cookie: `bosun_console=${token}` } });
    expect(res.status).toBe(303);
  });
});

describe("console pages", () => {
  it("every page renders through operations, under a CSP without inline script", async () => {
    const operator = await signIn(t.operator);
    await post("/console/call/create_project", operator.cookie, {
      name: "Pages",
      slug: "pages-site",
      kind: "site",
      _csrf: operator.csrf,
    });
    await post("/console/call/create_page", operator.cookie, {
      project: "pages-site",
      slug: "index",
      title: "Home",
      content: "<h1>hi</h1>",
      _csrf: operator.csrf,
    });
    for (const path of [
      "/console",
      "/console/p/pages-site",
      "/console/p/pages-site/file?path=index.html",
      "/console/p/pages-site/chat",
      "/console/billing",
      "/console/tokens",
      "/console/audit",
      "/console/operator",
    ]) {
      const res = await t.app.request(path, { headers: { Cookie: operator.cookie } });
      const html = await res.text();
      expect(res.status, `${path}: ${html.slice(0, 400)}`).toBe(200);
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
      expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it("saves site settings from their JSON field; without scripts a change answers with a redirect back", async () => {
    const operator = await signIn(t.operator);
    await post("/console/call/create_project", operator.cookie, {
      name: "Conf",
      slug: "conf-site",
      kind: "site",
      _csrf: operator.csrf,
    });
    const saved = await post(
      "/console/call/update_site_settings",
      operator.cookie,
      { project: "conf-site", settings: JSON.stringify({ site_name: "Ada's Bakery" }), _csrf: operator.csrf },
      { Referer: "http://localhost/console/p/conf-site" },
    );
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("http://localhost/console/p/conf-site");
    const page = await (await t.app.request("/console/p/conf-site", { headers: { Cookie: operator.cookie } })).text();
    expect(page).toContain("Ada&#39;s Bakery");
    // A read is a page, not a POST; a bad field comes back as the invoker's validation message.
    const read = await post(
      "/console/call/list_projects",
      operator.cookie,
      { _csrf: operator.csrf },
      { "HX-Request": "true" },
    );
    expect(read.status).toBe(501);
    const bad = await post(
      "/console/call/update_site_settings",
      operator.cookie,
      { project: "conf-site", settings: "{not json", _csrf: operator.csrf },
      { "HX-Request": "true" },
    );
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('role="alert"');
  });

  it("lists a form's submissions and marks one read (update_submission)", async () => {
    const operator = await signIn(t.operator);
    const token = await t.operator.token(["*"]);
    await t.request("POST", "/v1/projects", { token, body: { slug: "form-site", name: "Forms", kind: "site" } });
    await t.request("PATCH", "/v1/projects/form-site/settings", {
      token,
      body: { settings: { forms: [CONTACT_FORM] } },
    });
    await t.request("POST", "/v1/projects/form-site/pages", {
      token,
      body: { slug: "index", title: "Home", content: "<p>hi</p>" },
    });
    expect((await t.request("POST", "/v1/projects/form-site/releases", { token })).status).toBe(201); // forms go live
    const sent = await t.request("POST", "/v1/projects/form-site/forms/contact/submissions", {
      token,
      body: { data: { name: "Ada", email: "ada@example.test" } },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const page = await (await t.app.request("/console/p/form-site", { headers: { Cookie: operator.cookie } })).text();
    expect(page).toContain("ada@example.test");
    expect(page).toContain("Mark read");
    const marked = await post(
      "/console/call/update_submission",
      operator.cookie,
      { project: "form-site", id: sent.body.id, status: "read", _csrf: operator.csrf },
      { "HX-Request": "true" },
    );
    expect(marked.status).toBe(200);
    const list = await t.request("GET", "/v1/projects/form-site/submissions", { token });
    expect(list.body.submissions[0]).toMatchObject({ id: sent.body.id, status: "read" });
  });

  it("serves htmx, uPlot and its own script from the installed packages", async () => {
    for (const name of ["htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "console.js", "console.css"]) {
      const res = await t.app.request(`/console/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get("etag")).toBeTruthy();
    }
    expect((await t.app.request("/console/assets/..%2Fsession.ts")).status).toBe(404);
  });

  it("/docs is Swagger UI from swagger-ui-dist, its init an external file, the plain list in <noscript>", async () => {
    const res = await t.app.request("/docs");
    const html = await res.text();
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(html).toContain('<script src="/docs/assets/swagger-ui-bundle.js"');
    expect(html).toContain('<script src="/docs/assets/docs.js"');
    expect(html).toMatch(/<noscript>[\s\S]*<code>list_projects<\/code>[\s\S]*<\/noscript>/);
    for (const name of ["swagger-ui-bundle.js", "swagger-ui.css", "docs.js"])
      expect((await t.app.request(`/docs/assets/${name}`)).status, name).toBe(200);
  });
});
