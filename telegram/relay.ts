// Relays a run's stored events into a chat: the reply streams into one message that is edited as events
// arrive (throttled), tool calls show as short status lines, a long reply continues in further messages, and
// each approval the run asks for gets its own message with Approve / Deny buttons, and a site-editor run's proposal
// gets a summary with Apply / Discard buttons. Events are read from the
// run's event log (woken by the notifier, with a slow poll as a safety net), so nothing is lost between nodes.
// They are read like an SSE client reads them: list_agent_run_events through the invoker, as the chat's link, so
// the link's scopes decide what is hidden (core/agent/redaction.ts) and a link that no longer holds reads nothing.
import crypto from "node:crypto";
import type { Logger } from "pino";
import { RUN_EVENTS_PAGE } from "../core/agent/events.ts";
import { RUN_EVENT_TOPIC } from "../core/agent/runs.ts";
import { linkPrincipal } from "../core/agent/telegram-links.ts";
import { toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import type { Platform } from "../core/platform.ts";
import { escapeHtml, markdownToHtml, markdownToPlain, splitMarkdown, toolLine } from "./format.ts";
import type { ChatOutbox, Rendered } from "./outbox.ts";

export interface RelayOptions {
  /** Least time between two edits of a run's stream. */
  editIntervalMs: number;
  /** How often watched runs are re-read even without a notification. */
  pollMs: number;
}

type Block =
  | { kind: "text"; text: string }
  | { kind: "tool"; tool: string; line: string; result?: string }
  | { kind: "note"; text: string };

interface Watch {
  runId: string;
  chatId: number;
  /** The link the chat follows the run through: its principal reads the events. */
  linkId: string;
  project: string;
  /** null: a site link (the run is the project's site editor). */
  instance: string | null;
  after?: string;
  blocks: Block[];
  sent: { id: number; source: string; plain: boolean }[];
  approvals: Map<string, { messageId: number; html: string; plain: string }>;
  finished: boolean;
  pumping: Promise<void> | null;
  again: boolean;
  lastFlushAt: number;
  flushTimer: NodeJS.Timeout | null;
  flushing: Promise<void>;
}

const WORKING = "⏳ working…";
const WAITING = "⏸ waiting for your approval";
const DETAIL_LIMIT = 3000;

/**
 * Callback data for a button bound to one approval or proposal in one chat: the action (`a`/`d`: approve / deny an
 * approval; `p`/`x`: apply / discard a proposal), the id, and a tag (an HMAC of chat and id).
 */
export function callbackData(
  key: Uint8Array,
  action: "a" | "d" | "p" | "x",
  chatId: number | string,
  id: string,
): string {
  return `${action}:${id}:${callbackTag(key, chatId, id)}`;
}
export function callbackTag(key: Uint8Array, chatId: number | string, id: string): string {
  return crypto.createHmac("sha256", key).update(`${chatId}:${id}`).digest("base64url").slice(0, 11);
}

/** What a proposal message lists: at most this many files, then a count. */
const PROPOSAL_FILES_SHOWN = 10;

export interface ProposalSummary {
  files: { path: string; change: string }[];
  settings: string[];
  count: number;
}

/** A proposal's message: what it changes (short), to apply or discard. */
export function proposalText(p: ProposalSummary): { html: string; plain: string } {
  const lines = p.files
    .slice(0, PROPOSAL_FILES_SHOWN)
    .map((f) => `${f.change === "delete" ? "−" : "•"} ${f.path}${f.change === "delete" ? " (deleted)" : ""}`);
  if (p.count > lines.length) lines.push(`… and ${p.count - lines.length} more`);
  if (p.settings.length) lines.push(`⚙ settings: ${p.settings.join(", ")}`);
  const head = `📝 Proposed changes to the draft (${p.count} file${p.count === 1 ? "" : "s"})`;
  const tail = "Apply them to the draft, or discard them?";
  return {
    html: `<b>${escapeHtml(head)}</b>\n${escapeHtml(lines.join("\n"))}\n${escapeHtml(tail)}`,
    plain: `${head}\n${lines.join("\n")}\n${tail}`,
  };
}

export const proposalKeyboard = (key: Uint8Array, chatId: number, proposalId: string, apply = true) => ({
  inline_keyboard: [
    [
      ...(apply ? [{ text: "✅ Apply", callback_data: callbackData(key, "p", chatId, proposalId) }] : []),
      { text: "🗑 Discard", callback_data: callbackData(key, "x", chatId, proposalId) },
    ],
  ],
});

/** The exact command or change an approval is about, as the person must see it before deciding. */
export function approvalDetail(tool: string, input: Record<string, unknown>): string {
  let detail: string;
  if (tool === "run_command")
    detail = `$ ${String(input.command ?? "")}${input.cwd ? `\n(in ${String(input.cwd)})` : ""}`;
  else if (tool === "edit_remote_file")
    detail = `${String(input.path)}\n- ${String(input.old_str ?? "")}\n+ ${String(input.new_str ?? "")}`;
  else if (tool === "write_remote_file") detail = `${String(input.path)}\n${String(input.content ?? "")}`;
  else detail = JSON.stringify(input, null, 2);
  return detail.length > DETAIL_LIMIT
    ? `${detail.slice(0, DETAIL_LIMIT)}\n… (${detail.length - DETAIL_LIMIT} more characters: see the conversation in Bosun)`
    : detail;
}

export class RunRelay {
  private readonly watches = new Map<string, Watch>();
  private readonly poller: NodeJS.Timeout;
  private readonly callbackKey: Uint8Array;

  constructor(
    private readonly platform: Platform,
    private readonly outbox: (chatId: number) => ChatOutbox,
    private readonly options: RelayOptions,
    private readonly log: Logger,
  ) {
    this.callbackKey = platform.secrets.deriveKey("telegram-callback");
    platform.notifier.on(RUN_EVENT_TOPIC, (data) => {
      const runId = data.split(":")[0]!;
      const w = this.watches.get(runId);
      if (w) this.pump(w);
    });
    this.poller = setInterval(() => {
      for (const w of this.watches.values()) this.pump(w);
    }, options.pollMs);
    this.poller.unref();
  }

  get key(): Uint8Array {
    return this.callbackKey;
  }

  /** Starts relaying a run into a chat (idempotent); `after`: only events after this one (a resumed relay). */
  watch(
    runId: string,
    chatId: number,
    link: { id: string; project: string; instance: string | null },
    after?: string,
  ): void {
    if (this.watches.has(runId)) return;
    const w: Watch = {
      runId,
      chatId,
      linkId: link.id,
      project: link.project,
      instance: link.instance,
      after,
      blocks: [],
      sent: [],
      approvals: new Map(),
      finished: false,
      pumping: null,
      again: false,
      lastFlushAt: 0,
      flushTimer: null,
      flushing: Promise.resolve(),
    };
    this.watches.set(runId, w);
    this.pump(w);
  }

  /** Resolves once every watched run has finished relaying (tests; shutdown). */
  async idle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.watches.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  private forget(w: Watch): void {
    if (w.flushTimer) clearTimeout(w.flushTimer);
    this.watches.delete(w.runId);
  }

  stop(): void {
    clearInterval(this.poller);
    for (const w of this.watches.values()) if (w.flushTimer) clearTimeout(w.flushTimer);
    this.watches.clear();
  }

  /** Reads new events; one reader per run at a time, re-run if woken meanwhile. */
  private pump(w: Watch): void {
    if (w.pumping) {
      w.again = true;
      return;
    }
    w.pumping = (async () => {
      do {
        w.again = false;
        const events = await this.read(w);
        if (!events) return;
        for (const e of events) {
          w.after = e.id;
          await this.apply(w, e.type, e.data);
        }
        if (events.length === RUN_EVENTS_PAGE) w.again = true;
      } while (w.again && this.watches.has(w.runId));
    })()
      .catch((err) => this.log.warn({ err, runId: w.runId }, "relaying a run's events failed"))
      .finally(() => {
        w.pumping = null;
      });
  }

  /**
   * The run's next events as the chat's link may read them, or null when the chat can follow the run no more: the
   * run is gone (deleted with its conversation), or the link no longer holds (unlinked, its token revoked — the
   * run, which acts through the same link, is stopped with it) or may not read runs.
   */
  private async read(w: Watch): Promise<{ id: string; type: string; data: Record<string, unknown> }[] | null> {
    try {
      const principal = await linkPrincipal(this.platform, w.linkId);
      const input = { project: w.project, run_id: w.runId, ...(w.after ? { after: w.after } : {}) };
      const page = (await invoke(this.platform, "list_agent_run_events", input, principal, {
        requestId: `tg-${crypto.randomUUID()}`,
      })) as {
        events: { id: string; type: string; data: Record<string, unknown> }[];
      };
      return page.events;
    } catch (err) {
      const e = toBosunError(err);
      if (e.code === "not_found") this.forget(w);
      else if (e.code === "unauthorized")
        await this.end(w, `⏹ Cancelled. This chat's link no longer holds: ${clip(e.message, 300)}.`);
      else if (e.code === "insufficient_scope")
        await this.end(w, `⏹ This chat may not follow the run: ${clip(e.message, 300)}`);
      else throw err;
      return null;
    }
  }

  /** The run is over for this chat: a last note, open approvals closed, the stream flushed. */
  private async end(w: Watch, note: string | null): Promise<void> {
    if (note) w.blocks.push({ kind: "note", text: note });
    w.finished = true;
    for (const id of w.approvals.keys()) await this.showDecision(w, id, "⏹ No longer needed", "");
    await this.flushNow(w);
    this.forget(w);
  }

  private async apply(w: Watch, type: string, data: Record<string, unknown>): Promise<void> {
    switch (type) {
      case "text":
        if (String(data.text ?? "").trim()) w.blocks.push({ kind: "text", text: String(data.text) });
        break;
      case "tool_call":
        w.blocks.push({
          kind: "tool",
          tool: String(data.tool),
          line: toolLine(String(data.tool), (data.input ?? {}) as Record<string, unknown>),
        });
        break;
      case "tool_result": {
        const block = w.blocks.find(
          (b): b is Extract<Block, { kind: "tool" }> =>
            b.kind === "tool" && b.tool === data.tool && b.result === undefined,
        );
        if (block)
          block.result = data.is_error ? "error" : typeof data.exit_code === "number" ? `exit ${data.exit_code}` : "ok";
        break;
      }
      case "tool_refused":
        w.blocks.push({
          kind: "note",
          text: `⛔ ${String(data.tool)}: ${clip(String(data.reason ?? "refused"), 300)}`,
        });
        break;
      case "approval_requested":
        await this.flushNow(w); // the stream first, so the question comes after what led to it
        await this.askApproval(
          w,
          String(data.approval_id),
          String(data.tool),
          (data.input ?? {}) as Record<string, unknown>,
          String(data.reason ?? ""),
        );
        break;
      case "approval_decided":
        await this.showDecision(
          w,
          String(data.approval_id),
          data.status === "approved" ? "✅ Approved" : "❌ Denied",
          String(data.via ?? ""),
        );
        break;
      case "proposal":
        await this.flushNow(w); // the run's account first, then what it proposes
        if (data.status === "pending") await this.offerProposal(w, String(data.proposal_id), Number(data.files ?? 0));
        else if (data.status === "applied")
          w.blocks.push({ kind: "note", text: `✅ Applied to the draft: ${Number(data.files ?? 0)} file(s).` });
        break;
      case "run_finished": {
        const error = data.error as { code?: string; message?: string } | undefined;
        if (data.status === "failed") return this.end(w, `⚠️ Stopped: ${clip(error?.message ?? "the run failed", 500)}`);
        if (data.status === "cancelled") return this.end(w, "⏹ Cancelled.");
        return this.end(w, data.status === "done" && !w.blocks.some((b) => b.kind === "text") ? "Done." : null);
      }
      default:
        return;
    }
    this.scheduleFlush(w);
  }

  private source(w: Watch): string {
    const chunks: string[] = [];
    w.blocks.forEach((b, i) => {
      const text = b.kind === "tool" ? `${b.line}${b.result ? ` → ${b.result}` : " …"}` : b.text;
      // Consecutive tool calls read as one list of status lines.
      if (b.kind === "tool" && w.blocks[i - 1]?.kind === "tool") chunks[chunks.length - 1] += `\n${text}`;
      else chunks.push(text);
    });
    if (!w.finished) chunks.push(w.approvals.size ? WAITING : WORKING);
    return chunks.join("\n\n");
  }

  private scheduleFlush(w: Watch): void {
    if (w.flushTimer) return;
    const wait = Math.max(0, w.lastFlushAt + this.options.editIntervalMs - Date.now());
    w.flushTimer = setTimeout(() => {
      w.flushTimer = null;
      void this.flushNow(w).catch((err) => this.log.warn({ err, runId: w.runId }, "updating the chat failed"));
    }, wait);
  }

  /** Brings the chat's messages up to date with the run's stream: edits what changed, sends what is new. */
  private flushNow(w: Watch): Promise<void> {
    if (w.flushTimer) {
      clearTimeout(w.flushTimer);
      w.flushTimer = null;
    }
    const next = w.flushing.then(async () => {
      w.lastFlushAt = Date.now();
      const parts = splitMarkdown(this.source(w));
      const box = this.outbox(w.chatId);
      for (const [i, part] of parts.entries()) {
        const rendered: Rendered = { html: markdownToHtml(part), plain: markdownToPlain(part) };
        const sent = w.sent[i];
        if (!sent) {
          const m = await box.send(rendered);
          w.sent.push({ id: m.messageId, source: part, plain: m.plain });
        } else if (sent.source !== part) {
          const r = await box.edit(sent.id, rendered, sent.plain);
          Object.assign(sent, { source: part, plain: r.plain });
        }
      }
    });
    w.flushing = next.catch((err) => this.log.warn({ err, runId: w.runId }, "updating the chat failed"));
    return w.flushing;
  }

  private async askApproval(
    w: Watch,
    approvalId: string,
    tool: string,
    input: Record<string, unknown>,
    reason: string,
  ) {
    const detail = approvalDetail(tool, input);
    const target = w.instance ?? w.project;
    const html = `⏸ <b>Approve?</b> ${escapeHtml(tool)} on <b>${escapeHtml(target)}</b>\n<pre>${escapeHtml(detail)}</pre>${reason ? `\n<i>${escapeHtml(clip(reason, 300))}</i>` : ""}`;
    const plain = `⏸ Approve? ${tool} on ${target}\n${detail}${reason ? `\n${clip(reason, 300)}` : ""}`;
    const keyboard = {
      inline_keyboard: [
        [
          { text: "✅ Approve", callback_data: callbackData(this.callbackKey, "a", w.chatId, approvalId) },
          { text: "❌ Deny", callback_data: callbackData(this.callbackKey, "d", w.chatId, approvalId) },
        ],
      ],
    };
    const m = await this.outbox(w.chatId).send({ html, plain, keyboard });
    w.approvals.set(approvalId, { messageId: m.messageId, html, plain });
  }

  /**
   * A pending proposal's own message with Apply / Discard. What it changes is read through the invoker as the chat's
   * link (get_proposal); a link that may not read files sees the count only.
   */
  private async offerProposal(w: Watch, proposalId: string, count: number) {
    let summary: ProposalSummary = { files: [], settings: [], count };
    try {
      const principal = await linkPrincipal(this.platform, w.linkId);
      const p = (await invoke(
        this.platform,
        "get_proposal",
        { project: w.project, proposal_id: proposalId },
        principal,
        { requestId: `tg-${crypto.randomUUID()}` },
      )) as { files: { path: string; change: string }[]; settings: string[] };
      summary = { files: p.files, settings: p.settings, count: p.files.length };
    } catch (err) {
      this.log.debug({ err, runId: w.runId }, "reading a proposal for the chat failed");
    }
    const text = proposalText(summary);
    await this.outbox(w.chatId).send({ ...text, keyboard: proposalKeyboard(this.callbackKey, w.chatId, proposalId) });
  }

  /** Replaces an approval message's buttons with its outcome, whoever decided it (here, REST or MCP). */
  private async showDecision(w: Watch, approvalId: string, outcome: string, via: string) {
    const a = w.approvals.get(approvalId);
    if (!a) return;
    w.approvals.delete(approvalId);
    const suffix = `${outcome}${via && via !== "telegram" ? ` (via ${via})` : ""}`;
    await this.outbox(w.chatId)
      .edit(a.messageId, { html: `${a.html}\n${escapeHtml(suffix)}`, plain: `${a.plain}\n${suffix}` })
      .catch((err) => this.log.warn({ err, runId: w.runId }, "could not update an approval message"));
  }
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
