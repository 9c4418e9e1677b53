// Login sessions as first-class credentials: listed, ended by logout or revoke_session, and the others ended
// by a password change or a two-factor change; an ended session fails on its very next call (it was cached).
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

async function login(
  user: { email: string; password: string },
  totp_code?: string,
): Promise<{ token: string; id: string }> {
  const res = await t.request("POST", "/v1/auth/login", {
    body: { email: user.email, password: user.password, ...(totp_code ? { totp_code } : {}) },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { token: res.body.token, id: res.body.session_id };
}
const me = (token: string) => t.request("GET", "/v1/me", { token });

describe("sessions", () => {
  it("list_sessions lists the account's live sessions, marking the current one, and never another account's", async () => {
    const user = await t.account();
    const other = await t.account();
    const a = await login(user);
    const b = await login(user);
    await login(other);
    const list = await t.request("GET", "/v1/me/sessions", { token: a.token });
    expect(list.status).toBe(200);
    expect(list.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(list.body.sessions.find((s: { id: string }) => s.id === a.id)).toMatchObject({
      current: true,
      surface: "rest",
    });
    expect(list.body.sessions.find((s: { id: string }) => s.id === b.id).current).toBe(false);
    expect(JSON.stringify(list.body)).not.toContain(a.token.split(".")[2]);
  });

  it("logout ends the calling session at once (it was cached), and only that one", async () => {
    const user = await t.account();
    const a = await login(user);
    const b = await login(user);
    expect((await me(a.token)).status).toBe(200); // cached now
    const out = await t.request("POST", "/v1/auth/logout", { token: a.token });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({ ended: true, id: a.id });
    const after = await me(a.token);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toContain("ended");
    expect((await me(b.token)).status).toBe(200);
    // A token has no session to end: it is told how to revoke itself instead.
    const token = await user.token(["*"]);
    const viaToken = await t.request("POST", "/v1/auth/logout", { token });
    expect(viaToken.status).toBe(409);
    expect(viaToken.body.error.message).toContain("revoke_api_token");
  });

  it("revoke_session ends another session of yours; another account's is 404 and keeps working", async () => {
    const user = await t.account();
    const stranger = await t.account();
    const a = await login(user);
    const b = await login(user);
    const theirs = await login(stranger);
    expect((await me(b.token)).status).toBe(200);
    const res = await t.request("DELETE", `/v1/me/sessions/${b.id}`, { token: a.token });
    expect(res.status).toBe(200);
    expect((await me(b.token)).status).toBe(401);
    expect((await t.request("DELETE", `/v1/me/sessions/${b.id}`, { token: a.token })).status).toBe(404); // already ended
    const cross = await t.request("DELETE", `/v1/me/sessions/${theirs.id}`, { token: a.token });
    expect(cross.status).toBe(404);
    expect((await me(theirs.token)).status).toBe(200);
    const listed = await t.request("GET", "/v1/me/sessions", { token: a.token });
    expect(listed.body.sessions.map((s: { id: string }) => s.id)).toEqual([a.id]);
  });

  it("an expired session row is refused even though its JWT is still valid", async () => {
    const user = await t.account();
    const a = await login(user);
    await t.platform.db
      .updateTable("sessions")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("id", "=", a.id)
      .execute();
    await t.platform.notifier.publish("session_ended", a.id); // drop the cached row, as any change to it would
    const res = await me(a.token);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toContain("expired");
  });
});

describe("change_password", () => {
  it("needs the current password: a wrong one is 400 naming current_password and changes nothing", async () => {
    const user = await t.account();
    const a = await login(user);
    const before = await t.platform.db
      .selectFrom("accounts")
      .select("password_hash")
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    const res = await t.request("POST", "/v1/me/password", {
      token: a.token,
      body: { current_password: "not it at all", new_password: "a brand new password" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.issues.map((i: { path: string }) => i.path)).toEqual(["current_password"]);
    const after = await t.platform.db
      .selectFrom("accounts")
      .select("password_hash")
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(after).toEqual(before);
    const short = await t.request("POST", "/v1/me/password", {
      token: a.token,
      body: { current_password: user.password, new_password: "short" },
    });
    expect(short.status).toBe(400);
    expect(short.body.error.issues.map((i: { path: string }) => i.path)).toEqual(["new_password"]);
  });

  it("changes the password, keeps the calling session, ends the others at once; tokens keep working", async () => {
    const user = await t.account();
    const a = await login(user);
    const b = await login(user);
    const token = await user.token(["account:read"]);
    expect((await me(b.token)).status).toBe(200); // cached now
    const res = await t.request("POST", "/v1/me/password", {
      token: a.token,
      body: { current_password: user.password, new_password: "a brand new password" },
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ changed: true, sessions_ended: 1 });
    expect((await me(a.token)).status).toBe(200);
    expect((await me(b.token)).status).toBe(401);
    expect((await me(token)).status).toBe(200);
    expect(
      (await t.request("POST", "/v1/auth/login", { body: { email: user.email, password: user.password } })).status,
    ).toBe(401);
    await login({ email: user.email, password: "a brand new password" });
  });
});

describe("two-factor ends the other sessions", () => {
  async function enable(user: TestAccount, token: string) {
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    const confirmed = await t.request("POST", "/v1/me/totp/confirm", {
      token,
      body: { code: await generate({ secret }) },
    });
    expect(confirmed.status).toBe(200);
    return { secret, backup: confirmed.body.backup_codes as string[] };
  }

  it("turning two-factor on ends every other session (they never gave a code); turning it off does too", async () => {
    const user = await t.account();
    const a = await login(user);
    const b = await login(user);
    expect((await me(b.token)).status).toBe(200); // cached now
    const { backup } = await enable(user, a.token);
    expect((await me(a.token)).status).toBe(200);
    const refused = await me(b.token);
    expect(refused.status).toBe(401);

    const c = await login(user, backup[0]);
    expect((await me(c.token)).status).toBe(200);
    const off = await t.request("POST", "/v1/me/totp/disable", { token: a.token, body: { code: backup[1] } });
    expect(off.status).toBe(200);
    expect((await me(c.token)).status).toBe(401);
    expect((await me(a.token)).status).toBe(200);
  });

  it("enabled through an API token, it ends every session", async () => {
    const user = await t.account();
    const a = await login(user);
    const token = await user.token(["account:write", "account:read"]);
    await enable(user, token);
    expect((await me(a.token)).status).toBe(401);
  });
});
