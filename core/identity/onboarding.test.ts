// Onboarding without open registration, against a real SMTP server: the operator creates an account and the
// set-password link arrives by email; registration verifies the address before any trial credit; password reset
// answers the same for any address. Every link is one-time, hashed at rest and expiring.
import crypto from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { type SmtpFixture, startSmtpServer } from "../../testkit/smtp.ts";
import { ledgerMismatches } from "../billing/ledger.ts";
import { Email } from "../kernel/common.ts";
import { ADMIN_SCOPE } from "../kernel/scopes.ts";
import { createAccount } from "./accounts.ts";
import { issueLinkToken, sweepLinkTokens, tokenFromLink } from "./one-time.ts";

const TRIAL = 1_500_000;
let t: TestPlatform;
let smtp: SmtpFixture;
let admin: string;
beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await startTestPlatform({
    config: {
      trialCreditMicros: TRIAL,
      publicUrl: "http://bosun.test",
      mail: { smtpUrl: smtp.url, from: "Bosun <bosun@bosun.test>" },
    },
  });
  admin = await t.operator.token(["*", ADMIN_SCOPE]);
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const aiBalance = async (accountId: string) =>
  Number(
    (
      await t.platform.db
        .selectFrom("balances")
        .select("balance")
        .where("account_id", "=", accountId)
        .where("pool", "=", "ai_credits")
        .executeTakeFirst()
    )?.balance ?? 0,
  );
const login = (email: string, password: string) => t.request("POST", "/v1/auth/login", { body: { email, password } });

describe("email addresses", () => {
  it("accepts a mailbox of any domain, admin@localhost included, and refuses what is not an address", () => {
    for (const ok of ["admin@localhost", "a@b.c", "User+tag@Sub.Example.TEST"])
      expect(Email.safeParse(ok).success, ok).toBe(true);
    expect(Email.parse("Admin@LocalHost")).toBe("admin@localhost");
    for (const bad of ["admin", "a b@c", "@localhost", "a@", "a@-x", "a@b..c", `${"x".repeat(250)}@localhost`])
      expect(Email.safeParse(bad).success, bad).toBe(false);
  });

  it("the first-start owner admin@localhost can log in and be granted credit", async () => {
    const password = "a-long-enough-password";
    const owner = await createAccount(t.platform.db, {
      email: "admin@localhost",
      name: "Owner",
      password,
      isOperator: true,
      emailVerified: true,
    });
    const res = await login("admin@localhost", password);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const grant = await t.request("POST", "/v1/admin/credit", {
      token: admin,
      body: { email: "admin@localhost", pool: "ai_credits", amount_micros: 5, reason: "try it" },
    });
    expect(grant.status, JSON.stringify(grant.body)).toBe(200);
    expect(await aiBalance(owner.id)).toBe(5);
  });
});

describe("create_account (operator)", () => {
  it("emails a one-time set-password link; following it sets the password, verifies the email and grants the trial", async () => {
    const res = await t.request("POST", "/v1/admin/accounts", {
      token: admin,
      body: { email: "New.Person@Example.test", name: "New Person" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      account: { email: "new.person@example.test", email_verified: false },
      emailed: true,
      set_password_link: null,
    });
    const mail = await smtp.next("new.person@example.test");
    expect(mail.subject).toContain("Bosun");
    const link = mail.links.find((l) => l.startsWith("http://bosun.test/account/set-password#token="))!;
    expect(link).toBeTruthy();
    // Only the hash is stored; the token is nowhere in the database.
    const token = tokenFromLink(link);
    const rows = await t.platform.db
      .selectFrom("one_time_tokens")
      .selectAll()
      .where("account_id", "=", res.body.account.id)
      .execute();
    expect(rows.map((r) => r.token_hash)).toEqual([crypto.createHash("sha256").update(token).digest("hex")]);

    // The page the link opens: a static form, token read from the fragment.
    const page = await t.request("GET", new URL(link).pathname);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page.body).toContain("/v1/auth/set-password");

    // No password works before the link is used.
    expect((await login("new.person@example.test", "whatever-password")).status).toBe(401);
    const set = await t.request("POST", "/v1/auth/set-password", { body: { token, password: "chosen-password-1" } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.account).toMatchObject({ email: "new.person@example.test", email_verified: true });
    expect((await login("new.person@example.test", "chosen-password-1")).status).toBe(200);
    expect(await aiBalance(res.body.account.id)).toBe(TRIAL);

    // Single use: the same link again is refused, and changes nothing.
    const again = await t.request("POST", "/v1/auth/set-password", { body: { token, password: "attacker-password" } });
    expect(again.status).toBe(400);
    expect(again.body.error.issues[0].path).toBe("token");
    expect((await login("new.person@example.test", "chosen-password-1")).status).toBe(200);
    expect(await aiBalance(res.body.account.id)).toBe(TRIAL);
    expect(await ledgerMismatches(t.platform.db)).toEqual([]);
    // The audit keeps neither the token nor the password.
    await t.platform.audit.flush();
    const audit = await t.platform.db
      .selectFrom("audit_events")
      .select("input")
      .where("operation", "=", "set_password")
      .execute();
    expect(JSON.stringify(audit)).not.toContain(token);
    expect(JSON.stringify(audit)).not.toContain("chosen-password-1");
  });

  it("is the operator's alone, and an existing address is a conflict only the operator sees", async () => {
    const user = await t.account();
    const res = await t.request("POST", "/v1/admin/accounts", {
      token: await user.token(["*"]),
      body: { email: "x@example.test", name: "X" },
    });
    expect(res.status).toBe(403);
    expect(
      await t.platform.db.selectFrom("accounts").select("id").where("email", "=", "x@example.test").executeTakeFirst(),
    ).toBeUndefined();
    const taken = await t.request("POST", "/v1/admin/accounts", {
      token: admin,
      body: { email: user.email, name: "Dup" },
    });
    expect(taken.status).toBe(409);
  });

  it("a mail server that refuses: 502, and no account left behind that nobody can reach", async () => {
    smtp.refuse(true);
    try {
      const res = await t.request("POST", "/v1/admin/accounts", {
        token: admin,
        body: { email: "refused@example.test", name: "R" },
      });
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe("unreachable");
      expect(
        await t.platform.db
          .selectFrom("accounts")
          .select("id")
          .where("email", "=", "refused@example.test")
          .executeTakeFirst(),
      ).toBeUndefined();
    } finally {
      smtp.refuse(false);
    }
  });

  it("links used or expired long ago are swept; live ones stay", async () => {
    const user = await t.account();
    const live = await issueLinkToken(t.platform.db, {
      purpose: "reset_password",
      email: user.email,
      accountId: user.id,
    });
    const old = await issueLinkToken(t.platform.db, { purpose: "verify_email", email: user.email, accountId: user.id });
    await t.platform.db
      .updateTable("one_time_tokens")
      .set({ expires_at: new Date(Date.now() - 2 * 86_400_000) })
      .where("account_id", "=", user.id)
      .where("purpose", "=", "verify_email")
      .execute();
    expect(await sweepLinkTokens(t.platform.db)).toBeGreaterThanOrEqual(1);
    const left = await t.platform.db
      .selectFrom("one_time_tokens")
      .select("purpose")
      .where("account_id", "=", user.id)
      .execute();
    expect(left.map((r) => r.purpose)).toEqual(["reset_password"]);
    expect(live.token).not.toBe(old.token);
  });

  it("an expired link is refused like a used one", async () => {
    const res = await t.request("POST", "/v1/admin/accounts", {
      token: admin,
      body: { email: "late@example.test", name: "Late" },
    });
    const token = tokenFromLink((await smtp.next("late@example.test")).links[0]!);
    await t.platform.db
      .updateTable("one_time_tokens")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("account_id", "=", res.body.account.id)
      .execute();
    const set = await t.request("POST", "/v1/auth/set-password", { body: { token, password: "chosen-password-1" } });
    expect(set.status).toBe(400);
    expect(set.body.error.issues[0].path).toBe("token");
  });
});

describe("registration and email verification", () => {
  it("a registered account gets its trial credit only once its address is verified", async () => {
    const reg = await t.request("POST", "/v1/auth/register", {
      body: { email: "reg@example.test", name: "Reg", password: "a-long-password" },
    });
    expect(reg.status).toBe(201);
    expect(reg.body.email_verified).toBe(false);
    expect(await aiBalance(reg.body.id)).toBe(0);
    const mail = await smtp.next("reg@example.test");
    const token = tokenFromLink(mail.links.find((l) => l.includes("/account/verify-email#token="))!);
    const verified = await t.request("POST", "/v1/auth/verify-email", { body: { token } });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.account.email_verified).toBe(true);
    expect(await aiBalance(reg.body.id)).toBe(TRIAL);
    expect((await t.request("POST", "/v1/auth/verify-email", { body: { token } })).status).toBe(400);
    expect(await aiBalance(reg.body.id)).toBe(TRIAL);

    // Asking again once verified sends nothing.
    const session = (await login("reg@example.test", "a-long-password")).body.token;
    const again = await t.request("POST", "/v1/me/email-verification", { token: session });
    expect(again.body).toEqual({ already_verified: true, emailed: false });
  });

  it("a new verification link replaces the old one", async () => {
    const reg = await t.request("POST", "/v1/auth/register", {
      body: { email: "resend@example.test", name: "R", password: "a-long-password" },
    });
    const first = tokenFromLink((await smtp.next("resend@example.test")).links[0]!);
    const session = (await login("resend@example.test", "a-long-password")).body.token;
    expect((await t.request("POST", "/v1/me/email-verification", { token: session })).body).toEqual({
      already_verified: false,
      emailed: true,
    });
    const second = tokenFromLink((await smtp.next("resend@example.test")).links[0]!);
    expect((await t.request("POST", "/v1/auth/verify-email", { body: { token: first } })).status).toBe(400);
    expect((await t.request("POST", "/v1/auth/verify-email", { body: { token: second } })).status).toBe(200);
    expect(await aiBalance(reg.body.id)).toBe(TRIAL);
  });
});

describe("password reset", () => {
  it("answers the same for any address, mails only an existing account, and the link sets a new password once", async () => {
    const user = await t.account();
    const known = await t.request("POST", "/v1/auth/password-reset", { body: { email: user.email } });
    const unknown = await t.request("POST", "/v1/auth/password-reset", { body: { email: "nobody-here@example.test" } });
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual(known.body);
    expect(known.body).toEqual({ accepted: true, reset_link: null });

    const session = await login(user.email, user.password);
    expect(session.status).toBe(200);
    const mail = await smtp.next(user.email);
    const token = tokenFromLink(mail.links.find((l) => l.includes("/account/reset-password#token="))!);
    const set = await t.request("POST", "/v1/auth/set-password", { body: { token, password: "brand-new-password" } });
    expect(set.status).toBe(200);
    // The reset ends every session opened with the old password.
    expect((await t.request("GET", "/v1/me", { token: session.body.token })).status).toBe(401);
    expect((await login(user.email, user.password)).status).toBe(401);
    expect((await login(user.email, "brand-new-password")).status).toBe(200);
    expect(
      (await t.request("POST", "/v1/auth/set-password", { body: { token, password: "another-password" } })).status,
    ).toBe(400);
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages.some((m) => m.to.includes("nobody-here@example.test"))).toBe(false);
  });

  it("a reset link cannot verify an email, nor a verification link set a password", async () => {
    const user = await t.account();
    await t.request("POST", "/v1/auth/password-reset", { body: { email: user.email } });
    const token = tokenFromLink((await smtp.next(user.email)).links[0]!);
    expect((await t.request("POST", "/v1/auth/verify-email", { body: { token } })).status).toBe(400);
    expect(
      (
        await t.request("POST", "/v1/auth/set-password", {
          body: { token: "bsn_link_guessed", password: "another-password" },
        })
      ).status,
    ).toBe(400);
    expect(
      (await t.request("POST", "/v1/auth/set-password", { body: { token, password: "another-password" } })).status,
    ).toBe(200);
  });

  it("every operation that takes a link token, and every one that sends mail, is under the per-IP auth limit", () => {
    for (const id of [
      "set_password",
      "verify_email",
      "accept_invitation",
      "request_password_reset",
      "send_email_verification",
      "invite_member",
      "register",
    ]) {
      expect(t.platform.operations.get(id).rateLimit, id).toBe("auth");
    }
  });
});

describe("without SMTP", () => {
  let u: TestPlatform;
  beforeAll(async () => {
    u = await startTestPlatform({ config: { trialCreditMicros: TRIAL, publicUrl: "http://bosun.test" } });
  });
  afterAll(() => u?.close());

  it("create_account returns the link to the operator, and it works", async () => {
    const token = await u.operator.token(["*", ADMIN_SCOPE]);
    const res = await u.request("POST", "/v1/admin/accounts", {
      token,
      body: { email: "nomail@localhost", name: "No Mail" },
    });
    expect(res.status).toBe(201);
    expect(res.body.emailed).toBe(false);
    expect(res.body.set_password_link).toMatch(/^http:\/\/bosun\.test\/account\/set-password#token=bsn_link_/);
    const set = await u.request("POST", "/v1/auth/set-password", {
      body: { token: tokenFromLink(res.body.set_password_link), password: "chosen-password-1" },
    });
    expect(set.status).toBe(200);
    expect(
      (
        await u.request("POST", "/v1/auth/login", {
          body: { email: "nomail@localhost", password: "chosen-password-1" },
        })
      ).status,
    ).toBe(200);
  });

  it("a reset link goes to the operator who asks, never to a stranger", async () => {
    const user = await u.account();
    const stranger = await u.request("POST", "/v1/auth/password-reset", { body: { email: user.email } });
    expect(stranger.body).toEqual({ accepted: true, reset_link: null });
    const op = await u.request("POST", "/v1/auth/password-reset", {
      token: await u.operator.token(["*", ADMIN_SCOPE]),
      body: { email: user.email },
    });
    expect(op.body.reset_link).toMatch(/reset-password#token=/);
    // Not with a narrower token of the operator's.
    const narrow = await u.request("POST", "/v1/auth/password-reset", {
      token: await u.operator.token(["projects:read"]),
      body: { email: user.email },
    });
    expect(narrow.body).toEqual({ accepted: true, reset_link: null });
    // A registrant cannot verify themselves without a mailbox: no link is handed to them.
    const reg = await u.request("POST", "/v1/auth/register", {
      body: { email: "self@example.test", name: "S", password: "a-long-password" },
    });
    expect(reg.status).toBe(201);
    const session = (
      await u.request("POST", "/v1/auth/login", { body: { email: "self@example.test", password: "a-long-password" } })
    ).body.token;
    const ask = await u.request("POST", "/v1/me/email-verification", { token: session });
    expect(ask.status).toBe(200);
    expect(ask.body).toEqual({ already_verified: false, emailed: false });
    expect(JSON.stringify(ask.body)).not.toContain("bsn_link_");
  });
});
