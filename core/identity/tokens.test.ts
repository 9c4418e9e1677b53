import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

describe("api tokens", () => {
  it("mints a token that works, shows it once, and stores only its hash", async () => {
    const user = await t.account();
    const admin = await user.token(["tokens:write", "tokens:read", "projects:read"]);
    const res = await t.request("POST", "/v1/tokens", {
      token: admin,
      body: { name: "ci", scopes: ["projects:read"] },
    });
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^bsn_[A-Za-z0-9_-]{43}$/);
    expect(res.body.prefix).toBe(res.body.token.slice(0, 12));
    const me = await t.request("GET", "/v1/projects", { token: res.body.token });
    expect(me.status).toBe(200);
    const rows = await t.platform.db.selectFrom("api_tokens").selectAll().where("id", "=", res.body.id).execute();
    expect(JSON.stringify(rows)).not.toContain(res.body.token);
    const list = await t.request("GET", "/v1/tokens", { token: admin });
    expect(JSON.stringify(list.body)).not.toContain(res.body.token);
  });

  it("refuses unknown scopes with 400 naming the scope, and more power than the creator with 403", async () => {
    const user = await t.account();
    const admin = await user.token(["tokens:write", "projects:read"]);
    const unknown = await t.request("POST", "/v1/tokens", {
      token: admin,
      body: { name: "x", scopes: ["projects:fly"] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain("projects:fly");
    const wider = await t.request("POST", "/v1/tokens", {
      token: admin,
      body: { name: "x", scopes: ["projects:write"] },
    });
    expect(wider.status).toBe(403);
    expect(wider.body.error.required_scope).toBe("projects:write");
    const star = await t.request("POST", "/v1/tokens", { token: admin, body: { name: "x", preset: "full" } });
    expect(star.status).toBe(403);
  });

  it("never gives platform:admin to a customer, even one holding *", async () => {
    const user = await t.account();
    const all = await user.token(["*"]);
    const res = await t.request("POST", "/v1/tokens", { token: all, body: { name: "x", scopes: ["platform:admin"] } });
    expect(res.status).toBe(403);
    const admin = await t.request("GET", "/v1/admin/accounts", { token: all });
    expect(admin.status).toBe(403);
    expect(admin.body.error.required_scope).toBe("platform:admin");
  });

  it("a revoked token fails on its very next call, even though it was cached", async () => {
    const user = await t.account();
    const admin = await user.token(["tokens:write", "projects:read"]);
    const created = await t.request("POST", "/v1/tokens", {
      token: admin,
      body: { name: "x", scopes: ["projects:read"] },
    });
    const victim = created.body.token;
    expect((await t.request("GET", "/v1/projects", { token: victim })).status).toBe(200);
    const revoked = await t.request("DELETE", `/v1/tokens/${created.body.id}`, { token: admin });
    expect(revoked.status).toBe(200);
    const after = await t.request("GET", "/v1/projects", { token: victim });
    expect(after.status).toBe(401);
    expect(after.body.error.message).toContain("revoked");
  });

  it("an expired token gets 401", async () => {
    const user = await t.account();
    const token = await user.token(["projects:read"], { expiresInDays: 1 });
    await t.platform.db
      .updateTable("api_tokens")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("account_id", "=", user.id)
      .execute();
    const res = await t.request("GET", "/v1/projects", { token });
    expect(res.status).toBe(401);
  });
});
