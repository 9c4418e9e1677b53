// Everything the bot sends to one chat goes through that chat's outbox: one call at a time, at least
// `minIntervalMs` apart (Telegram allows about one message per second per chat), and a 429 is waited out for
// the `retry_after` it names, then retried — a bounded number of times. Sends with markup fall back to plain
// text when Telegram rejects the markup.
import type { Telegram } from "telegraf";
import type { InlineKeyboardMarkup } from "telegraf/types";

export interface OutboxOptions {
  minIntervalMs: number;
  /** Longest 429 wait honoured; a longer one gives up on this call (the next flush tries again). */
  maxRetryAfterMs?: number;
  attempts?: number;
}

export interface Rendered {
  html: string;
  plain: string;
  keyboard?: InlineKeyboardMarkup;
}

interface TgError {
  code?: number;
  response?: { error_code?: number; description?: string; parameters?: { retry_after?: number } };
  description?: string;
}
const errorCode = (err: unknown) => (err as TgError).response?.error_code ?? (err as TgError).code;
const description = (err: unknown) =>
  (err as TgError).response?.description ?? (err as TgError).description ?? String((err as Error).message ?? err);
export const isNotModified = (err: unknown) =>
  errorCode(err) === 400 && /message is not modified/i.test(description(err));
const isBadMarkup = (err: unknown) =>
  errorCode(err) === 400 && /can't parse entities|unsupported start tag|can't find end tag/i.test(description(err));

export class ChatOutbox {
  private chain: Promise<unknown> = Promise.resolve();
  private lastCallAt = 0;

  constructor(
    private readonly telegram: Telegram,
    readonly chatId: number,
    private readonly options: OutboxOptions,
  ) {}

  /** Runs `fn` when the chat's previous call is done and the interval has passed, retrying 429s. */
  call<T>(fn: (tg: Telegram) => Promise<T>): Promise<T> {
    const next = this.chain.then(() => this.withRetry(fn));
    this.chain = next.catch(() => {});
    return next;
  }

  private async withRetry<T>(fn: (tg: Telegram) => Promise<T>): Promise<T> {
    const attempts = this.options.attempts ?? 5;
    for (let i = 1; ; i++) {
      const wait = this.lastCallAt + this.options.minIntervalMs - Date.now();
      if (wait > 0) await sleep(wait);
      this.lastCallAt = Date.now();
      try {
        return await fn(this.telegram);
      } catch (err) {
        const retryAfter = (err as TgError).response?.parameters?.retry_after;
        if (errorCode(err) !== 429 || i >= attempts) throw err;
        const ms = (retryAfter ?? 1) * 1000;
        if (ms > (this.options.maxRetryAfterMs ?? 60_000)) throw err;
        this.lastCallAt = Date.now() + ms - this.options.minIntervalMs; // the next call waits out the flood control
      }
    }
  }

  /** Sends a message as HTML, or as plain text when Telegram refuses the markup. Returns its id and mode. */
  async send(r: Rendered): Promise<{ messageId: number; plain: boolean }> {
    const extra = r.keyboard ? { reply_markup: r.keyboard } : {};
    try {
      const m = await this.call((tg) =>
        tg.sendMessage(this.chatId, r.html, {
          parse_mode: "HTML",
          link_preview_options: { is_disabled: true },
          ...extra,
        }),
      );
      return { messageId: m.message_id, plain: false };
    } catch (err) {
      if (!isBadMarkup(err)) throw err;
      const m = await this.call((tg) =>
        tg.sendMessage(this.chatId, r.plain, { link_preview_options: { is_disabled: true }, ...extra }),
      );
      return { messageId: m.message_id, plain: true };
    }
  }

  /** Replaces a message's text (and keyboard: none unless given). Unchanged content is not an error. */
  async edit(messageId: number, r: Rendered, plain = false): Promise<{ plain: boolean }> {
    const extra = { link_preview_options: { is_disabled: true }, ...(r.keyboard ? { reply_markup: r.keyboard } : {}) };
    try {
      if (plain) await this.call((tg) => tg.editMessageText(this.chatId, messageId, undefined, r.plain, extra));
      else
        await this.call((tg) =>
          tg.editMessageText(this.chatId, messageId, undefined, r.html, { parse_mode: "HTML", ...extra }),
        );
      return { plain };
    } catch (err) {
      if (isNotModified(err)) return { plain };
      if (plain || !isBadMarkup(err)) throw err;
      return this.edit(messageId, r, true);
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
