// Login sessions as first-class credentials: listed, ended by their holder (logout) or from another session
// (revoke_session), and ended together when the password or two-factor changes, so whoever held a stolen
// session is out at once. Ending publishes on SESSION_END_TOPIC: every process drops its cached entry, and the
// session's next call fails with 401 wherever it lands.
import { z } from "zod";
import type { SessionEndReason } from "../../schema/database.ts";
import { iso, isoOrNull, Timestamp } from "../kernel/common.ts";
import { conflict, notFound, validationError } from "../kernel/errors.ts";
import { type AuthedContext, type DB, defineOperation, type Principal } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { SESSION_END_TOPIC } from "./authenticate.ts";
import { hashPassword, Password, verifyPassword } from "./passwords.ts";

/**
 * Ends an account's live sessions (all, all but `except`, or only `only`) and tells every process. Returns the
 * ids ended. Password reset and any other "get the intruder out" flow should call this.
 */
export async function endSessions(
  platform: Pick<Platform, "notifier"> & { db: DB },
  accountId: string,
  reason: SessionEndReason,
  opts: { except?: string | null; only?: string } = {},
): Promise<string[]> {
  const rows = await platform.db
    .updateTable("sessions")
    .set({ ended_at: new Date(), end_reason: reason })
    .where("account_id", "=", accountId)
    .where("ended_at", "is", null)
    .$call((q) => (opts.except ? q.where("id", "!=", opts.except) : q))
    .$call((q) => (opts.only ? q.where("id", "=", opts.only) : q))
    .returning("id")
    .execute();
  for (const { id } of rows) await platform.notifier.publish(SESSION_END_TOPIC, id);
  return rows.map((r) => r.id);
}

/** The calling session's id, if the call came with a login session (not a token). */
export const currentSession = (p: Principal): string | null =>
  p.credential?.kind === "session" ? p.credential.id : null;

/** Ends every session of the caller's account but the one making the call (after a password or two-factor change). */
export const endOtherSessions = (ctx: AuthedContext, reason: SessionEndReason) =>
  endSessions(ctx.platform, ctx.principal.account.id, reason, { except: currentSession(ctx.principal) });

const Session = z
  .object({
    id: z.string(),
    surface: z.string().meta({ description: "Where the login happened (rest, cli)" }),
    client_ip: z.string().nullable(),
    created_at: Timestamp,
    expires_at: Timestamp,
    last_used_at: Timestamp.nullable().meta({ description: "To the minute" }),
    current: z.boolean().meta({ description: "The session making this call" }),
  })
  .meta({ id: "Session" });

export const listSessions = defineOperation({
  id: "list_sessions",
  summary: "List your login sessions",
  description: "The sessions of your account that have not ended or expired, newest first.",
  tags: ["identity", "security"],
  scope: "account:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/me/sessions" },
  input: z.object({}),
  output: z.object({ sessions: z.array(Session) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("sessions")
      .selectAll()
      .where("account_id", "=", ctx.principal.account.id)
      .where("ended_at", "is", null)
      .where("expires_at", ">", new Date())
      .orderBy("created_at", "desc")
      .limit(1000)
      .execute();
    const current = currentSession(ctx.principal);
    return {
      sessions: rows.map((r) => ({
        id: r.id,
        surface: r.surface,
        client_ip: r.client_ip,
        created_at: iso(r.created_at),
        expires_at: iso(r.expires_at),
        last_used_at: isoOrNull(r.last_used_at),
        current: r.id === current,
      })),
    };
  },
});

export const revokeSession = defineOperation({
  id: "revoke_session",
  summary: "End one of your login sessions",
  description: "Takes effect at once, on every Bosun process: the session's next call fails with 401.",
  tags: ["identity", "security"],
  scope: "account:write",
  effect: "destructive",
  level: "account",
  http: { method: "delete", path: "/me/sessions/{id}" },
  input: z.object({ id: z.uuid() }),
  output: z.object({ ended: z.literal(true), id: z.string() }),
  handler: async (ctx, input) => {
    const [id] = await endSessions(ctx.platform, ctx.principal.account.id, "revoked", { only: input.id });
    if (!id) throw notFound("session", input.id);
    return { ended: true as const, id };
  },
});

export const logout = defineOperation({
  id: "logout",
  summary: "Log out",
  description:
    "Ends the login session making this call, on every Bosun process. API tokens are revoked with revoke_api_token.",
  tags: ["identity", "security"],
  scope: "account:read",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/auth/logout" },
  input: z.object({}),
  output: z.object({ ended: z.literal(true), id: z.string() }),
  handler: async (ctx) => {
    const current = currentSession(ctx.principal);
    if (!current)
      throw conflict("this call uses an API token, not a login session: revoke a token with revoke_api_token");
    await endSessions(ctx.platform, ctx.principal.account.id, "logout", { only: current });
    return { ended: true as const, id: current };
  },
});

export const changePassword = defineOperation({
  id: "change_password",
  summary: "Change your password",
  description:
    "Needs the current password. Ends every other login session of the account (the calling session, if it is " +
    "one, stays); API tokens are not affected.",
  tags: ["identity", "security"],
  scope: "account:write",
  effect: "write",
  level: "account",
  rateLimit: "auth",
  http: { method: "post", path: "/me/password" },
  input: z.object({ current_password: z.string().min(1).max(200), new_password: Password }),
  output: z.object({ changed: z.literal(true), sessions_ended: z.number().int() }),
  handler: async (ctx, input) => {
    const accountId = ctx.principal.account.id;
    const account = await ctx.db
      .selectFrom("accounts")
      .select("password_hash")
      .where("id", "=", accountId)
      .executeTakeFirstOrThrow();
    if (!(await verifyPassword(input.current_password, account.password_hash))) {
      throw validationError([{ path: "current_password", message: "is not your current password" }]);
    }
    const hash = await hashPassword(input.new_password);
    // Only if the password is still the one just checked: two changes racing cannot both pass on one old password.
    const changed = await ctx.db
      .updateTable("accounts")
      .set({ password_hash: hash })
      .where("id", "=", accountId)
      .where("password_hash", "=", account.password_hash)
      .executeTakeFirst();
    if (changed.numUpdatedRows !== 1n) throw conflict("the password was changed meanwhile; try again");
    const ended = await endOtherSessions(ctx, "password_changed");
    return { changed: true as const, sessions_ended: ended.length };
  },
});

export const sessionOperations = [listSessions, revokeSession, logout, changePassword];
