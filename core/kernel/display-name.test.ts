// Names shown to someone else (an invitation email, a member list, the OAuth consent page) refuse control and
// bidirectional-override characters: `Acme\u202Emoc.elgoog` would read as another name, and an override left open
// reorders the text after it (the host the consent page says access goes to).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { displayName } from "./common.ts";

const SPOOFS = [
  "Acme\u202Emoc.elgoog",
  "a\u202Ab",
  "a\u2066b\u2069",
  "a\u2067b",
  "line\nbreak",
  "tab\there",
  "nul\u0000",
  "a\u2028b",
];

describe("displayName", () => {
  it("refuses control, bidi embedding, override and isolate characters and line separators", () => {
    for (const name of SPOOFS) expect.soft(displayName(100).safeParse(name).success, JSON.stringify(name)).toBe(false);
  });

  it("keeps ordinary names in any script, emoji sequences and the joiners scripts need", () => {
    for (const name of ["Ada Lovelace", "Zoë’s Café", "محمد", "שלום עולם", "日本語", "👨‍👩‍👧 family", "می‌خواهم"]) {
      expect.soft(displayName(100).safeParse(name).success, name).toBe(true);
    }
    expect(displayName(100).safeParse("").success).toBe(false);
    expect(displayName(100, 0).safeParse("").success).toBe(true);
  });
});

describe("every name someone else sees", () => {
  let t: TestPlatform;
  let token: string;
  let admin: string;
  beforeAll(async () => {
    t = await startTestPlatform();
    token = await (await t.account()).token(["*"]);
    admin = await t.operator.token(["*", "platform:admin"]);
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "named", name: "Named", kind: "site" } })).status,
    ).toBe(201);
  });
  afterAll(() => t?.close());

  it("is refused with a 400 naming the field, and nothing is written: projects, accounts, tokens, invitations", async () => {
    const name = "Acme\u202Emoc.elgoog";
    const calls: [string, string, Record<string, unknown>, string?][] = [
      ["POST", "/v1/projects", { slug: "spoofed", name, kind: "site" }, token],
      ["PATCH", "/v1/projects/named", { name }, token],
      ["POST", "/v1/tokens", { name, preset: "viewer" }, token],
      ["POST", "/v1/auth/register", { email: "spoof@example.test", name, password: "a long password" }],
      ["POST", "/v1/admin/accounts", { email: "spoof2@example.test", name }, admin],
      ["POST", "/v1/auth/accept-invitation", { token: "x".repeat(43), name, password: "a long password" }],
    ];
    for (const [method, path, body, tk] of calls) {
      const res = await t.request(method, path, { token: tk, body });
      expect.soft(res.status, `${method} ${path}`).toBe(400);
      expect
        .soft(
          res.body?.error?.issues?.map((i: { path: string }) => i.path),
          `${method} ${path}`,
        )
        .toContain("name");
    }
    expect((await t.request("GET", "/v1/projects/spoofed", { token })).status).toBe(404);
    expect((await t.request("GET", "/v1/projects/named", { token })).body.name).toBe("Named");
    const accounts = await t.platform.db
      .selectFrom("accounts")
      .select("email")
      .where("email", "in", ["spoof@example.test", "spoof2@example.test"])
      .execute();
    expect(accounts).toEqual([]);
  });

  it("an OAuth client cannot register a name that reorders the consent page", async () => {
    const res = await t.app.request("http://127.0.0.1/oauth/register", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        client_name: "Claude\u202E",
        redirect_uris: ["https://app.example/cb"],
        token_endpoint_auth_method: "none",
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_client_metadata");
    expect(await t.platform.db.selectFrom("oauth_clients").select("id").execute()).toEqual([]);
  });
});
