// Accounts: the platform's customers (and the operator, created on first start). Register, log in, me.
import crypto from "node:crypto";
import { z } from "zod";
import { creditIn } from "../billing/ledger.ts";
import { displayName, Email, iso, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, unauthorized } from "../kernel/errors.ts";
import { type DB, defineOperation } from "../kernel/operation.ts";
import { pageOf } from "../kernel/pagination.ts";
import type { Platform } from "../platform.ts";
import { type Delivery, deliverLink, issueLinkToken } from "./one-time.ts";
import { DUMMY_HASH, hashPassword, Password, verifyPassword } from "./passwords.ts";
import { checkSecondFactor } from "./totp.ts";

/** Emails a verification link; without SMTP nothing is sent (the person must not verify with a link they hand themselves). */
export async function sendVerification(platform: Platform, account: { id: string; email: string }): Promise<Delivery> {
  if (!platform.mail.configured) return { emailed: false, link: null };
  const { token, expiresAt } = await issueLinkToken(platform.db, {
    purpose: "verify_email",
    email: account.email,
    accountId: account.id,
  });
  return deliverLink(platform, {
    to: account.email,
    purpose: "verify_email",
    token,
    expiresAt,
    subject: "Confirm your email address for Bosun",
    intro: "Follow this link to confirm this address for your Bosun account:",
  });
}

export const AccountView = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    is_operator: z.boolean(),
    totp_enabled: z.boolean(),
    email_verified: z
      .boolean()
      .meta({ description: "The owner followed a link sent to this address; trial credit waits for it" }),
    created_at: Timestamp,
  })
  .meta({ id: "Account" });

type AccountRow = {
  id: string;
  email: string;
  name: string;
  is_operator: boolean;
  totp_enabled: boolean;
  email_verified_at: Date | null;
  created_at: Date;
};
export const accountView = (a: AccountRow): z.input<typeof AccountView> => ({
  id: a.id,
  email: a.email,
  name: a.name,
  is_operator: a.is_operator,
  totp_enabled: a.totp_enabled,
  email_verified: a.email_verified_at !== null,
  created_at: iso(a.created_at),
});

/**
 * Creates an account. `emailVerified`: the address is already proven (the operator's own, or an invitation
 * accepted from it); trial credit is granted only with a proven address (see markEmailVerified).
 */
export async function createAccount(
  db: DB,
  input: {
    email: string;
    name: string;
    password: string;
    isOperator?: boolean;
    emailVerified?: boolean;
    trialCreditMicros?: number;
  },
): Promise<AccountRow> {
  const passwordHash = await hashPassword(input.password);
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto("accounts")
      .values({
        id: crypto.randomUUID(),
        // Stored lowercased, as every lookup (Email) is: a capital from BOSUN_ADMIN_EMAIL must not lock the operator out.
        email: input.email.toLowerCase(),
        name: input.name,
        password_hash: passwordHash,
        is_operator: input.isOperator ?? false,
        email_verified_at: input.emailVerified ? new Date() : null,
      })
      .onConflict((oc) => oc.column("email").doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw conflict("an account with this email already exists", { field: "email" });
    if (input.trialCreditMicros && input.emailVerified && !input.isOperator) {
      await creditIn(trx, {
        accountId: row.id,
        pool: "ai_credits",
        amount: input.trialCreditMicros,
        reason: "trial",
        idempotencyKey: "trial",
      });
    }
    return row;
  });
}

/**
 * Records that the account's owner read a link sent to its address. The first time, a customer account gets its
 * trial AI credit (once: the ledger's idempotency key), in the same transaction. Returns the account row.
 */
export async function markEmailVerified(db: DB, accountId: string, trialCreditMicros: number): Promise<AccountRow> {
  return db.transaction().execute(async (trx) => {
    const fresh = await trx
      .updateTable("accounts")
      .set({ email_verified_at: new Date() })
      .where("id", "=", accountId)
      .where("email_verified_at", "is", null)
      .returningAll()
      .executeTakeFirst();
    if (fresh && trialCreditMicros > 0 && !fresh.is_operator) {
      await creditIn(trx, {
        accountId,
        pool: "ai_credits",
        amount: trialCreditMicros,
        reason: "trial",
        idempotencyKey: "trial",
      });
    }
    return (
      fresh ?? (await trx.selectFrom("accounts").selectAll().where("id", "=", accountId).executeTakeFirstOrThrow())
    );
  });
}

export const register = defineOperation({
  id: "register",
  summary: "Create an account",
  description:
    "Creates a customer account. Open only when the operator allows registration. A verification link goes to the " +
    "address (when the server sends email); the trial AI credit is granted once it is followed (verify_email).",
  tags: ["identity"],
  public: true,
  rateLimit: "auth",
  surfaces: ["rest", "cli"],
  effect: "write",
  level: "any",
  http: { method: "post", path: "/auth/register", status: 201 },
  input: z.object({ email: Email, name: displayName(100), password: Password }),
  output: AccountView,
  handler: async (ctx, input) => {
    if (!ctx.platform.config.allowRegistration) {
      throw new BosunError("forbidden", "registration is closed on this platform; ask the operator for an account");
    }
    const account = await createAccount(ctx.db, input);
    await sendVerification(ctx.platform, account).catch((err) =>
      ctx.platform.log.warn({ err: String(err) }, "verification email not sent"),
    );
    return accountView(account);
  },
});

export const login = defineOperation({
  id: "login",
  summary: "Log in and get a session token",
  description:
    "Exchanges email and password (and a TOTP or backup code when two-factor is on) for a short-lived bearer token. " +
    "Answers 401 with needs_totp: true when a code is required but missing.",
  tags: ["identity"],
  public: true,
  rateLimit: "auth",
  surfaces: ["rest", "cli", "console"],
  effect: "write",
  level: "any",
  secretOutput: true,
  http: { method: "post", path: "/auth/login" },
  input: z.object({
    email: Email,
    password: z.string().min(1).max(200),
    totp_code: z.string().max(20).optional().meta({ description: "6-digit code, or a backup code" }),
  }),
  output: z.object({
    token: z.string(),
    expires_at: Timestamp,
    session_id: z.string().meta({ description: "The session's id, as list_sessions shows it" }),
    account: AccountView,
  }),
  handler: async (ctx, input) => {
    const account = await ctx.db.selectFrom("accounts").selectAll().where("email", "=", input.email).executeTakeFirst();
    const ok = await verifyPassword(input.password, account?.password_hash ?? DUMMY_HASH);
    if (!account || !ok) throw unauthorized("invalid email or password");
    if (account.totp_enabled) {
      if (!input.totp_code) throw unauthorized("a two-factor code is required", { needs_totp: true });
      await checkSecondFactor(ctx, account, input.totp_code);
    }
    const session = await ctx.platform.auth.issueSession(account, {
      surface: ctx.principal.surface,
      clientIp: ctx.principal.clientIp,
    });
    return { ...session, account: accountView(account) };
  },
});

export const getMe = defineOperation({
  id: "get_me",
  summary: "Who am I",
  description: "The calling account and the credential in use: its kind, scopes and project restriction.",
  tags: ["identity"],
  scope: "account:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/me" },
  input: z.object({}),
  output: z.object({
    account: AccountView,
    credential: z.object({ kind: z.string(), prefix: z.string().nullable() }),
    scopes: z.array(z.string()),
    projects: z.array(z.string()).nullable(),
  }),
  handler: async (ctx) => {
    const p = ctx.principal;
    const account = await ctx.db
      .selectFrom("accounts")
      .selectAll()
      .where("id", "=", p.account.id)
      .executeTakeFirstOrThrow();
    return {
      account: accountView(account),
      credential: { kind: p.credential.kind, prefix: p.credential.kind === "token" ? p.credential.prefix : null },
      scopes: p.scopes,
      projects: p.projects,
    };
  },
});

export const listAccounts = defineOperation({
  id: "list_accounts",
  summary: "List all accounts (operator)",
  tags: ["platform"],
  scope: "platform:admin",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/admin/accounts" },
  input: z.object({
    limit: z.number().int().min(1).max(200).default(50),
    cursor: z.string().max(254).optional().meta({ description: "next_cursor of the previous page" }),
  }),
  output: z.object({ accounts: z.array(AccountView), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    let q = ctx.db
      .selectFrom("accounts")
      .selectAll()
      .orderBy("email")
      .limit(input.limit + 1);
    if (input.cursor) q = q.where("email", ">", input.cursor);
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => last.email);
    return { accounts: page.map(accountView), next_cursor };
  },
});
