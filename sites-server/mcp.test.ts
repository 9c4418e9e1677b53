// The visitor side over real HTTP on the sites listener: plain HTML form posts and the public per-site MCP.
import { type ServerType, serve } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { toolError } from "../testkit/operation-inputs.ts";
import { CONTACT_FORM } from "../testkit/sites.ts";
import { createSitesApp } from "./app.ts";

const BUSINESS = {
  menu: [{ name: "Bread", items: [{ name: "Rye", price: { amount: 450, currency: "EUR" } }] }],
  services: [{ name: "Cake order", duration_minutes: 30 }],
  faq: [{ question: "Vegan?", answer: "The rye is." }],
  opening_hours: { timezone: "Europe/Lisbon", weekly: [{ day: "mon", open: "08:00", close: "16:00" }] },
};

let t: TestPlatform;
let token: string;
let server: ServerType;
let origin: string;
const api = (method: string, path: string, body?: unknown) => t.request(method, `/v1${path}`, { token, body });

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  origin = await new Promise<string>((resolve) => {
    server = serve({ fetch: createSitesApp(t.platform).fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
  t.platform.config.sitesUrl = origin;
  t.platform.config.sitesPathMode = true; // addressed as `/s/{slug}/`; own origins are in sites-origin.test.ts
  for (const slug of ["visit-site", "locked-site"]) {
    expect((await api("POST", "/projects", { slug, name: slug, kind: "site" })).status).toBe(201);
    await api("POST", `/projects/${slug}/pages`, {
      slug: "index",
      title: "Ada's Bakery",
      content: "<h1>Bread</h1><script>var x=1</script><p>Open daily &amp; fresh.</p>",
    });
    await api("POST", `/projects/${slug}/pages`, {
      slug: "menu",
      title: "Menu",
      content: "<ul><li>Rye</li><li>Sourdough</li></ul>",
    });
    await api("PATCH", `/projects/${slug}/settings`, {
      settings: {
        site_name: "Ada's Bakery",
        business: { name: "Ada's", contact: { phone: "+1 555 0100" }, hours: "8-16" },
        forms: [CONTACT_FORM],
      },
    });
    expect((await api("PATCH", `/projects/${slug}/business`, BUSINESS)).status).toBe(200);
    expect((await api("POST", `/projects/${slug}/releases`)).status).toBe(201);
  }
  await api("PATCH", "/projects/locked-site/settings", { settings: { password: "secret password" } });
  // The password is a draft setting until published.
  expect((await api("POST", "/projects/locked-site/releases")).body.settings_changed).toBe(true);
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.close();
});

const post = (path: string, body: string | URLSearchParams, headers: Record<string, string> = {}) =>
  fetch(`${origin}${path}`, { method: "POST", body, headers, redirect: "manual" });

describe("form posts on the sites listener", () => {
  it("stores a valid HTML form post and redirects to _redirect; answers JSON when asked", async () => {
    const res = await post(
      "/s/visit-site/_forms/contact",
      new URLSearchParams({ name: "Ada", email: "ada@x.test", _redirect: "/s/visit-site/thanks" }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/s/visit-site/thanks");
    const json = await post("/s/visit-site/_forms/contact", JSON.stringify({ name: "Bob", email: "bob@x.test" }), {
      "Content-Type": "application/json",
    });
    expect(json.status).toBe(201);
    const subs = await api("GET", "/projects/visit-site/submissions");
    expect(subs.body.submissions.map((s: { data: { name: string } }) => s.data.name)).toEqual(["Bob", "Ada"]);
    const audit = await t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "outcome", "project", "input"])
      .where("operation", "=", "submit_site_form")
      .execute();
    expect(audit.map((a) => [a.outcome, a.project])).toEqual([
      ["ok", "visit-site"],
      ["ok", "visit-site"],
    ]);
    expect(JSON.stringify(audit)).not.toContain("ada@x.test");
  });

  it("refuses malformed posts with a clear 4xx and stores nothing", async () => {
    const count = async () => (await api("GET", "/projects/visit-site/submissions?limit=200")).body.submissions.length;
    const before = await count();
    const missing = await post("/s/visit-site/_forms/contact", new URLSearchParams({ email: "bad" }));
    expect(missing.status).toBe(400);
    expect(await missing.text()).toContain("name: is required");
    expect(
      (await post("/s/visit-site/_forms/contact", "{not json", { "Content-Type": "application/json" })).status,
    ).toBe(400);
    expect((await post("/s/visit-site/_forms/contact", "x", { "Content-Type": "text/plain" })).status).toBe(415);
    expect((await post("/s/visit-site/_forms/nope", new URLSearchParams({ a: "b" }))).status).toBe(404);
    expect((await post("/s/visit-site/_forms/contact", new URLSearchParams({ name: "x".repeat(70_000) }))).status).toBe(
      413,
    );
    const open = await post(
      "/s/visit-site/_forms/contact",
      new URLSearchParams({ name: "A", email: "a@b.co", _redirect: "//evil.test/" }),
    );
    expect(open.status).toBe(201); // an off-site _redirect is ignored, not followed
    expect(await count()).toBe(before + 1);
    expect(
      (await post("/s/locked-site/_forms/contact", new URLSearchParams({ name: "A", email: "a@b.co" }))).status,
    ).toBe(401);
  });
});

describe("hostile form posts on the sites listener", () => {
  it("answers deep nesting, control characters in names, NUL and lone surrogates with a 400 naming the field, storing nothing", async () => {
    const count = async () => (await api("GET", "/projects/visit-site/submissions?limit=200")).body.submissions.length;
    const before = await count();
    // Every post here is from 127.0.0.1: start from a fresh form-post window, and leave one for the tests after.
    const freshWindow = () => t.platform.db.deleteFrom("rate_limits").where("key", "like", "site-form:%").execute();
    await freshWindow();
    const json = (raw: string) =>
      post("/s/visit-site/_forms/contact", raw, { "Content-Type": "application/json", Accept: "application/json" });
    const deep = `{"name":${"[".repeat(30_000)}${"]".repeat(30_000)},"email":"a@b.co"}`;
    const cases: [string, string][] = [
      [deep, "name"],
      [`{"name":"A","email":"a@b.co","_x":${'{"a":'.repeat(40)}1${"}".repeat(40)}}`, "_x"],
      // JSON escapes, sent as text: a NUL in a name and in a value, and a lone surrogate.
      [String.raw`{"name":"A","email":"a@b.co","_n\u0000":"x"}`, String.raw`_n\u0000`],
      [String.raw`{"name":"A\u0000B","email":"a@b.co"}`, "name"],
      [String.raw`{"name":"A\ud800","email":"a@b.co"}`, "name"],
    ];
    for (const [body, field] of cases) {
      const res = await json(body);
      const text = await res.text();
      expect(res.status, `${body.slice(0, 60)}: ${text.slice(0, 200)}`).toBe(400);
      const error = JSON.parse(text).error;
      expect(error.code).toBe("validation_error");
      const paths: string[] = error.issues.map((i: { path: string }) => i.path);
      expect(
        paths.some((p) => p === field || p.startsWith(`${field}.`)),
        `${body.slice(0, 60)}: ${paths}`,
      ).toBe(true);
    }
    // An urlencoded post carries the same checks.
    const form = await post("/s/visit-site/_forms/contact", new URLSearchParams({ name: "A\u0000B", email: "a@b.co" }));
    expect(form.status).toBe(400);
    expect(await count()).toBe(before);
    await freshWindow();
  });
});

async function siteMcp(slug: string) {
  const client = new Client({ name: "visitor", version: "0.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${origin}/s/${slug}/mcp`)));
  return client;
}

describe("the public per-site MCP", () => {
  it("answers business info, published pages and forms without authentication", async () => {
    const client = await siteMcp("visit-site");
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name).sort()).toEqual([
      "get_business_info",
      "get_faq",
      "get_form_schema",
      "get_menu",
      "get_published_page",
      "get_services",
      "list_forms",
      "list_published_pages",
      "submit_form",
    ]);
    const info = await client.callTool({ name: "get_business_info", arguments: {} });
    expect(info.structuredContent).toMatchObject({ site_name: "Ada's Bakery", business: { hours: "8-16" } });
    const pages = (await client.callTool({ name: "list_published_pages", arguments: {} })).structuredContent as {
      pages: { slug: string; url: string }[];
    };
    expect(pages.pages.map((x) => x.slug)).toEqual(["index", "menu"]);
    expect(pages.pages[1]!.url).toBe(`${origin}/s/visit-site/menu.html`);
    const home = (await client.callTool({ name: "get_published_page", arguments: { slug: "index" } }))
      .structuredContent as { text: string; title: string };
    expect(home.title).toBe("Ada's Bakery");
    expect(home.text).toContain("Open daily & fresh.");
    expect(home.text).not.toContain("var x");
    expect(
      (await client.callTool({ name: "get_form_schema", arguments: { form_id: "contact" } })).structuredContent,
    ).toMatchObject({ id: "contact" });
    const sent = await client.callTool({
      name: "submit_form",
      arguments: { form_id: "contact", data: { name: "Agent", email: "agent@x.test" } },
    });
    expect(sent.isError).toBeFalsy();
    const bad = await client.callTool({ name: "submit_form", arguments: { form_id: "contact", data: {} } });
    expect(bad.isError).toBe(true);
    expect(toolError(bad).code).toBe("validation_error");
    const draftOnly = await client.callTool({ name: "get_published_page", arguments: { slug: "../secret" } });
    expect(toolError(draftOnly).code).toBe("not_found");
    await client.close();
  });

  it("answers get_menu, get_services and get_faq with the published business data only", async () => {
    const client = await siteMcp("visit-site");
    expect((await client.callTool({ name: "get_menu", arguments: {} })).structuredContent).toEqual({
      menu: BUSINESS.menu,
    });
    expect((await client.callTool({ name: "get_services", arguments: {} })).structuredContent).toEqual({
      services: BUSINESS.services,
    });
    expect((await client.callTool({ name: "get_faq", arguments: {} })).structuredContent).toEqual({
      faq: BUSINESS.faq,
    });
    expect((await client.callTool({ name: "get_business_info", arguments: {} })).structuredContent).toMatchObject({
      opening_hours: BUSINESS.opening_hours,
    });
    // A draft change is not public until published; the `site` argument cannot point elsewhere.
    await api("PATCH", "/projects/visit-site/business", { menu: [{ name: "Secret", items: [] }] });
    const menu = await client.callTool({ name: "get_menu", arguments: { site: "locked-site" } });
    expect(menu.structuredContent).toEqual({ menu: BUSINESS.menu });
    await api("PATCH", "/projects/visit-site/business", { menu: BUSINESS.menu });
    await client.close();
  });

  it("shows drafts never and password-protected sites not at all", async () => {
    await api("POST", "/projects/visit-site/pages", { slug: "unpublished", title: "Draft", content: "draft only" });
    const client = await siteMcp("visit-site");
    expect(
      toolError(await client.callTool({ name: "get_published_page", arguments: { slug: "unpublished" } })).code,
    ).toBe("not_found");
    await client.close();
    const locked = await siteMcp("locked-site");
    for (const name of ["get_business_info", "list_published_pages", "list_forms", "get_menu", "get_faq"]) {
      const res = await locked.callTool({ name, arguments: {} });
      expect.soft(res.isError, name).toBe(true);
      expect.soft(toolError(res).code, name).toBe("forbidden");
    }
    expect(
      JSON.stringify(await locked.callTool({ name: "get_published_page", arguments: { slug: "index" } })),
    ).not.toContain("Bread");
    await locked.close();
  });
});

describe("the public site operations on the API", () => {
  it("answer anonymously over REST, refuse protected sites and name missing ones, and are audited", async () => {
    const info = await t.request("GET", "/v1/sites/visit-site");
    expect(info.status).toBe(200);
    expect(info.body.site_name).toBe("Ada's Bakery");
    const page = await t.request("GET", "/v1/sites/visit-site/pages/menu");
    expect(page.body.text).toContain("Sourdough");
    expect((await t.request("GET", "/v1/sites/locked-site/pages")).status).toBe(403);
    expect((await t.request("GET", "/v1/sites/no-such-site")).status).toBe(404);
    await t.platform.audit.flush();
    const rows = await t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "account_id"])
      .where("operation", "=", "get_business_info")
      .execute();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.account_id === null)).toBe(true);
  });
});

describe("one door: the listener's form posts and public MCP go through the invoker", () => {
  const auditRows = async (operation: string) => {
    await t.platform.audit.flush();
    return t.platform.db
      .selectFrom("audit_events")
      .select(["surface", "outcome", "project", "input", "account_id"])
      .where("operation", "=", operation)
      .orderBy("at")
      .execute();
  };
  /** The keys each limiter was asked for while `fn` ran. */
  async function limiterKeys(fn: () => Promise<void>) {
    const general = vi.spyOn(t.platform.rateLimiter, "take");
    const security = vi.spyOn(t.platform.securityLimiter, "take");
    try {
      await fn();
      return { general: general.mock.calls.map((c) => c[0]), security: security.mock.calls.map((c) => c[0]) };
    } finally {
      general.mockRestore();
      security.mockRestore();
    }
  }

  it("a form post writes exactly one audit row (surface sites, no visitor data) and takes each limit once", async () => {
    await t.platform.db.deleteFrom("rate_limits").where("key", "like", "site-form:%").execute();
    const before = (await auditRows("submit_site_form")).length;
    const keys = await limiterKeys(async () => {
      const res = await post(
        "/s/visit-site/_forms/contact",
        new URLSearchParams({ name: "Door", email: "door@x.test" }),
        { Accept: "application/json" },
      );
      expect(res.status).toBe(201);
    });
    expect(keys).toEqual({ general: ["ip:127.0.0.1"], security: ["site-form:127.0.0.1"] });
    const rows = (await auditRows("submit_site_form")).slice(before);
    expect(rows).toEqual([
      {
        surface: "sites",
        outcome: "ok",
        project: "visit-site",
        input: { site: "visit-site", form_id: "contact" },
        account_id: null,
      },
    ]);
    // A refused post is one row too, with the invoker's outcome.
    const refused = await post("/s/visit-site/_forms/contact", new URLSearchParams({ email: "bad" }));
    expect(refused.status).toBe(400);
    expect((await auditRows("submit_site_form")).slice(before + 1).map((r) => [r.surface, r.outcome])).toEqual([
      ["sites", "validation_error"],
    ]);
    await t.platform.db.deleteFrom("rate_limits").where("key", "like", "site-form:%").execute();
  });

  it("a visitor who unlocked a password-protected site may post its forms; its MCP stays closed", async () => {
    const login = await post("/s/locked-site/_auth", new URLSearchParams({ password: "secret password" }));
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const res = await post("/s/locked-site/_forms/contact", new URLSearchParams({ name: "In", email: "in@x.test" }), {
      Cookie: cookie,
    });
    expect(res.status).toBe(201);
    const client = await siteMcp("locked-site");
    const sent = await client.callTool({
      name: "submit_form",
      arguments: { form_id: "contact", data: { name: "Agent", email: "agent@x.test" } },
    });
    expect(toolError(sent).code).toBe("forbidden");
    await client.close();
    await t.platform.db.deleteFrom("rate_limits").where("key", "like", "site-form:%").execute();
  });

  it("a public MCP call writes exactly one audit row and takes the invoker's limit once; the protocol's own requests take none", async () => {
    const client = await siteMcp("visit-site");
    const before = (await auditRows("get_business_info")).length;
    const keys = await limiterKeys(async () => {
      await client.listTools();
      expect((await client.callTool({ name: "get_business_info", arguments: {} })).isError).toBeFalsy();
    });
    expect(keys).toEqual({ general: ["ip:127.0.0.1"], security: [] });
    expect((await auditRows("get_business_info")).slice(before)).toEqual([
      { surface: "mcp", outcome: "ok", project: null, input: { site: "visit-site" }, account_id: null },
    ]);

    const submitted = (await auditRows("submit_site_form")).length;
    const submitKeys = await limiterKeys(async () => {
      const sent = await client.callTool({
        name: "submit_form",
        arguments: { form_id: "contact", data: { name: "Bot", email: "bot@x.test" } },
      });
      expect(sent.isError).toBeFalsy();
    });
    expect(submitKeys).toEqual({ general: ["ip:127.0.0.1"], security: ["site-form:127.0.0.1"] });
    expect(
      (await auditRows("submit_site_form")).slice(submitted).map((r) => [r.surface, r.outcome, r.project]),
    ).toEqual([["mcp", "ok", "visit-site"]]);
    await client.close();
    await t.platform.db.deleteFrom("rate_limits").where("key", "like", "site-form:%").execute();
  });

  it("offers only the fixed tools, pins the site, and answers GET with the MCP server's 405", async () => {
    const client = await siteMcp("visit-site");
    const { tools } = await client.listTools();
    expect(tools.every((x) => !("site" in ((x.inputSchema.properties ?? {}) as object)))).toBe(true);
    // Another public operation, or a listed one under its operation id, is not a tool here.
    for (const name of ["login", "submit_site_form", "list_site_forms"]) {
      expect(toolError(await client.callTool({ name, arguments: {} })).code, name).toBe("not_found");
    }
    // A `site` argument cannot point the endpoint elsewhere.
    const info = await client.callTool({ name: "get_business_info", arguments: { site: "locked-site" } });
    expect(info.structuredContent).toMatchObject({ site_name: "Ada's Bakery" });
    await client.close();
    const get = await fetch(`${origin}/s/visit-site/mcp`, { headers: { Accept: "text/event-stream" } });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });
});

// Last: it spends this client IP's form budget, which the MCP submit_form shares.
describe("form post limits", () => {
  it("rate-limits form posts per client IP", async () => {
    let limited = 0;
    for (let i = 0; i < 12; i++) {
      const res = await post("/s/visit-site/_forms/contact", new URLSearchParams({ email: "bad" }), {
        Accept: "application/json",
      });
      if (res.status === 429) limited++;
    }
    expect(limited).toBeGreaterThan(0);
  });
});
