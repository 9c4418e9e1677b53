// The Telegram bridge: a surface like REST and MCP. It turns chat messages, commands and button presses into
// operation calls through the invoker, as the principal of the chat's link, and relays runs back into the chat.
// It holds no behaviour of its own: pairing codes, links and their checks live in core/agent/telegram-*.ts.
import crypto from "node:crypto";
import type { Logger } from "pino";
import { Telegraf, type Context as TgContext } from "telegraf";
import type { Update } from "telegraf/types";
import { SCHEDULED_RUN_TOPIC } from "../core/agent/scheduler.ts";
import {
  activeChatRuns,
  claimLinkAnnouncement,
  claimScheduledRunRelay,
  latestRunOf,
} from "../core/agent/telegram-chats.ts";
import {
  activeLink,
  type ChatLink,
  linkForApproval,
  linkForProposal,
  linkPrincipal,
  linksOfChat,
  linkTarget,
  selectLink,
  setLinkConversation,
  TELEGRAM_LINK_TOPIC,
} from "../core/agent/telegram-links.ts";
import { issuePairingCode } from "../core/agent/telegram-pairing.ts";
import { BosunError, toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import type { Platform } from "../core/platform.ts";
import { escapeHtml } from "./format.ts";
import { ChatOutbox } from "./outbox.ts";
import { callbackTag, proposalKeyboard, RunRelay } from "./relay.ts";

export const WEBHOOK_PATH = "/telegram/webhook";

export interface BridgeOptions {
  /** Least time between two calls to one chat (Telegram: about one per second). */
  minIntervalMs?: number;
  /** Least time between two edits of a streaming reply. */
  editIntervalMs?: number;
  /** Safety-net re-read of watched runs. */
  pollMs?: number;
  log?: Logger;
}

/** Explanations to a chat that is not linked (or not private) per minute; past that the bot stays silent. */
const EXPLAIN_PER_MINUTE = 5;

const COMMANDS = [
  { command: "status", description: "Linked instances and sites, and the current run" },
  { command: "use", description: "Switch instance or site: /use <name>" },
  { command: "new", description: "Start a new conversation" },
  { command: "stop", description: "Cancel the current run" },
  { command: "credits", description: "Your AI credit" },
  { command: "link", description: "A pairing code to link another instance or site" },
];

const HELP = [
  "Send a message and the agent of this instance (or site) works on it. Commands:",
  "/status — linked instances and sites, and the current run",
  "/use <name> — switch instance or site",
  "/new — start a new conversation",
  "/stop — cancel the current run",
  "/credits — your AI credit",
  "/link — a pairing code to link another instance or site",
].join("\n");

export class TelegramBridge {
  readonly bot: Telegraf;
  readonly relay: RunRelay;
  /** The secret Telegram sends with every webhook call (X-Telegram-Bot-Api-Secret-Token). */
  readonly webhookSecret: string;
  private readonly outboxes = new Map<number, ChatOutbox>();
  private readonly log: Logger;
  private launched: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly platform: Platform,
    private readonly options: BridgeOptions = {},
  ) {
    const cfg = platform.config.telegram;
    if (!cfg.botToken) throw new Error("BOSUN_TELEGRAM_BOT_TOKEN is not set");
    // Never log the token: it is the bot's whole identity. Components log chat ids and errors only.
    this.log = (options.log ?? platform.log).child({ component: "telegram" });
    this.webhookSecret =
      cfg.webhookSecret ?? Buffer.from(platform.secrets.deriveKey("telegram-webhook")).toString("base64url");
    this.bot = new Telegraf(cfg.botToken, {
      telegram: { apiRoot: cfg.apiRoot, webhookReply: false },
      handlerTimeout: 30_000,
    });
    this.relay = new RunRelay(
      platform,
      (chatId) => this.outbox(chatId),
      { editIntervalMs: options.editIntervalMs ?? 1500, pollMs: options.pollMs ?? 3000 },
      this.log,
    );
    this.bot.on("callback_query", (ctx) => this.onButton(ctx));
    this.bot.on("message", (ctx) => this.onMessage(ctx));
    this.bot.catch((err) => this.log.error({ err: redact(err) }, "telegram update failed"));
    // A scheduled run reporting to a chat started, or its due time started none (in any process): one bridge tells.
    platform.notifier.on(SCHEDULED_RUN_TOPIC, (id) => {
      void claimScheduledRunRelay(platform, id)
        .then(async (r) => {
          if (r?.runId) this.relay.watch(r.runId, r.chatId, r.link);
          else if (r?.note) await this.outbox(r.chatId).send({ html: escapeHtml(r.note), plain: r.note });
        })
        .catch((err) => this.log.warn({ err: redact(err) }, "relaying a scheduled run failed"));
    });
    platform.notifier.on(
      TELEGRAM_LINK_TOPIC,
      (data) =>
        void this.onLinkEvent(data).catch((err) => this.log.warn({ err: redact(err) }, "announcing a link failed")),
    );
  }

  outbox(chatId: number): ChatOutbox {
    let box = this.outboxes.get(chatId);
    if (!box) {
      if (this.outboxes.size > 10_000) this.outboxes.clear(); // idle outboxes hold nothing that matters
      box = new ChatOutbox(this.bot.telegram, chatId, { minIntervalMs: this.options.minIntervalMs ?? 1000 });
      this.outboxes.set(chatId, box);
    }
    return box;
  }

  /** Polling, or the webhook when BOSUN_PUBLIC_URL is set. Resolves once the bot takes updates. */
  async start(): Promise<string> {
    const { publicUrl } = this.platform.config.telegram;
    this.bot.botInfo = await this.bot.telegram.getMe().catch((err) => {
      throw redact(err);
    });
    // The command menu Telegram clients show; not worth failing the start over.
    await this.bot.telegram
      .setMyCommands(COMMANDS)
      .catch((err) => this.log.warn({ err: redact(err) }, "setMyCommands failed"));
    if (publicUrl) {
      await this.bot.telegram.setWebhook(`${publicUrl}${WEBHOOK_PATH}`, {
        secret_token: this.webhookSecret,
        allowed_updates: ["message", "callback_query"],
      });
      return `telegram: @${this.bot.botInfo.username} by webhook at ${publicUrl}${WEBHOOK_PATH}`;
    }
    await this.resumeRelays();
    await new Promise<void>((resolve, reject) => {
      this.launched = this.bot
        .launch({ allowedUpdates: ["message", "callback_query"] }, () => resolve())
        .catch((err) => {
          this.log.error({ err: redact(err) }, "telegram polling stopped");
          reject(redact(err));
        });
    });
    return `telegram: @${this.bot.botInfo.username} by long polling`;
  }

  /**
   * After a restart, runs started from chats carry on (a worker resumes them) but nobody relays them: pick them
   * up, from now on. Only when polling — Telegram allows one poller per bot, so exactly one process does this;
   * with a webhook every process would, and the chat would see each event several times.
   */
  private async resumeRelays(): Promise<void> {
    const runs = await activeChatRuns(this.platform);
    for (const r of runs) this.relay.watch(r.runId, r.chatId, r.link, r.lastEventId);
    if (runs.length) this.log.info({ runs: runs.length }, "resumed relaying runs started from Telegram");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.relay.stop();
    try {
      this.bot.stop("bosun stopping");
    } catch {
      /* not polling (webhook mode) */
    }
    await this.launched?.catch(() => {});
  }

  /** A webhook update, already authenticated by its secret header. */
  handleUpdate(update: Update): Promise<void> {
    return this.bot.handleUpdate(update);
  }

  /** Whether a webhook call carries our secret (compared in constant time). */
  checkSecret(header: string | undefined): boolean {
    const want = Buffer.from(this.webhookSecret);
    const got = Buffer.from(header ?? "");
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  }

  private async reply(chatId: number, html: string, plain = htmlToPlain(html)): Promise<void> {
    await this.outbox(chatId).send({ html, plain });
  }

  /** At most a few explanations per chat per minute: a stranger cannot make the bot talk without end. */
  private async explain(chatId: number, html: string): Promise<void> {
    if (!this.platform.rateLimiter.take(`telegram-explain:${chatId}`, EXPLAIN_PER_MINUTE).allowed) return;
    await this.reply(chatId, html);
  }

  private async onMessage(ctx: TgContext): Promise<void> {
    const msg = ctx.message;
    if (!msg || !ctx.chat || !ctx.from || ctx.from.is_bot) return;
    const chatId = ctx.chat.id;
    if (ctx.chat.type !== "private") return this.explain(chatId, "I only work in private chats: message me directly.");
    const text = "text" in msg ? msg.text.trim() : "";
    if (!text) return this.explain(chatId, "I read text messages only.");
    const [head = "", ...args] = text.split(/\s+/);
    const command = head.startsWith("/") ? head.slice(1).split("@")[0]!.toLowerCase() : null;
    const links = await linksOfChat(this.platform, chatId);

    if (command === "start" && !links.length) return this.sendPairingCode(ctx);
    if (command === "link") return this.sendPairingCode(ctx);
    if (!links.length) {
      // Nothing an unlinked chat sends reaches an agent.
      return this.explain(
        chatId,
        "This chat is not linked to a Bosun instance or site. Send /start for a pairing code, then enter it in Bosun (<code>link_telegram_chat</code>, or <code>link_site_telegram_chat</code> for a site).",
      );
    }
    // A private chat is one person; still, only the person it was linked for may act in it.
    const mine = links.filter((l) => l.telegramUserId === String(ctx.from!.id));
    if (!mine.length) return this.explain(chatId, "This chat is linked for another Telegram account.");
    const link = activeLink(mine);

    switch (command) {
      case "start":
      case "help":
        return this.reply(chatId, `${escapeHtml(HELP)}\n\n${statusLines(mine, link)}`);
      case "status":
        return this.status(chatId, mine, link);
      case "use":
        return this.use(chatId, mine, args[0]);
    }
    if (!link)
      return this.reply(
        chatId,
        `Several instances or sites are linked: choose one with /use &lt;name&gt;.\n${statusLines(mine, link)}`,
      );
    try {
      const principal = await linkPrincipal(this.platform, link.id);
      const call = (op: string, input: Record<string, unknown>) =>
        invoke(this.platform, op, input, principal, { requestId: `tg-${crypto.randomUUID()}` });
      switch (command) {
        case "new":
          await setLinkConversation(this.platform, link.id, null);
          return this.reply(
            chatId,
            `New conversation with <b>${escapeHtml(linkTarget(link))}</b>. What should the agent do?`,
          );
        case "stop": {
          if (!link.conversationId) return this.reply(chatId, "Nothing is running.");
          const out = (await call("cancel_agent_run", {
            project: link.project,
            conversation_id: link.conversationId,
          })) as { cancelled_run_id: string | null };
          return this.reply(chatId, out.cancelled_run_id ? "Stopping the run." : "Nothing is running.");
        }
        case "credits": {
          const out = (await call("get_balances", {})) as {
            balances: { pool: string; spendable: { dollars: string | number } }[];
          };
          const ai = out.balances.find((b) => b.pool === "ai_credits");
          return this.reply(chatId, `Your AI credit: <b>$${escapeHtml(String(ai?.spendable.dollars ?? 0))}</b>`);
        }
        case null:
          return await this.chat(chatId, link, text, call); // awaited: its refusals are explained below
        default:
          return this.reply(chatId, `Unknown command /${escapeHtml(command)}.\n${escapeHtml(HELP)}`);
      }
    } catch (err) {
      return this.reply(chatId, explainError(err));
    }
  }

  /** A message to the agent: the chat's conversation with the selected instance (or site), or a new one. */
  private async chat(
    chatId: number,
    link: ChatLink,
    text: string,
    call: (op: string, input: Record<string, unknown>) => Promise<unknown>,
  ) {
    let runId: string | undefined;
    if (link.conversationId) {
      try {
        runId = (
          (await call("send_agent_message", {
            project: link.project,
            conversation_id: link.conversationId,
            message: text,
          })) as { run_id: string }
        ).run_id;
      } catch (err) {
        // The conversation was deleted elsewhere: start afresh rather than fail.
        if (!(err instanceof BosunError && err.code === "not_found")) throw err;
      }
    }
    if (!runId) {
      // A site link has no instance: start_agent_chat then talks to the project's site editor.
      const out = (await call("start_agent_chat", {
        project: link.project,
        ...(link.instance ? { instance: link.instance } : {}),
        message: text,
        mode: "ask",
      })) as { conversation: { id: string }; run_id: string };
      await setLinkConversation(this.platform, link.id, out.conversation.id);
      runId = out.run_id;
    }
    this.relay.watch(runId, chatId, link);
  }

  private async sendPairingCode(ctx: TgContext) {
    const chatId = ctx.chat!.id;
    try {
      const { code } = await issuePairingCode(this.platform, {
        chatId,
        chatType: ctx.chat!.type,
        userId: ctx.from!.id,
        username: ctx.from!.username ?? null,
      });
      await this.reply(
        chatId,
        `Your pairing code: <code>${code}</code> (valid 10 minutes, once).\n\nLink this chat to an instance with it, e.g.\n` +
          `<code>bosun call link_telegram_chat --project &lt;project&gt; --instance &lt;instance&gt; --code ${code}</code>\n` +
          `or <code>POST /v1/projects/{project}/instances/{instance}/agent/telegram</code> with <code>{"code":"${code}"}</code>.\n\n` +
          `Or to a site project's editor: <code>bosun call link_site_telegram_chat --project &lt;project&gt; --code ${code}</code>.`,
      );
    } catch (err) {
      const e = toBosunError(err);
      if (e.code === "rate_limited")
        return this.explain(chatId, `Too many codes asked for; try again in ${String(e.details.retry_after)}s.`);
      throw err;
    }
  }

  private async status(chatId: number, links: ChatLink[], link: ChatLink | undefined) {
    let run = "";
    if (link?.conversationId) {
      const latest = await latestRunOf(this.platform, link.conversationId);
      if (latest) run = `\nLatest run: ${escapeHtml(latest.status)} (${latest.steps} steps)`;
    }
    return this.reply(chatId, `${statusLines(links, link)}${run}`);
  }

  private async use(chatId: number, links: ChatLink[], name: string | undefined) {
    if (!name) return this.reply(chatId, `Which one? /use &lt;name&gt;\n${statusLines(links, undefined)}`);
    const matches = links.filter(
      (l) => linkTarget(l) === name || (l.instance !== null && `${l.project}/${l.instance}` === name),
    );
    if (matches.length !== 1) {
      return this.reply(
        chatId,
        `${matches.length ? "That name is in several projects: use project/instance." : `No linked instance '${escapeHtml(name)}'.`}\n${statusLines(links, undefined)}`,
      );
    }
    await selectLink(this.platform, chatId, matches[0]!.id);
    return this.reply(
      chatId,
      `Now talking to <b>${escapeHtml(linkTarget(matches[0]!))}</b> (${escapeHtml(matches[0]!.project)}).`,
    );
  }

  /** Approve / Deny: valid only in the chat it was sent to, for a pending approval, pressed by the linked person. */
  private async onButton(ctx: TgContext): Promise<void> {
    const q = ctx.callbackQuery;
    if (!q || !("data" in q) || !q.message) return;
    // Telegram shows at most 200 characters of an answer.
    const answer = (text: string) =>
      ctx
        .answerCbQuery(text.length > 200 ? `${text.slice(0, 199)}…` : text)
        .catch((err) => this.log.debug({ err: redact(err) }, "answerCallbackQuery failed"));
    const chatId = q.message.chat.id;
    const m = /^([adpx]):([0-9a-f-]{36}):([\w-]{11})$/.exec(q.data);
    const tagOk =
      m && crypto.timingSafeEqual(Buffer.from(m[3]!), Buffer.from(callbackTag(this.relay.key, chatId, m[2]!)));
    if (!m || !tagOk) return void (await answer("This button is not valid here."));
    if (m[1] === "p" || m[1] === "x")
      return this.onProposalButton(chatId, q.from.id, q.message, m[1] === "p" ? "apply" : "discard", m[2]!, answer);
    const link = await linkForApproval(this.platform, chatId, m[2]!);
    if (!link) return void (await answer("This chat can no longer decide that."));
    if (String(link.telegram_user_id) !== String(q.from.id))
      return void (await answer("Only the person who linked this chat can decide."));
    if (link.status !== "pending") return void (await answer(`Already ${link.status}.`));
    try {
      const principal = await linkPrincipal(this.platform, link.link_id);
      await invoke(
        this.platform,
        m[1] === "a" ? "approve_tool_call" : "deny_tool_call",
        { project: link.project, approval_id: m[2] },
        principal,
        { requestId: `tg-${crypto.randomUUID()}` },
      );
      await answer(m[1] === "a" ? "Approved." : "Denied.");
    } catch (err) {
      const e = toBosunError(err);
      await answer(e.code === "conflict" ? e.message : htmlToPlain(explainError(e)));
    }
  }

  /**
   * Apply / Discard on a proposal: valid only in a chat linked to the proposal's site, pressed by the linked person,
   * called through the invoker as the chat's link (a link without files:write is refused). The message then shows
   * the outcome; a conflict names the files and offers nothing that overwrites them (no force from a chat).
   */
  private async onProposalButton(
    chatId: number,
    fromId: number,
    message: { message_id: number } & ({ text?: string } | object),
    action: "apply" | "discard",
    proposalId: string,
    answer: (text: string) => Promise<unknown>,
  ): Promise<void> {
    const link = await linkForProposal(this.platform, chatId, proposalId);
    if (!link) return void (await answer("This chat can no longer decide that."));
    if (String(link.telegram_user_id) !== String(fromId))
      return void (await answer("Only the person who linked this chat can decide."));
    // The message as it reads now: the outcome is appended to it (buttons gone, or only Discard after a conflict).
    const before = "text" in message && typeof message.text === "string" ? message.text : "";
    const show = (outcome: string, keyboard?: ReturnType<typeof proposalKeyboard>) =>
      this.outbox(chatId)
        .edit(message.message_id, {
          html: `${escapeHtml(before)}\n\n${escapeHtml(outcome)}`,
          plain: `${before}\n\n${outcome}`,
          ...(keyboard ? { keyboard } : {}),
        })
        .catch((err) => this.log.warn({ err: redact(err) }, "could not update a proposal message"));
    if (link.status !== "pending") {
      await answer(`Already ${link.status}.`);
      return void (await show(`Already ${link.status}.`));
    }
    try {
      const principal = await linkPrincipal(this.platform, link.link_id);
      const out = (await invoke(
        this.platform,
        action === "apply" ? "apply_proposal" : "discard_proposal",
        { project: link.project, proposal_id: proposalId },
        principal,
        { requestId: `tg-${crypto.randomUUID()}` },
      )) as { applied?: number };
      if (action === "apply") {
        await answer("Applied.");
        await show(`✅ Applied to the draft (${out.applied ?? 0} file${out.applied === 1 ? "" : "s"}).`);
      } else {
        await answer("Discarded.");
        await show("🗑 Discarded; the draft is unchanged.");
      }
    } catch (err) {
      const e = toBosunError(err);
      const files = Array.isArray(e.details.files) ? (e.details.files as string[]) : null;
      if (e.code === "conflict" && files) {
        const note =
          `⚠️ Not applied: the draft changed since this was proposed (${files.join(", ")}). Nothing was changed. ` +
          "Review it, and apply from the console or API with force to overwrite, or discard it here.";
        await answer("Not applied: the draft changed since.");
        return void (await show(note, proposalKeyboard(this.relay.key, chatId, proposalId, false)));
      }
      if (e.code === "conflict") {
        await answer(e.message);
        return void (await show(e.message));
      }
      await answer(htmlToPlain(explainError(e)));
    }
  }

  /** Tells a chat it was linked. Every process hears the notification; the one that marks the link first speaks. */
  private async onLinkEvent(data: string): Promise<void> {
    if (this.stopped) return;
    const event = JSON.parse(data) as { event: string; link_id: string; chat_id: string };
    if (event.event !== "linked") return;
    if (!(await claimLinkAnnouncement(this.platform, event.link_id))) return;
    const links = await linksOfChat(this.platform, event.chat_id);
    const link = links.find((l) => l.id === event.link_id);
    if (!link) return;
    await this.reply(
      Number(event.chat_id),
      `✅ Linked to <b>${escapeHtml(linkTarget(link))}</b> (${link.instance ? "project" : "site project"} ${escapeHtml(link.project)}). Send a message to talk to its ${link.instance ? "agent" : "site editor"}.\n\n${escapeHtml(HELP)}`,
    );
  }
}

function statusLines(links: ChatLink[], active: ChatLink | undefined): string {
  return [
    "Linked instances and sites:",
    ...links.map(
      (l) =>
        `${l === active ? "▶" : "•"} ${escapeHtml(linkTarget(l))} (${l.instance ? escapeHtml(l.project) : "site"})`,
    ),
  ].join("\n");
}

/** What a person in the chat is told when an operation refuses. */
export function explainError(err: unknown): string {
  const e = toBosunError(err);
  switch (e.code) {
    case "conflict":
      return "The agent is still working on your last message. Wait for it, or /stop it.";
    case "payment_required":
    case "spend_cap_reached":
      return `No AI credit left: ${escapeHtml(e.message)}`;
    case "unauthorized":
      return `This chat's link no longer holds (${escapeHtml(e.message)}). Send /link for a new pairing code.`;
    case "insufficient_scope":
      return `This chat may not do that: ${escapeHtml(e.message)}.`;
    case "internal":
      return "Something went wrong on the server; try again later.";
    default:
      return escapeHtml(e.message);
  }
}

const htmlToPlain = (html: string) =>
  html
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");

/** telegraf errors carry the request (with the token in its URL on network failures): keep only what helps. */
function redact(err: unknown): Error {
  const e = err as { message?: string; code?: number; response?: { description?: string } };
  const message = String(e?.response?.description ?? e?.message ?? err).replace(/bot\d+:[\w-]+/g, "bot<token>");
  const out = new Error(message);
  if (e?.code !== undefined) Object.assign(out, { code: e.code });
  return out;
}
