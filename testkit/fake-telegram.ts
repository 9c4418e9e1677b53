// A fake Telegram Bot API speaking the real wire protocol, so the real telegraf client is exercised:
// `POST /bot<token>/<method>` with JSON bodies, `{ok:true, result}` / `{ok:false, error_code, description,
// parameters?}` envelopes, getUpdates long-polling with `offset` confirmation, a webhook (setWebhook: updates are
// POSTed to the URL with X-Telegram-Bot-Api-Secret-Token, and getUpdates answers 409 meanwhile), sendMessage,
// editMessageText / editMessageReplyMarkup (HTML parse_mode checked, 4096-character limit after entity parsing,
// "message is not modified"), answerCallbackQuery, getMe, deleteWebhook. Tests inject updates (messages and
// button presses from given users and chats), read what the bot sent, and script 429s with retry_after.
//
//   const tg = await startFakeTelegram();
//   const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.url } });
//   tg.sendText({ chat: 42, from: 7, text: "/start" });
//   const reply = await tg.waitForMessage((m) => m.chat_id === 42);
import { type FakeServer, sendJson, startFakeServer } from "./fake-server.ts";

export interface TgUser {
  id: number;
  is_bot: false;
  first_name: string;
  username?: string;
}

export interface SentMessage {
  message_id: number;
  chat_id: number;
  /** The text as the user sees it (tags stripped, entities decoded). */
  text: string;
  /** The text as the bot sent it. */
  raw: string;
  parse_mode: string | null;
  reply_markup: { inline_keyboard?: { text: string; callback_data?: string }[][] } | null;
  /** Every text the message had, first the original, then each edit. */
  history: string[];
}

export interface CallbackAnswer {
  callback_query_id: string;
  text?: string;
  show_alert?: boolean;
}

export interface FakeTelegram extends FakeServer {
  token: string;
  /** Every message the bot sent, in order (edits update them in place and append to `history`). */
  messages: SentMessage[];
  answers: CallbackAnswer[];
  webhook: { url: string; secret_token?: string } | null;
  /** A message from `from` in `chat` (private unless `chatType` says otherwise). Returns the update id. */
  sendText(opts: {
    chat: number;
    from: number;
    text: string;
    chatType?: "private" | "group" | "supergroup";
    username?: string;
  }): number;
  /** A press of an inline button carrying `data` on the bot's message `messageId`. Returns the callback query id. */
  pressButton(opts: { chat: number; from: number; messageId: number; data: string }): string;
  /** The next `count` calls of `method` fail with 429 and `retry_after` seconds. */
  throttleNext(method: string, retryAfter: number, count?: number): void;
  /** How many 429s were answered, per method. */
  throttled: Record<string, number>;
  /** Every Bot API call with its time and HTTP status, in order. */
  calls: { method: string; at: number; status: number }[];
  /** The next `count` sends or edits with parse_mode HTML are refused as bad markup (as Telegram does for markup it cannot parse). */
  rejectMarkupNext(count?: number): void;
  messagesIn(chat: number): SentMessage[];
  /** Waits (bounded) until `predicate` holds for some message; returns it. */
  waitForMessage(predicate: (m: SentMessage) => boolean, timeoutMs?: number): Promise<SentMessage>;
  waitFor<T>(probe: () => T | undefined | false | null, timeoutMs?: number): Promise<T>;
}

const MAX_TEXT = 4096;
const HTML_TAGS = new Set([
  "b",
  "strong",
  "i",
  "em",
  "u",
  "ins",
  "s",
  "strike",
  "del",
  "code",
  "pre",
  "a",
  "tg-spoiler",
  "span",
  "blockquote",
]);

/** What Telegram does with parse_mode HTML: the visible text, or the error it answers for bad markup. */
export function parseHtml(raw: string): { text: string } | { error: string } {
  const stack: string[] = [];
  let text = "";
  const re = /<(\/?)([a-zA-Z-]+)([^>]*)>|&(lt|gt|amp|quot|#\d+);|[<>&]/g;
  let last = 0;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    text += raw.slice(last, m.index);
    last = re.lastIndex;
    if (m[0] === "<" || m[0] === ">" || m[0] === "&") {
      if (m[0] === ">") {
        text += ">";
        continue;
      }
      return {
        error: `Bad Request: can't parse entities: Unsupported start tag or unescaped character at byte offset ${m.index}`,
      };
    }
    if (m[4]) {
      const ent = m[4];
      text +=
        ent === "lt"
          ? "<"
          : ent === "gt"
            ? ">"
            : ent === "amp"
              ? "&"
              : ent === "quot"
                ? '"'
                : String.fromCodePoint(Number(ent.slice(1)));
      continue;
    }
    const [, closing, name] = m;
    const tag = name!.toLowerCase();
    if (!HTML_TAGS.has(tag))
      return { error: `Bad Request: can't parse entities: Unsupported start tag "${tag}" at byte offset ${m.index}` };
    if (closing) {
      if (stack.pop() !== tag)
        return { error: `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "${tag}"` };
    } else stack.push(tag);
  }
  text += raw.slice(last);
  if (stack.length)
    return {
      error: `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "${stack.at(-1)}"`,
    };
  return { text };
}

export async function startFakeTelegram(opts: { token?: string; username?: string } = {}): Promise<FakeTelegram> {
  const token = opts.token ?? "123456:TEST-fake-token";
  const me = {
    id: 999000,
    is_bot: true,
    first_name: "Bosun",
    username: opts.username ?? "bosun_test_bot",
    can_join_groups: false,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
  };
  const updates: { update_id: number; [k: string]: unknown }[] = [];
  let nextUpdateId = 1000;
  let nextMessageId = 1;
  let nextCallbackId = 1;
  let confirmed = 0; // updates with id below this were confirmed by an offset
  const waiters = new Set<() => void>();
  const messages: SentMessage[] = [];
  const answers: CallbackAnswer[] = [];
  const throttles = new Map<string, { retryAfter: number; count: number }>();
  const throttled: Record<string, number> = {};
  let webhook: { url: string; secret_token?: string } | null = null;
  const calls: { method: string; at: number; status: number }[] = [];
  let rejectMarkup = 0;

  const ok = (res: Parameters<typeof sendJson>[0], result: unknown) => sendJson(res, 200, { ok: true, result });
  const fail = (res: Parameters<typeof sendJson>[0], code: number, description: string, parameters?: object) =>
    sendJson(res, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

  const wake = () => {
    for (const w of [...waiters]) w();
  };

  async function deliver(update: { update_id: number }) {
    if (!webhook) return wake();
    // Like Telegram: POST the update to the webhook, with the secret token header when one was set.
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (webhook.secret_token) headers["x-telegram-bot-api-secret-token"] = webhook.secret_token;
    await fetch(webhook.url, { method: "POST", headers, body: JSON.stringify(update) }).catch(() => {});
  }

  function push(update: Record<string, unknown>): number {
    const full = { update_id: nextUpdateId++, ...update };
    updates.push(full);
    void deliver(full);
    return full.update_id;
  }

  const user = (id: number, username?: string): TgUser => ({
    id,
    is_bot: false,
    first_name: `User${id}`,
    ...(username ? { username } : {}),
  });
  const chatOf = (id: number, type: string, from: TgUser) =>
    type === "private"
      ? { id, type, first_name: from.first_name, ...(from.username ? { username: from.username } : {}) }
      : { id, type, title: `Group ${id}` };

  const server = await startFakeServer(async (req, res) => {
    const match = /^\/bot([^/]+)\/(\w+)/.exec(req.path);
    if (!match) return fail(res, 404, "Not Found");
    if (match[1] !== token) return fail(res, 401, "Unauthorized");
    const method = match[2]!;
    const body = (req.body ?? {}) as Record<string, any>;
    const call = { method, at: Date.now(), status: 200 };
    calls.push(call);
    res.once("finish", () => (call.status = res.statusCode));
    const throttle = throttles.get(method);
    if (throttle && throttle.count > 0) {
      throttle.count--;
      throttled[method] = (throttled[method] ?? 0) + 1;
      return fail(res, 429, `Too Many Requests: retry after ${throttle.retryAfter}`, {
        retry_after: throttle.retryAfter,
      });
    }
    switch (method) {
      case "getMe":
        return ok(res, me);
      case "setWebhook":
        webhook = { url: String(body.url), ...(body.secret_token ? { secret_token: String(body.secret_token) } : {}) };
        wake();
        return ok(res, true);
      case "deleteWebhook":
        webhook = null;
        if (body.drop_pending_updates) confirmed = nextUpdateId;
        return ok(res, true);
      case "getWebhookInfo":
        return ok(res, { url: webhook?.url ?? "", has_custom_certificate: false, pending_update_count: 0 });
      case "getUpdates": {
        if (webhook)
          return fail(
            res,
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
          );
        const offset = Number(body.offset ?? 0);
        if (offset > confirmed) confirmed = offset;
        const limit = Math.min(Number(body.limit ?? 100), 100);
        const pending = () => updates.filter((u) => u.update_id >= confirmed).slice(0, limit);
        const timeoutMs = Math.min(Number(body.timeout ?? 0), 50) * 1000;
        if (!pending().length && timeoutMs > 0) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              waiters.delete(done);
              res.off("close", done);
              resolve();
            };
            const timer = setTimeout(done, timeoutMs);
            waiters.add(done);
            res.once("close", done);
          });
        }
        return ok(res, webhook ? [] : pending());
      }
      case "sendMessage":
      case "editMessageText": {
        const raw = String(body.text ?? "");
        let text = raw;
        if (body.parse_mode === "HTML") {
          if (rejectMarkup > 0) {
            rejectMarkup--;
            return fail(
              res,
              400,
              "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0",
            );
          }
          const parsed = parseHtml(raw);
          if ("error" in parsed) return fail(res, 400, parsed.error);
          text = parsed.text;
        } else if (body.parse_mode)
          return fail(res, 400, `Bad Request: unsupported parse_mode in this fake: ${body.parse_mode}`);
        if (!text.trim()) return fail(res, 400, "Bad Request: message text is empty");
        if (text.length > MAX_TEXT) return fail(res, 400, "Bad Request: message is too long");
        const chatId = Number(body.chat_id);
        if (method === "sendMessage") {
          const msg: SentMessage = {
            message_id: nextMessageId++,
            chat_id: chatId,
            text,
            raw,
            parse_mode: body.parse_mode ?? null,
            reply_markup: body.reply_markup ?? null,
            history: [text],
          };
          messages.push(msg);
          return ok(res, {
            message_id: msg.message_id,
            date: Math.floor(Date.now() / 1000),
            chat: { id: chatId, type: "private" },
            text,
          });
        }
        const msg = messages.find((m) => m.chat_id === chatId && m.message_id === Number(body.message_id));
        if (!msg) return fail(res, 400, "Bad Request: message to edit not found");
        const markup = body.reply_markup ?? null;
        if (
          msg.raw === raw &&
          msg.parse_mode === (body.parse_mode ?? null) &&
          JSON.stringify(msg.reply_markup) === JSON.stringify(markup)
        ) {
          return fail(
            res,
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
          );
        }
        Object.assign(msg, { text, raw, parse_mode: body.parse_mode ?? null, reply_markup: markup });
        msg.history.push(text);
        return ok(res, {
          message_id: msg.message_id,
          date: Math.floor(Date.now() / 1000),
          chat: { id: chatId, type: "private" },
          text,
        });
      }
      case "editMessageReplyMarkup": {
        const msg = messages.find(
          (m) => m.chat_id === Number(body.chat_id) && m.message_id === Number(body.message_id),
        );
        if (!msg) return fail(res, 400, "Bad Request: message to edit not found");
        msg.reply_markup = body.reply_markup ?? null;
        return ok(res, true);
      }
      case "answerCallbackQuery":
        answers.push({
          callback_query_id: String(body.callback_query_id),
          ...(body.text ? { text: String(body.text) } : {}),
          ...(body.show_alert ? { show_alert: true } : {}),
        });
        return ok(res, true);
      case "setMyCommands":
      case "sendChatAction":
        return ok(res, true);
      default:
        return fail(res, 404, `Not Found: method ${method} is not in this fake`);
    }
  });

  const waitFor = async <T>(probe: () => T | undefined | false | null, timeoutMs = 10_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error("fake telegram: timed out waiting");
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  return {
    ...server,
    token,
    messages,
    answers,
    get webhook() {
      return webhook;
    },
    throttled,
    calls,
    rejectMarkupNext: (count = 1) => void (rejectMarkup = count),
    sendText: ({ chat, from, text, chatType = "private", username }) => {
      const u = user(from, username);
      const entities = text.startsWith("/")
        ? [{ type: "bot_command", offset: 0, length: text.split(/\s/)[0]!.length }]
        : undefined;
      return push({
        message: {
          message_id: nextMessageId++,
          date: Math.floor(Date.now() / 1000),
          chat: chatOf(chat, chatType, u),
          from: u,
          text,
          ...(entities ? { entities } : {}),
        },
      });
    },
    pressButton: ({ chat, from, messageId, data }) => {
      const id = String(nextCallbackId++);
      const msg = messages.find((m) => m.chat_id === chat && m.message_id === messageId);
      push({
        callback_query: {
          id,
          from: user(from),
          chat_instance: `ci-${chat}`,
          data,
          message: {
            message_id: messageId,
            date: Math.floor(Date.now() / 1000),
            chat: { id: chat, type: "private" },
            text: msg?.text ?? "",
          },
        },
      });
      return id;
    },
    throttleNext: (method, retryAfter, count = 1) => void throttles.set(method, { retryAfter, count }),
    messagesIn: (chat) => messages.filter((m) => m.chat_id === chat),
    waitForMessage: (predicate, timeoutMs) => waitFor(() => messages.find(predicate), timeoutMs),
    waitFor,
  };
}
