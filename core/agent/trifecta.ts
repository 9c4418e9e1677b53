// The lethal trifecta: an agent that (1) holds private data, (2) reads content an outsider may control and (3) can
// send data out can be made to leak the first through the third by the second. Bosun cannot stop (1) and (2) — that
// is the job — so it breaks (3): once a conversation has taken in untrusted content, outbound tools wait for a
// person in `ask` mode and are refused in `read_only` mode, for the rest of the conversation (the model keeps what it
// read in its context across runs). `auto` mode trusts the model by definition and is not changed.
//
// Kept apart from `decide` (policy.ts) on purpose: it is a second, independent rule applied after it, so it can
// only turn a "run" into "ask" or "deny", never the other way.
import type { AgentMode } from "../../schema/database.ts";
import type { Platform } from "../platform.ts";
import type { Decision } from "./policy.ts";

export interface TaintTraits {
  /** Its result may carry an outsider's text: anything read off a customer's server or the web, form submissions. */
  untrusted: boolean;
  /** It can carry data out of Bosun to a party the model chooses (the web bridges: fetch_url, web_search). */
  outbound: boolean;
}

/**
 * What an operation's result is, derived from its definition rather than a list of names: `openWorld` operations
 * reach a customer's server or the web, whose content anyone with a foothold there can shape; form submissions are
 * written by any visitor, and `untrustedOutput` ones (a worker's logs) echo a visitor's request. No operation sends data out to a party the model picks, so none is outbound.
 */
export function operationTraits(op: { openWorld?: boolean; untrustedOutput?: boolean; scope?: string }): TaintTraits {
  return {
    untrusted: !!op.openWorld || !!op.untrustedOutput || !!op.scope?.startsWith("submissions:"),
    outbound: false,
  };
}

/** The runner's bridges fetch pages and search results the model chose: both untrusted and outbound. */
export const bridgeTraits: TaintTraits = { untrusted: true, outbound: true };

export interface Taint {
  tool: string;
  at: string;
}

/** The conversation's first untrusted input, if any run of it took one in (its transcript is the model's context). */
export async function conversationTaint(platform: Pick<Platform, "db">, conversationId: string): Promise<Taint | null> {
  const row = await platform.db
    .selectFrom("agent_runs")
    .select("untrusted_input")
    .where("conversation_id", "=", conversationId)
    .where("untrusted_input", "is not", null)
    .orderBy("created_at")
    .limit(1)
    .executeTakeFirst();
  return row?.untrusted_input ?? null;
}

/** Applies the rule to the policy's decision: only ever makes it stricter. */
export function applyTrifecta(
  mode: AgentMode,
  decision: Decision,
  tool: string,
  traits: TaintTraits,
  taint: Taint | null,
): Decision {
  if (decision.action !== "run" || !traits.outbound || !taint || mode === "auto") return decision;
  const why = `this conversation has read content an outsider may control (${taint.tool} output), and ${tool} can send data out`;
  if (mode === "read_only") return { action: "deny", reason: `${why}; a read-only conversation may not` };
  return { action: "ask", reason: why };
}
