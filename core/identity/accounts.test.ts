import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../../testkit/harness.ts";
import { loadConfig } from "../config.ts";
import { createAccount } from "./accounts.ts";

let t: TestPlatform;
/** Registration closed, three auth attempts a minute, client IP from X-Forwarded-For. */
let strict: TestPlatform;
beforeAll(async () => {
  [t, strict] = await Promise.all([
    startTestPlatform(),
    startTestPlatform({ config: { allowRegistration: false, authRateLimitPerMinute: 3, trustProxy: true } }),
  ]);
});
afterAll(async () => {
  await Promise.all([t?.close(), strict?.close()]);
});

const login = (p: TestPlatform, body: Record<string, unknown>, headers?: Record<string, string>) =>
  p.request("POST", "/v1/auth/login", { body, headers });

/** Sets up and confirms TOTP for an account; returns the secret, the backup codes and the time step used. */
async function enableTotp(user: TestAccount) {
  const token = await user.token(["account:write"]);
  const setup = await t.request("POST", "/v1/me/totp/setup", { token });
  expect(setup.status).toBe(200);
  const secret: string = setup.body.secret;
  const confirmed = await t.request("POST", "/v1/me/totp/confirm", {
    token,
    body: { code: await generate({ secret }) },
  });
  expect(confirmed.status).toBe(200);
  return { secret, backupCodes: confirmed.body.backup_codes as string[] };
}
/** A code for the next 30 s step: the current one was spent by confirm_totp, and a spent step is refused. */
const nextCode = (secret: string) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });

describe("register", () => {
  it("is closed by default, and refused with 403 when closed", async () => {
    expect(loadConfig({}).allowRegistration).toBe(false);
    const res = await strict.request("POST", "/v1/auth/register", {
      body: { email: "closed@example.test", name: "Closed", password: "long enough password" },
      headers: { "X-Forwarded-For": "203.0.113.1" },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("forbidden");
    const row = await strict.platform.db
      .selectFrom("accounts")
      .select("id")
      .where("email", "=", "closed@example.test")
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });

  it("creates a plain customer account when open, with the email lowercased", async () => {
    const res = await t.request("POST", "/v1/auth/register", {
      body: { email: "New.Person@Example.TEST", name: "New Person", password: "correct horse battery" },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      email: "new.person@example.test",
      name: "New Person",
      is_operator: false,
      totp_enabled: false,
    });
    expect(JSON.stringify(res.body)).not.toContain("correct horse battery");
    const row = await t.platform.db
      .selectFrom("accounts")
      .selectAll()
      .where("id", "=", res.body.id)
      .executeTakeFirstOrThrow();
    expect(row.password_hash).not.toContain("correct horse battery");
    expect(row.password_hash).toMatch(/^scrypt\$/);
    // The new account can log in.
    expect((await login(t, { email: "new.person@example.test", password: "correct horse battery" })).status).toBe(200);
  });

  it("refuses a caller who tries to make themselves operator", async () => {
    const res = await t.request("POST", "/v1/auth/register", {
      body: { email: "sneaky@example.test", name: "Sneaky", password: "long enough password", is_operator: true },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toContain("is_operator");
    const row = await t.platform.db
      .selectFrom("accounts")
      .select("id")
      .where("email", "=", "sneaky@example.test")
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });

  it("answers 409 for an email already registered, in any letter case", async () => {
    const body = { email: "twice@example.test", name: "Twice", password: "long enough password" };
    expect((await t.request("POST", "/v1/auth/register", { body })).status).toBe(201);
    const again = await t.request("POST", "/v1/auth/register", { body: { ...body, email: "TWICE@example.test" } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("conflict");
    const rows = await t.platform.db
      .selectFrom("accounts")
      .select("id")
      .where("email", "=", "twice@example.test")
      .execute();
    expect(rows).toHaveLength(1);
  });

  it("answers 400 naming password when it is too short", async () => {
    const res = await t.request("POST", "/v1/auth/register", {
      body: { email: "short@example.test", name: "Short", password: "123456789" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_error");
    expect(res.body.error.issues.map((i: { path: string }) => i.path)).toEqual(["password"]);
  });
});

describe("login", () => {
  it("returns a session token that works as a bearer", async () => {
    const user = await t.account();
    const res = await login(t, { email: user.email, password: user.password });
    expect(res.status).toBe(200);
    expect(res.body.account).toMatchObject({ id: user.id, email: user.email });
    expect(new Date(res.body.expires_at).getTime()).toBeGreaterThan(Date.now());
    const session: string = res.body.token;
    expect(session).not.toMatch(/^bsn_/);
    const me = await t.request("GET", "/v1/me", { token: session });
    expect(me.status).toBe(200);
    expect(me.body.account.id).toBe(user.id);
    expect(me.body.credential).toEqual({ kind: "session", prefix: null });
    // A tampered session is refused.
    expect((await t.request("GET", "/v1/me", { token: `${session.slice(0, -2)}xx` })).status).toBe(401);
  });

  it("finds an account created with capitals in its email (the operator's, from BOSUN_ADMIN_EMAIL)", async () => {
    await createAccount(t.platform.db, { email: "Boss@Example.TEST", name: "Boss", password: "the boss password" });
    for (const email of ["boss@example.test", "Boss@Example.TEST"]) {
      expect((await login(t, { email, password: "the boss password" })).status, email).toBe(200);
    }
    const taken = await t.request("POST", "/v1/auth/register", {
      body: { email: "boss@example.test", name: "Other", password: "long enough password" },
    });
    expect(taken.status).toBe(409);
  });

  it("answers a wrong password and an unknown email alike: 401 with the same message", async () => {
    const user = await t.account();
    const wrong = await login(t, { email: user.email, password: "not the password" });
    const unknown = await login(t, { email: "nobody-here@example.test", password: "not the password" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.error.message).toBe("invalid email or password");
  });

  it("with two-factor on: asks for the code, accepts a valid one once, and a backup code once", async () => {
    const user = await t.account();
    const { secret, backupCodes } = await enableTotp(user);

    const missing = await login(t, { email: user.email, password: user.password });
    expect(missing.status).toBe(401);
    expect(missing.body.error.needs_totp).toBe(true);
    expect(missing.body.error.token).toBeUndefined();

    // The password alone is checked first: a wrong password never reveals that a code is needed.
    const wrongPassword = await login(t, { email: user.email, password: "not the password" });
    expect(wrongPassword.status).toBe(401);
    expect(wrongPassword.body.error.needs_totp).toBeUndefined();

    const code = await nextCode(secret);
    const ok = await login(t, { email: user.email, password: user.password, totp_code: code });
    expect(ok.status).toBe(200);
    expect((await t.request("GET", "/v1/me", { token: ok.body.token })).status).toBe(200);

    const replay = await login(t, { email: user.email, password: user.password, totp_code: code });
    expect(replay.status).toBe(401);
    expect(replay.body.error.needs_totp).toBe(true);
    // An older code (the step confirm_totp used) is refused too.
    const older = await login(t, { email: user.email, password: user.password, totp_code: await generate({ secret }) });
    expect(older.status).toBe(401);

    const wrongCode = await login(t, { email: user.email, password: user.password, totp_code: "zzzzz-zzzzz" });
    expect(wrongCode.status).toBe(401);

    const backup = await login(t, { email: user.email, password: user.password, totp_code: backupCodes[3]! });
    expect(backup.status).toBe(200);
    const backupAgain = await login(t, { email: user.email, password: user.password, totp_code: backupCodes[3]! });
    expect(backupAgain.status).toBe(401);
    // Backup codes are forgiving about case and separators, and each other one still works.
    const other = await login(t, {
      email: user.email,
      password: user.password,
      totp_code: ` ${backupCodes[4]!.toUpperCase()} `,
    });
    expect(other.status).toBe(200);
    const row = await t.platform.db
      .selectFrom("accounts")
      .select("totp_backup_hashes")
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(row.totp_backup_hashes).toHaveLength(backupCodes.length - 2);
  });

  it("accepts a code only once even when the same code arrives in parallel", async () => {
    const user = await t.account();
    const { secret, backupCodes } = await enableTotp(user);
    const code = await nextCode(secret);
    for (const totp_code of [code, backupCodes[0]!]) {
      const results = await Promise.all(
        Array.from({ length: 5 }, () => login(t, { email: user.email, password: user.password, totp_code })),
      );
      expect(results.map((r) => r.status).sort(), totp_code).toEqual([200, 401, 401, 401, 401]);
    }
  });
});

describe("get_me and list_accounts", () => {
  it("get_me shows the account and the exact credential in use", async () => {
    const user = await t.account();
    const token = await user.token(["account:read", "projects:read"]);
    const me = await t.request("GET", "/v1/me", { token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      account: expect.objectContaining({ id: user.id, email: user.email, is_operator: false, totp_enabled: false }),
      credential: { kind: "token", prefix: token.slice(0, 12) },
      scopes: ["account:read", "projects:read"],
      projects: null,
    });
    expect(JSON.stringify(me.body)).not.toContain(token);
    expect((await t.request("GET", "/v1/me", { token: await user.token(["projects:read"]) })).status).toBe(403);
  });

  it("list_accounts needs platform:admin, which only the operator holds", async () => {
    const user = await t.account();
    const everything = await user.token(["*"]);
    const refused = await t.request("GET", "/v1/admin/accounts", { token: everything });
    expect(refused.status).toBe(403);
    expect(refused.body.error.required_scope).toBe("platform:admin");

    const admin = await t.operator.token(["platform:admin"]);
    const first = await t.request("GET", "/v1/admin/accounts?limit=2", { token: admin });
    expect(first.status).toBe(200);
    expect(first.body.accounts).toHaveLength(2);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    // Pages follow each other without overlap, and together list everyone.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { accounts: { email: string }[]; next_cursor: string | null } } = await t.request(
        "GET",
        `/v1/admin/accounts?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        { token: admin },
      );
      seen.push(...page.body.accounts.map((a) => a.email));
      cursor = page.body.next_cursor;
    } while (cursor);
    const all = await t.platform.db.selectFrom("accounts").select("email").orderBy("email").execute();
    expect(seen).toEqual(all.map((a) => a.email));
    expect(seen).toContain(user.email);

    // The operator's own session carries platform:admin.
    const session = await login(t, { email: t.operator.email, password: t.operator.password });
    expect((await t.request("GET", "/v1/admin/accounts", { token: session.body.token })).status).toBe(200);
    // A customer's session does not.
    const customer = await login(t, { email: user.email, password: user.password });
    expect((await t.request("GET", "/v1/admin/accounts", { token: customer.body.token })).status).toBe(403);
  });
});

describe("login rate limit", () => {
  it("allows authRateLimitPerMinute attempts per client IP, then 429 with Retry-After", async () => {
    const ip = { "X-Forwarded-For": "198.51.100.7" };
    const body = { email: "victim@example.test", password: "guess number n" };
    for (let i = 1; i <= 3; i++) {
      const res = await login(strict, body, ip);
      expect(res.status).toBe(401);
      expect(res.headers.get("x-ratelimit-limit")).toBe("3");
      expect(res.headers.get("x-ratelimit-remaining")).toBe(String(3 - i));
    }
    const limited = await login(strict, body, ip);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("rate_limited");
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("3");
    expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(limited.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);

    // Even the right password is not checked any more from this address...
    const operator = strict.operator;
    expect((await login(strict, { email: operator.email, password: operator.password }, ip)).status).toBe(429);
    // ...while another address is not affected.
    const elsewhere = await login(
      strict,
      { email: operator.email, password: operator.password },
      { "X-Forwarded-For": "198.51.100.8" },
    );
    expect(elsewhere.status).toBe(200);
  });
});
