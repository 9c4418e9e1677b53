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
