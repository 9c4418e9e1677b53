// One-time links: set a password (an account the operator created), verify an email, reset a password, accept an
// invitation. One mechanism for all four: 32 random bytes shown once (in an email, or to the operator or inviter
// when there is no SMTP), only their SHA-256 stored, single use (one guarded UPDATE), expiring. The operations that
// take a token are rate-limited per client IP by the invoker (`rateLimit: "auth"`).
import crypto from "node:crypto";
import { sql } from "kysely";
import type { OneTimePurpose } from "../../schema/database.ts";
import { validationError } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";

const HOUR = 3600_000;
export const ONE_TIME_TTL_MS: Record<OneTimePurpose, number> = {
  set_password: 7 * 24 * HOUR,
  verify_email: 3 * 24 * HOUR,
  // Short: a reset link in an old mailbox backup must not take over the account.
  reset_password: 1 * HOUR,
  invitation: 7 * 24 * HOUR,
};

const PREFIX = "bsn_link_";
export const hashLinkToken = (token: string) => crypto.createHash("sha256").update(token).digest("hex");

/**
 * Issues a token. Only the newest link of a purpose works: earlier unused ones for the same account (or the same
 * invitation) are spent, so a resend does not leave several live links in a mailbox.
 */
export async function issueLinkToken(
  db: DB,
  t: { purpose: OneTimePurpose; email: string; accountId?: string | null; invitationId?: string | null },
): Promise<{ token: string; expiresAt: Date }> {
  const token = PREFIX + crypto.randomBytes(32).toString("base64url");
  const expiresAt = new Date(Date.now() + ONE_TIME_TTL_MS[t.purpose]);
  await db.transaction().execute(async (trx) => {
    let spend = trx
      .updateTable("one_time_tokens")
      .set({ used_at: new Date() })
      .where("purpose", "=", t.purpose)
      .where("used_at", "is", null);
    if (t.invitationId) spend = spend.where("invitation_id", "=", t.invitationId);
    else if (t.accountId) spend = spend.where("account_id", "=", t.accountId);
    if (t.invitationId || t.accountId) await spend.execute();
    await trx
      .insertInto("one_time_tokens")
      .values({
        id: crypto.randomUUID(),
        purpose: t.purpose,
        token_hash: hashLinkToken(token),
        email: t.email,
        account_id: t.accountId ?? null,
        invitation_id: t.invitationId ?? null,
        expires_at: expiresAt,
      })
      .execute();
  });
  return { token, expiresAt };
}

/** Why every bad token is refused the same way: used, expired, unknown or of another purpose look alike. */
export const invalidLink = () =>
  validationError([{ path: "token", message: "this link is invalid, already used or expired; ask for a new one" }]);

/** Spends a token of one of `purposes` (once: a concurrent second use finds it spent) and returns its row. */
export async function consumeLinkToken(db: DB, purposes: OneTimePurpose[], token: string) {
  if (!token.startsWith(PREFIX)) throw invalidLink();
  const row = await db
    .updateTable("one_time_tokens")
    .set({ used_at: new Date() })
    .where("token_hash", "=", hashLinkToken(token))
    .where("purpose", "in", purposes)
    .where("used_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw invalidLink();
  return row;
}

/** Looks at a token without spending it (to decide what the person must still supply). */
export async function peekLinkToken(db: DB, purposes: OneTimePurpose[], token: string) {
  if (!token.startsWith(PREFIX)) throw invalidLink();
  const row = await db
    .selectFrom("one_time_tokens")
    .selectAll()
    .where("token_hash", "=", hashLinkToken(token))
    .where("purpose", "in", purposes)
    .where("used_at", "is", null)
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  if (!row) throw invalidLink();
  return row;
}

const PAGE: Record<OneTimePurpose, string> = {
  set_password: "set-password",
  verify_email: "verify-email",
  reset_password: "reset-password",
  invitation: "accept-invitation",
};

/**
 * The link a person follows: a small page of this server that reads the token from the fragment (never sent in a
 * request line, so it stays out of access logs and Referer headers) and posts it to the matching operation.
 */
export function linkUrl(platform: Platform, purpose: OneTimePurpose, token: string): string {
  const base = platform.config.publicUrl ?? "http://localhost:8787";
  return `${base}/account/${PAGE[purpose]}#token=${token}`;
}

/** The token inside a link (or the token itself), for clients that received the link as text. */
export function tokenFromLink(link: string): string {
  const m = /#token=([\w-]+)/.exec(link);
  return m?.[1] ?? link;
}

export interface Delivery {
  /** Whether the link went out by email. */
  emailed: boolean;
  /** The link, only when it could not be emailed (no SMTP): for the operator or inviter to pass on. */
  link: string | null;
}

/** Emails a link, or returns it to the caller when there is no SMTP. Never inside a transaction (a network call). */
export async function deliverLink(
  platform: Platform,
  m: { to: string; purpose: OneTimePurpose; token: string; subject: string; intro: string; expiresAt: Date },
): Promise<Delivery> {
  const link = linkUrl(platform, m.purpose, m.token);
  if (!platform.mail.configured) return { emailed: false, link };
  await platform.mail.send({
    to: m.to,
    subject: m.subject,
    text: `${m.intro}\n\n${link}\n\nThe link works once and expires at ${m.expiresAt.toISOString()}. If you did not expect this email, ignore it.\n`,
  });
  return { emailed: true, link: null };
}

/** Deletes links used or expired more than a day ago (hourly, from the platform's sweeper); returns how many. */
export async function sweepLinkTokens(db: DB, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - 86_400_000);
  const res = await db
    .deleteFrom("one_time_tokens")
    .where((eb) => eb.or([eb("used_at", "<", before), eb("expires_at", "<", before)]))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
