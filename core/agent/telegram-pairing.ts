// Pairing codes: a Telegram chat proves it belongs to a Bosun user by showing a short one-time code that the
// user then enters with their own credential (link_telegram_chat). Bare chat ids are never accepted: anyone can
// name a chat id, only the chat sees its code. Codes are stored as keyed hashes, used once, expire in 10 minutes,
// and each chat holds at most one live code.
import crypto from "node:crypto";
import { BosunError, rateLimited, validationError } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";

export const CODE_TTL_MS = 10 * 60_000;
/** No 0/O, 1/I: a code is read off a phone screen and typed elsewhere. 32 symbols, 8 of them: 40 bits. */
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH = 8;
/** Codes a chat may ask for per minute. */
const ISSUE_PER_MINUTE = 3;
/** Code entries (right or wrong) an account may make per minute, on top of the per-IP `auth` limit. */
export const ENTRIES_PER_MINUTE = 10;

export interface TelegramChat {
  chatId: number | string;
  chatType: string;
  userId: number | string;
  username?: string | null;
}

/** Upper-case, no separators: `abcd-efgh` and `ABCDEFGH` are the same code. */
export const normalizeCode = (code: string) => code.toUpperCase().replace(/[\s-]/g, "");

function codeHash(platform: Pick<Platform, "secrets">, code: string): string {
  // Keyed, so a leaked table of 40-bit codes cannot be reversed by trying them all offline.
  return crypto
    .createHmac("sha256", platform.secrets.deriveKey("telegram-pairing"))
    .update(normalizeCode(code))
    .digest("hex");
}

function randomCode(): string {
  const bytes = crypto.randomBytes(CODE_LENGTH);
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join(""); // 256 % 32 == 0: no bias
}

/** A fresh code for a private chat, replacing any live one it had. Rate-limited per chat. */
export async function issuePairingCode(
  platform: Platform,
  chat: TelegramChat,
): Promise<{ code: string; expiresAt: Date }> {
  if (chat.chatType !== "private") throw new BosunError("forbidden", "only private chats can be linked");
  const state = await platform.securityLimiter.take(`telegram-pair:${chat.chatId}`, ISSUE_PER_MINUTE);
  if (!state.allowed) throw rateLimited(state.retryAfter);
  const code = randomCode();
  const expiresAt = new Date(Date.now() + CODE_TTL_MS);
  await platform.db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom("telegram_pairing_codes")
      .where("chat_id", "=", String(chat.chatId))
      .where("used_at", "is", null)
      .execute();
    // Expired and used codes of every chat are worth nothing: sweep them while we are here.
    await trx
      .deleteFrom("telegram_pairing_codes")
      .where("expires_at", "<", new Date(Date.now() - CODE_TTL_MS))
      .execute();
    await trx
      .insertInto("telegram_pairing_codes")
      .values({
        code_hash: codeHash(platform, code),
        chat_id: String(chat.chatId),
        chat_type: chat.chatType,
        telegram_user_id: String(chat.userId),
        telegram_username: chat.username ?? null,
        expires_at: expiresAt,
      })
      .execute();
  });
  return { code: `${code.slice(0, 4)}-${code.slice(4)}`, expiresAt };
}

/**
 * Consumes a code inside `trx`: the chat it was issued to, or a typed error. The guarded UPDATE makes it
 * single-use even when two callers race with the same code.
 */
export async function consumePairingCode(platform: Platform, trx: DB, code: string) {
  const row = await trx
    .updateTable("telegram_pairing_codes")
    .set({ used_at: new Date() })
    .where("code_hash", "=", codeHash(platform, code))
    .where("used_at", "is", null)
    .where("expires_at", ">", new Date())
    .returning(["chat_id", "chat_type", "telegram_user_id", "telegram_username"])
    .executeTakeFirst();
  if (row) return row;
  // One answer for unknown, used and expired codes: which one it was would help a guesser.
  throw validationError(
    [{ path: "code", message: "invalid, expired or already used" }],
    "this pairing code is not valid: it is wrong, expired or already used; send /start to the bot for a new one",
  );
}
