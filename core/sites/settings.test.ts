// Site settings: the whitelist applies what passes, and lists what does not with the reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
let token: string;
const p = "/v1/projects/settings-site";
const patch = (settings: Record<string, unknown>) => t.request("PATCH", `${p}/settings`, { token, body: { settings } });

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "settings-site", name: "S", kind: "site" } }))
      .status,
  ).toBe(201);
});
afterAll(() => t?.close());

describe("site settings", () => {
  it("applies whitelisted keys and reads them back", async () => {
    const res = await patch({
      site_name: "Ada's Bakery",
      tagline: "Fresh daily",
      language: "pt-BR",
      favicon: "/img/favicon.png",
      spa_fallback: false,
      redirects: [{ from: "/old*", to: "/new*" }],
      headers: [{ path: "/*", name: "Cache-Control", value: "max-age=60" }],
      business: { name: "Ada's", contact: { email: "hi@ada.test", phone: "+1 555 0100" }, hours: { mon: "8-16" } },
      forms: [{ id: "contact", fields: [{ name: "email", type: "email", required: true }] }],
    });
    expect(res.status).toBe(200);
    expect(res.body.rejected).toEqual([]);
    expect(res.body.updated).toHaveLength(9);
    const got = await t.request("GET", `${p}/settings`, { token });
    expect(got.body.live_release).toBeNull();
    expect(got.body.live).toEqual({ password_protected: false });
    expect(got.body.unpublished).toEqual([
      "business",
      "favicon",
      "forms",
      "headers",
      "language",
      "redirects",
      "site_name",
      "spa_fallback",
      "tagline",
    ]);
    expect(got.body.draft).toMatchObject({
      site_name: "Ada's Bakery",
      favicon: "img/favicon.png",
      redirects: [{ from: "/old*", to: "/new*", status: 301 }],
      headers: [{ path: "/*", name: "cache-control", value: "max-age=60" }],
      password_protected: false,
    });
    expect((await patch({ tagline: null })).body.updated).toEqual(["tagline"]);
    expect((await t.request("GET", `${p}/settings`, { token })).body.draft.tagline).toBeUndefined();
  });

  it("rejects unknown and unsafe keys, applies nothing of them, and never returns the password", async () => {
    const before = (await t.request("GET", `${p}/settings`, { token })).body;
    const res = await patch({
      admin: true,
      custom_js: "<script>",
      headers: [{ path: "/*", name: "Set-Cookie", value: "a=b" }],
      redirects: [{ from: "no-slash", to: "javascript:alert(1)" }],
      favicon: "../../etc/passwd",
      language: "not a language",
      password: "short",
    });
    expect(res.status).toBe(200);
    expect(res.body.updated).toEqual([]);
    expect(res.body.rejected.map((r: { key: string }) => r.key)).toEqual([
      "admin",
      "custom_js",
      "headers",
      "redirects",
      "favicon",
      "language",
      "password",
    ]);
    expect(res.body.rejected.find((r: { key: string }) => r.key === "headers").reason).toContain(
      "not an allowed header",
    );
    const cors = await patch({ headers: [{ path: "/*", name: "Access-Control-Allow-Origin", value: "*" }] });
    expect(cors.body.rejected[0].key).toBe("headers");
    const crlf = await patch({ headers: [{ path: "/*", name: "X-Frame-Options", value: "DENY\r\nSet-Cookie: x=1" }] });
    expect(crlf.body.rejected[0].key).toBe("headers");
    expect((await t.request("GET", `${p}/settings`, { token })).body).toEqual(before);

    const pw = await patch({ password: "a long enough secret" });
    expect(pw.body.settings.password_protected).toBe(true);
    expect(JSON.stringify(pw.body)).not.toContain("a long enough secret");
    await t.platform.audit.flush();
    const audit = await t.platform.db
      .selectFrom("audit_events")
      .select("input")
      .where("operation", "=", "update_site_settings")
      .execute();
    expect(JSON.stringify(audit)).not.toContain("a long enough secret");
  });

  it("needs settings:write to change, and hides another tenant's site", async () => {
    const reader = await (await t.account()).token(["settings:read", "settings:write"]);
    expect(
      (await t.request("PATCH", `${p}/settings`, { token: reader, body: { settings: { site_name: "x" } } })).status,
    ).toBe(404);
    const noScope = await (await t.account()).token(["settings:read"]);
    expect(
      (await t.request("PATCH", `${p}/settings`, { token: noScope, body: { settings: { site_name: "x" } } })).status,
    ).toBe(403);
  });
});
