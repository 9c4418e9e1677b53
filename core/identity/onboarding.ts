// Onboarding without open registration: the operator creates accounts (a one-time set-password link goes to the
// address, or back to the operator when there is no SMTP); people verify their address and reset a forgotten
// password with the same kind of link (one-time.ts). Invitations to projects are in projects/invitations.ts.
import crypto from "node:crypto";
import { z } from "zod";
import { displayName, Email, Timestamp } from "../kernel/common.ts";
import { present } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { ADMIN_SCOPE, hasScope } from "../kernel/scopes.ts";
import { AccountView, accountView, createAccount, markEmailVerified, sendVerification } from "./accounts.ts";
import { consumeLinkToken, deliverLink, issueLinkToken } from "./one-time.ts";
import { hashPassword, Password } from "./passwords.ts";
import { endSessions } from "./sessions.ts";

/** A token from a link (`…#token=bsn_link_…`): the part after `token=`. */
export const LinkToken = z
  .string()
  .min(1)
  .max(200)
  .meta({ description: "The token from the link (the part after #token=)" });

const LinkOut = z.string().nullable().meta({
  description:
    "The one-time link, only when this server sends no email (no BOSUN_SMTP_URL): pass it on to the person yourself",
});

export const createAccountOp = defineOperation({
  id: "create_account",
  summary: "Create a customer account (operator)",
  description:
    "Creates an account without opening registration. A one-time link to set its password is emailed to the address; " +
    "when the server sends no email, the link is in this answer for the operator to pass on.",
  tags: ["platform", "identity"],
  scope: "platform:admin",
  level: "account",
  effect: "write",
  secretOutput: true,
  http: { method: "post", path: "/admin/accounts", status: 201 },
  input: z.object({ email: Email, name: displayName(100) }),
  output: z.object({ account: AccountView, emailed: z.boolean(), set_password_link: LinkOut, expires_at: Timestamp }),
  handler: async (ctx, input) => {
    // A password nobody knows: the account cannot log in until its owner sets one through the link.
    const account = await createAccount(ctx.db, { ...input, password: crypto.randomBytes(32).toString("base64url") });
    const { token, expiresAt } = await issueLinkToken(ctx.db, {
      purpose: "set_password",
      email: account.email,
      accountId: account.id,
    });
    const delivery = await deliverLink(ctx.platform, {
      to: account.email,
      purpose: "set_password",
      token,
      expiresAt,
      subject: "Your Bosun account",
      intro: `An account was created for you on Bosun (${account.email}). Follow this link to choose your password:`,
    }).catch(async (err) => {
      // Not sent: remove the account nobody can reach, so the operator can simply try again.
      await ctx.db.deleteFrom("accounts").where("id", "=", account.id).execute();
      throw err;
    });
    return {
      account: accountView(account),
      emailed: delivery.emailed,
      set_password_link: delivery.link,
      expires_at: expiresAt.toISOString(),
    };
  },
});

export const setPassword = defineOperation({
  id: "set_password",
  summary: "Set a password with a one-time link",
  description:
    "Completes a set-password link (an account the operator created) or a password-reset link. Following the link " +
    "proves the address, so it also verifies the email. Two-factor, when on, stays on.",
  tags: ["identity"],
  public: true,
  // Acts on one account (the link's); a credential restricted to projects has no business here.
  level: "account",
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  http: { method: "post", path: "/auth/set-password" },
  input: z.object({ token: LinkToken, password: Password }),
  output: z.object({ account: AccountView }),
  handler: async (ctx, input) => {
    const passwordHash = await hashPassword(input.password);
    const link = await consumeLinkToken(ctx.db, ["set_password", "reset_password"], input.token);
    const accountId = present(link.account_id, "the account of a password link");
    await ctx.db.updateTable("accounts").set({ password_hash: passwordHash }).where("id", "=", accountId).execute();
    // Whoever knew the old password is logged out everywhere (a reset is how an owner gets an intruder out).
    await endSessions(ctx.platform, accountId, "password_reset");
    // Any other reset link still in the mailbox is spent too.
    await ctx.db
      .updateTable("one_time_tokens")
      .set({ used_at: new Date() })
      .where("account_id", "=", accountId)
      .where("purpose", "in", ["set_password", "reset_password"])
      .where("used_at", "is", null)
      .execute();
    return {
      account: accountView(await markEmailVerified(ctx.db, accountId, ctx.platform.config.trialCreditMicros)),
    };
  },
});

export const verifyEmail = defineOperation({
  id: "verify_email",
  summary: "Verify an email address with a one-time link",
  description:
    "Completes the link sent by register or send_email_verification. The first verification grants the trial AI credit.",
  tags: ["identity"],
  public: true,
  // Acts on one account (the link's); a credential restricted to projects has no business here.
  level: "account",
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  http: { method: "post", path: "/auth/verify-email" },
  input: z.object({ token: LinkToken }),
  output: z.object({ account: AccountView }),
  handler: async (ctx, input) => {
    const link = await consumeLinkToken(ctx.db, ["verify_email"], input.token);
    const accountId = present(link.account_id, "the account of a verify_email link");
    return {
      account: accountView(await markEmailVerified(ctx.db, accountId, ctx.platform.config.trialCreditMicros)),
    };
  },
});

export const sendEmailVerification = defineOperation({
  id: "send_email_verification",
  summary: "Send a new email verification link",
  description:
    "Emails a fresh verification link to your address (earlier links stop working). On a server that sends no email, " +
    "nothing is sent (emailed: false): ask the operator.",
  tags: ["identity"],
  scope: "account:write",
  level: "account",
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  http: { method: "post", path: "/me/email-verification" },
  input: z.object({}),
  output: z.object({ already_verified: z.boolean(), emailed: z.boolean() }),
  handler: async (ctx) => {
    const account = await ctx.db
      .selectFrom("accounts")
      .selectAll()
      .where("id", "=", ctx.principal.account.id)
      .executeTakeFirstOrThrow();
    if (account.email_verified_at) return { already_verified: true, emailed: false };
    // Without SMTP nothing is sent (emailed: false), and the link is never handed to the account itself.
    const sent = await sendVerification(ctx.platform, account);
    return { already_verified: false, emailed: sent.emailed };
  },
});

export const requestPasswordReset = defineOperation({
  id: "request_password_reset",
  summary: "Ask for a password-reset link",
  description:
    "Emails a one-time reset link (valid one hour) when the address has an account. The answer is the same whether it " +
    "has one or not. The operator, when the server sends no email, gets the link in the answer to pass on.",
  tags: ["identity"],
  public: true,
  // Acts on one account (the link's); a credential restricted to projects has no business here.
  level: "account",
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  secretOutput: true,
  http: { method: "post", path: "/auth/password-reset" },
  input: z.object({ email: Email }),
  output: z.object({ accepted: z.literal(true), reset_link: LinkOut }),
  handler: async (ctx, input) => {
    // The operator's full-power credential only: a narrower token of the operator's must not mint reset links.
    const p = ctx.principal;
    const forOperator =
      !!p.account?.isOperator &&
      hasScope(p.scopes, ADMIN_SCOPE) &&
      p.projects === null &&
      !ctx.platform.mail.configured;
    const account = await ctx.db
      .selectFrom("accounts")
      .select(["id", "email"])
      .where("email", "=", input.email)
      .executeTakeFirst();
    if (!account || (!ctx.platform.mail.configured && !forOperator))
      return { accepted: true as const, reset_link: null };
    const { token, expiresAt } = await issueLinkToken(ctx.db, {
      purpose: "reset_password",
      email: account.email,
      accountId: account.id,
    });
    const send = deliverLink(ctx.platform, {
      to: account.email,
      purpose: "reset_password",
      token,
      expiresAt,
      subject: "Reset your Bosun password",
      intro:
        "Someone (hopefully you) asked to reset the password of your Bosun account. Follow this link to choose a new one:",
    });
    if (forOperator) return { accepted: true as const, reset_link: (await send).link };
    // Not awaited: how long the mail server takes must not tell a stranger whether the address has an account.
    send.catch((err) => ctx.platform.log.warn({ err: String(err) }, "password reset email not sent"));
    return { accepted: true as const, reset_link: null };
  },
});

export const onboardingOperations = [
  createAccountOp,
  setPassword,
  verifyEmail,
  sendEmailVerification,
  requestPasswordReset,
];
