// Forms: declaration-checked submissions through the operations (submit_form, list/update submissions).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { dbSnapshot } from "../../testkit/operation-inputs.ts";
import { CONTACT_FORM } from "../../testkit/sites.ts";
import { validateSubmission } from "./forms.ts";
import { FormDef } from "./settings.ts";

let t: TestPlatform;
let token: string;
const p = "/v1/projects/forms-site";
const call = (method: string, path: string, body?: unknown, tok = token) =>
  t.request(method, `${p}${path}`, { token: tok, body });

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "forms-site", name: "F", kind: "site" } })).status,
  ).toBe(201);
  expect((await call("PATCH", "/settings", { settings: { forms: [CONTACT_FORM] } })).body.updated).toEqual(["forms"]);
  // A form declared only in the draft takes no posts: accepting them is a live effect.
  expect(
    (await call("POST", "/forms/contact/submissions", { data: { name: "Ada", email: "ada@x.test" } })).status,
  ).toBe(404);
  expect((await call("GET", "/forms")).body.forms).toEqual([]);
  expect((await call("POST", "/releases")).status).toBe(201);
});
afterAll(() => t?.close());

describe("validateSubmission", () => {
  const form = FormDef.parse(CONTACT_FORM);
  it("cleans valid values and names every bad field", () => {
    expect(
      validateSubmission(form, {
        name: " Ada ",
        email: "ada@x.test",
        guests: "3",
        newsletter: "on",
        _redirect: "/thanks",
      }),
    ).toEqual({
      values: { name: "Ada", email: "ada@x.test", guests: 3, newsletter: true },
    });
    const bad = validateSubmission(form, { email: "nope", guests: "many", extra: "x", name: "x".repeat(101) });
    expect("issues" in bad && bad.issues.map((i) => i.path).sort()).toEqual(["email", "extra", "guests", "name"]);
    expect(validateSubmission(form, { email: "a@b.co" })).toMatchObject({
      issues: [{ path: "name", message: "is required" }],
    });
  });
});

describe("form operations", () => {
  it("lists forms, submits, lists and updates submissions (update_submission)", async () => {
    expect((await call("GET", "/forms")).body.forms.map((f: { id: string }) => f.id)).toEqual(["contact"]);
    expect((await call("GET", "/forms/contact")).body.fields).toHaveLength(5);
    const sub = await call("POST", "/forms/contact/submissions", { data: { name: "Ada", email: "ada@x.test" } });
    expect(sub.status).toBe(201);
    await call("POST", "/forms/contact/submissions", { data: { name: "Bob", email: "bob@x.test" } });
    const list = await call("GET", "/submissions?limit=1");
    expect(list.body.submissions).toHaveLength(1);
    expect(list.body.submissions[0].data).toEqual({ name: "Bob", email: "bob@x.test" });
    const rest = await call("GET", `/submissions?limit=1&cursor=${list.body.next_cursor}`);
    expect(rest.body).toMatchObject({ submissions: [{ id: sub.body.id }], next_cursor: null });
    const upd = await call("PATCH", `/submissions/${sub.body.id}`, { status: "archived" });
    expect(upd.body.status).toBe("archived");
    expect(
      (await call("GET", "/submissions?status=archived")).body.submissions.map((s: { id: string }) => s.id),
    ).toEqual([sub.body.id]);
    expect((await call("GET", "/submissions?form_id=other")).body.submissions).toEqual([]);
  });

  it("refuses malformed submissions and unknown forms, storing nothing", async () => {
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    const bad = await call("POST", "/forms/contact/submissions", { data: { email: "not-an-email" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual(["email", "name"]);
    expect((await call("POST", "/forms/nope/submissions", { data: {} })).status).toBe(404);
    expect((await call("PATCH", "/submissions/999999", { status: "read" })).status).toBe(404);
    expect((await call("PATCH", "/submissions/1", { status: "deleted" })).status).toBe(400);
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });

  it("keeps submissions from a token without submissions:read and from other tenants", async () => {
    const noScope = await (await t.account()).token(["tools:invoke"]);
    expect((await call("GET", "/submissions", undefined, noScope)).status).toBe(403);
    const other = await (await t.account()).token(["*"]);
    expect((await call("GET", "/submissions", undefined, other)).status).toBe(404);
  });
});

describe("public forms (list_site_forms, get_site_form_schema)", () => {
  it("show anyone the live forms only: a form declared in the draft appears once published; an unknown form or site is 404", async () => {
    const pub = (path: string) => t.request("GET", `/v1/sites/forms-site${path}`);
    const live = await pub("/forms");
    expect(live.status).toBe(200);
    expect(live.body.forms.map((f: { id: string }) => f.id)).toEqual(["contact"]);
    const schema = await pub("/forms/contact");
    expect(schema.status).toBe(200);
    expect(schema.body).toMatchObject({ id: "contact", title: "Contact us" });
    expect(schema.body.fields.map((f: { name: string }) => f.name)).toEqual(CONTACT_FORM.fields.map((f) => f.name));

    const newsletter = { id: "newsletter", title: "News", fields: [{ name: "email", type: "email", required: true }] };
    expect((await call("PATCH", "/settings", { settings: { forms: [CONTACT_FORM, newsletter] } })).status).toBe(200);
    expect((await pub("/forms")).body.forms.map((f: { id: string }) => f.id)).toEqual(["contact"]);
    expect((await pub("/forms/newsletter")).status).toBe(404);
    expect((await call("POST", "/releases")).status).toBe(201);
    expect((await pub("/forms")).body.forms.map((f: { id: string }) => f.id)).toEqual(["contact", "newsletter"]);
    expect((await pub("/forms/newsletter")).body.fields).toEqual([
      expect.objectContaining({ name: "email", type: "email", required: true }),
    ]);

    expect((await pub("/forms/nope")).body.error).toMatchObject({ code: "not_found" });
    expect((await t.request("GET", "/v1/sites/no-such-site/forms")).status).toBe(404);
  });
});

describe("export_submissions (CSV) and the honeypot", () => {
  it("answers text/csv on REST, quoting per RFC 4180 and defusing formulas; the JSON surfaces get the same text", async () => {
    const evil = { name: '=HYPERLINK("http://x.test","hi")', email: "eve@x.test", message: 'line1\nsaid "hi", @me' };
    expect((await call("POST", "/forms/contact/submissions", { data: evil })).status).toBe(201);
    expect(
      (await call("POST", "/forms/contact/submissions", { data: { name: "-2+3", email: "m@x.test", guests: "-5" } }))
        .status,
    ).toBe(201);
    const res = await t.app.request(`${p}/submissions/export?form_id=contact`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="forms-site-contact.csv"');
    const csv = await res.text();
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe("id,form_id,status,created_at,name,email,guests,message,newsletter");
    expect(csv).toContain(`,"'=HYPERLINK(""http://x.test"",""hi"")",eve@x.test,,"line1\nsaid ""hi"", @me",\r\n`);
    // Every cell a spreadsheet would evaluate starts with a quote, numbers too (a negative number is harmless,
    // but "-2+3" is a formula).
    expect(csv).toContain(",'-2+3,m@x.test,'-5,,\r\n");
    expect(csv).not.toMatch(/(^|,)[=+@-]/m);

    // The same through the invoker as MCP and the CLI see it: the CSV in a JSON field.
    const json = await call("GET", "/submissions/export?status=archived");
    expect(json.status).toBe(200);
    expect(json.headers.get("content-type")).toContain("text/csv");
    expect(json.body.split("\r\n")).toHaveLength(3); // header, Ada (archived above), and the final empty string
  });

  it("needs submissions:read (403 naming it); another tenant's site is 404; a bad form id is 400", async () => {
    const noScope = await (await t.account()).token(["tools:invoke"]);
    const denied = await call("GET", "/submissions/export", undefined, noScope);
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("submissions:read");
    const other = await (await t.account()).token(["*"]);
    expect((await call("GET", "/submissions/export", undefined, other)).status).toBe(404);
    const bad = await call("GET", "/submissions/export?form_id=Bad%20Id");
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe("form_id");
  });

  it("a post with the honeypot filled looks accepted but is not stored", async () => {
    const count = async () => (await call("GET", "/submissions?limit=100")).body.submissions.length;
    const before = await count();
    const bot = await call("POST", "/forms/contact/submissions", {
      data: { name: "Bot", email: "bot@x.test", _honeypot: "http://spam.test" },
    });
    expect(bot.status).toBe(201);
    expect(bot.body).toMatchObject({ form_id: "contact", id: expect.any(String) });
    expect(await count()).toBe(before);
    const human = await call("POST", "/forms/contact/submissions", {
      data: { name: "Hu", email: "hu@x.test", _honeypot: "" },
    });
    expect(human.status).toBe(201);
    expect(await count()).toBe(before + 1);
  });
});
