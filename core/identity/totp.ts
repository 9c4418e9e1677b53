// Optional TOTP two-factor: set up (secret shown once), confirm with a first code (backup codes shown once),
// disable with a code. Secrets are encrypted at rest; backup codes are kept only as hashes and work once;
// a TOTP code is accepted once (its time step is remembered).
import crypto from "node:crypto";
import { sql } from "kysely";
import { generateSecret, generateURI, verify } from "otplib";
import { z } from "zod";
import type { Account } from "../../schema/database.ts";
import { BosunError, conflict, unauthorized } from "../kernel/errors.ts";
import { type AuthedContext, type Context, defineOperation } from "../kernel/operation.ts";
import { sha256 } from "../secrets.ts";
import { endOtherSessions } from "./sessions.ts";

const Code = z.string().min(6).max(20).meta({ description: "6-digit TOTP code, or a backup code" });
const BACKUP_CODES = 10;

const newBackupCode = () => {
  const raw = crypto.randomBytes(5).toString("hex"); // 10 hex chars
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
};
const normalizeBackup = (code: string) =>
  code
    .trim()
    .toLowerCase()
    .replace(/[^0-9a-f]/g, "");

/** Verifies a TOTP or backup code for `account`, consuming it. Throws 401 when it does not match. */
export async function checkSecondFactor(
  ctx: Context,
  account: Account,
  code: string,
  secretEnc = account.totp_secret_enc,
) {
  if (!secretEnc) throw unauthorized("two-factor is not set up");
  const trimmed = code.replace(/\s/g, "");
  if (/^\d{6}$/.test(trimmed)) {
    const lastStep = account.totp_last_step === null ? undefined : Number(account.totp_last_step);
    const result = await verify({
      secret: ctx.platform.secrets.decrypt(secretEnc),
      token: trimmed,
      epochTolerance: 30,
      ...(lastStep !== undefined ? { afterTimeStep: lastStep } : {}),
    }).catch(() => ({ valid: false as const }));
    if (result.valid && "timeStep" in result) {
      // Spent only if no later step was: conditional, so parallel requests carrying one code cannot all pass.
      const spent = await ctx.db
        .updateTable("accounts")
        .set({ totp_last_step: result.timeStep })
        .where("id", "=", account.id)
        .where((eb) =>
          eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", sql<string>`${result.timeStep}`)]),
        )
        .executeTakeFirst();
      if (spent.numUpdatedRows === 1n) return;
    }
  } else {
    const hash = sha256(normalizeBackup(trimmed));
    if (account.totp_backup_hashes.includes(hash)) {
      // Removed only if still there, in one statement, so a backup code works once even in parallel.
      const spent = await ctx.db
        .updateTable("accounts")
        .set({ totp_backup_hashes: sql<string[]>`array_remove(totp_backup_hashes, ${hash})` })
        .where("id", "=", account.id)
        .where(sql<boolean>`${hash} = any(totp_backup_hashes)`)
        .executeTakeFirst();
      if (spent.numUpdatedRows === 1n) return;
    }
  }
  throw unauthorized("the two-factor code is not valid", { needs_totp: true });
}

const loadAccount = (ctx: AuthedContext) =>
  ctx.db.selectFrom("accounts").selectAll().where("id", "=", ctx.principal.account.id).executeTakeFirstOrThrow();

export const setupTotp = defineOperation({
  id: "setup_totp",
  summary: "Start two-factor setup",
  description: "Returns a new TOTP secret and otpauth:// URI (shown once). Two-factor is on only after confirm_totp.",
  tags: ["identity", "security"],
  scope: "account:write",
  effect: "write",
  level: "account",
  secretOutput: true,
  http: { method: "post", path: "/me/totp/setup" },
  input: z.object({}),
  output: z.object({ secret: z.string(), otpauth_uri: z.string() }),
  handler: async (ctx) => {
    const account = await loadAccount(ctx);
    if (account.totp_enabled) throw conflict("two-factor is already enabled; disable it first");
    const secret = generateSecret();
    await ctx.db
      .updateTable("accounts")
      .set({ totp_secret_enc: ctx.platform.secrets.encrypt(secret), totp_last_step: null })
      .where("id", "=", account.id)
      .execute();
    return { secret, otpauth_uri: generateURI({ issuer: "Bosun", label: account.email, secret }) };
  },
});

export const confirmTotp = defineOperation({
  id: "confirm_totp",
  summary: "Turn two-factor on",
  description:
    "Confirms setup with a current code from the authenticator app; returns one-time backup codes (shown once). " +
    "Ends every other login session of the account.",
  tags: ["identity", "security"],
  scope: "account:write",
  effect: "write",
  level: "account",
  rateLimit: "auth",
  secretOutput: true,
  http: { method: "post", path: "/me/totp/confirm" },
  input: z.object({ code: Code }),
  output: z.object({ enabled: z.literal(true), backup_codes: z.array(z.string()) }),
  handler: async (ctx, input) => {
    const account = await loadAccount(ctx);
    if (account.totp_enabled) throw conflict("two-factor is already enabled");
    if (!account.totp_secret_enc) throw new BosunError("conflict", "call setup_totp first");
    if (!/^\d{6}$/.test(input.code.trim())) throw unauthorized("enter the 6-digit code from your authenticator app");
    await checkSecondFactor(ctx, account, input.code);
    const codes = Array.from({ length: BACKUP_CODES }, newBackupCode);
    await ctx.db
      .updateTable("accounts")
      .set({ totp_enabled: true, totp_backup_hashes: codes.map((c) => sha256(normalizeBackup(c))) })
      .where("id", "=", account.id)
      .execute();
    // A session opened before two-factor was on never gave a code: it must log in again.
    await endOtherSessions(ctx, "two_factor_changed");
    return { enabled: true as const, backup_codes: codes };
  },
});

export const disableTotp = defineOperation({
  id: "disable_totp",
  summary: "Turn two-factor off",
  description: "Needs a current code. Ends every other login session of the account.",
  tags: ["identity", "security"],
  scope: "account:write",
  effect: "destructive",
  level: "account",
  rateLimit: "auth",
  http: { method: "post", path: "/me/totp/disable" },
  input: z.object({ code: Code }),
  output: z.object({ enabled: z.literal(false) }),
  handler: async (ctx, input) => {
    const account = await loadAccount(ctx);
    if (!account.totp_enabled) throw conflict("two-factor is not enabled");
    await checkSecondFactor(ctx, account, input.code);
    await ctx.db
      .updateTable("accounts")
      .set({ totp_enabled: false, totp_secret_enc: null, totp_backup_hashes: [], totp_last_step: null })
      .where("id", "=", account.id)
      .execute();
    await endOtherSessions(ctx, "two_factor_changed");
    return { enabled: false as const };
  },
});
