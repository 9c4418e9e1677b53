// Transcripts respect scopes. An agent run acts with its starter's powers; whoever reads its transcript later may
// hold fewer. So a reader sees a tool's result only if they hold the scope that reads what the tool returns (the
// output of read_remote_file, and of run_command, needs instances:files), and — because the model's later words
// and tool inputs may repeat what it read — everything the model produced after a result hidden from the reader is
// hidden too. The transcript says what was hidden and which scope would show it. The user's own messages, the
// tools called, statuses, costs and the outcome stay visible.
import { present } from "../kernel/errors.ts";
import type { ProjectRole } from "../kernel/scopes.ts";
import { hasScope, isKnownScope, roleCaps } from "../kernel/scopes.ts";
import type { Platform } from "../platform.ts";

/** What a reader may see: their credential's scopes under their role in the project. */
export interface Reader {
  can(scope: string): boolean;
}

/**
 * A stronger power that includes a weaker one's reach: whoever may run commands on a server can read its files
 * anyway, so hiding file contents from them protects nothing.
 */
const INCLUDED_IN: Record<string, string[]> = { "instances:files": ["instances:exec"] };

export function readerOf(scopes: readonly string[], role: ProjectRole): Reader {
  const holds = (s: string) => hasScope(scopes, s) && hasScope(roleCaps[role], s);
  return { can: (scope) => holds(scope) || (INCLUDED_IN[scope] ?? []).some(holds) };
}

/** What reading a write's result amounts to: for a server, reading its content (run_command prints anything). */
const READ_SIDE: Record<string, string> = { "instances:exec": "instances:files" };

/**
 * The scope needed to see a tool's result, derived from its operation: a read's own scope; for a write, the read
 * scope of the same resource. The runner's bridges (public web pages, search results) need none.
 */
export function resultScope(platform: Pick<Platform, "operations">, tool: string): string | null {
  if (!platform.operations.has(tool)) return null;
  const op = platform.operations.get(tool);
  if (!op.scope) return null;
  if (op.effect === "read") return op.scope;
  const readSide = READ_SIDE[op.scope];
  if (readSide) return readSide;
  const read = `${op.scope.split(":")[0]}:read`;
  return isKnownScope(read) ? read : op.scope;
}

export interface Hidden {
  /** The scope that would show it. */
  required_scope: string;
  reason: string;
}

const resultHidden = (tool: string, scope: string): Hidden => ({
  required_scope: scope,
  reason: `the result of ${tool} needs the scope '${scope}', which you do not hold here`,
});
export const derivedHidden = (cause: { tool: string; scope: string }): Hidden => ({
  required_scope: cause.scope,
  reason: `written by the agent after it read the result of ${cause.tool}, which needs the scope '${cause.scope}'`,
});
const placeholder = (h: Hidden) => `[hidden: ${h.reason}]`;

/** Why the reader may not see what `tool` returned, or null when they may. */
export function hiddenResult(platform: Pick<Platform, "operations">, reader: Reader, tool: string): Hidden | null {
  const scope = resultScope(platform, tool);
  return scope && !reader.can(scope) ? resultHidden(tool, scope) : null;
}

type Block = Record<string, unknown>;
type Message = { role: "user" | "assistant"; content: Block[] };

/**
 * Redacts a conversation's messages in order, for one reader. Returns the messages and, by tool_use id, what
 * hides the inputs and the results of tool calls (for steps and approvals, which are keyed the same way).
 */
export function redactMessages<M extends Message>(
  platform: Pick<Platform, "operations">,
  reader: Reader,
  messages: M[],
) {
  const toolOf = new Map<string, string>();
  const inputs = new Map<string, Hidden>();
  const results = new Map<string, Hidden>();
  let cause: { tool: string; scope: string } | null = null;
  const out = messages.map((m) => {
    const content = m.content.map((b): Block => {
      if (b.type === "tool_use") {
        toolOf.set(String(b.id), String(b.name));
        if (!cause) return b;
        const h = derivedHidden(cause);
        inputs.set(String(b.id), h);
        return { ...b, input: {}, hidden: h };
      }
      if (b.type === "tool_result") {
        const tool = toolOf.get(String(b.toolUseId)) ?? "";
        const h = hiddenResult(platform, reader, tool);
        if (!h) return b;
        cause ??= { tool, scope: h.required_scope };
        results.set(String(b.toolUseId), h);
        return { ...b, content: placeholder(h), hidden: h };
      }
      if (b.type === "text" && m.role === "assistant" && cause) {
        const h = derivedHidden(cause);
        return { type: "text", text: placeholder(h), hidden: h };
      }
      return b;
    });
    return { ...m, content };
  });
  return { messages: out, inputs, results };
}

type Event = { id: string; type: string; data: Record<string, unknown> };

/**
 * Redacts run events for one reader. `cutoff`: the first event (of any run in the conversation) that reported a
 * result hidden from the reader; what the model produced after it is hidden. Tool results carry no output in the
 * event log (only sizes and exit codes), so only model text and tool inputs need hiding.
 */
export function redactEvents<E extends Event>(
  events: E[],
  cutoff: { id: string; tool: string; scope: string } | null,
): E[] {
  if (!cutoff) return events;
  const h = derivedHidden(cutoff);
  return events.map((e) => {
    if (BigInt(e.id) <= BigInt(cutoff.id)) return e;
    switch (e.type) {
      case "text":
        return { ...e, data: { text: placeholder(h), hidden: h } };
      case "tool_call":
        return { ...e, data: { ...e.data, input: {}, hidden: h } };
      case "approval_requested":
        return { ...e, data: { ...e.data, input: {}, reason: placeholder(h), hidden: h } };
      case "tool_refused":
        return { ...e, data: { ...e.data, reason: placeholder(h), hidden: h } };
      default:
        return e;
    }
  });
}

/** The first event in the conversation reporting a tool result the reader may not see, if any. */
export async function eventCutoff(
  platform: Pick<Platform, "operations" | "db">,
  reader: Reader,
  conversationId: string,
  tools: readonly string[],
) {
  const hidden = new Map<string, string>();
  for (const tool of tools) {
    const scope = resultScope(platform, tool);
    if (scope && !reader.can(scope)) hidden.set(tool, scope);
  }
  if (!hidden.size) return null;
  const row = await platform.db
    .selectFrom("agent_run_events as e")
    .innerJoin("agent_runs as r", "r.id", "e.run_id")
    .select(["e.id", "e.data"])
    .where("r.conversation_id", "=", conversationId)
    .where("e.type", "=", "tool_result")
    .where(({ eb, ref }) => eb(ref("e.data", "->>").key("tool" as never), "in", [...hidden.keys()]))
    .orderBy("e.id")
    .limit(1)
    .executeTakeFirst();
  if (!row) return null;
  const tool = String((row.data as { tool?: string }).tool);
  return { id: String(row.id), tool, scope: present(hidden.get(tool), `the scope of the hidden tool ${tool}`) };
}
