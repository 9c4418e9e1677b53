// What a scenario is, as data plus two functions (the shape of Terminal-Bench/Harbor tasks): what the customer
// says, how the world looks before, what the trial may spend, how the harness answers approval requests, and a
// verifier that reads the final state of the world — files on the server, the live site, the database — never
// the agent's account of what it did.
import type { ScriptedSearch } from "../testkit/fake-tavily.ts";
import type { World } from "./world.ts";

export type AgentKindName = "instance_operator" | "site_editor";

export interface Budget {
  /** Model calls. */
  steps: number;
  /** Metered cost, in USD (the real meter's price of what the model reported). */
  costUsd: number;
  /** From the first message to the run's end, approvals included. */
  wallSeconds: number;
}

/**
 * How the harness answers approval requests, like the person in the conversation would: every call is
 * approved unless its tool name plus JSON input matches one of `deny`.
 */
export interface ApprovalPolicy {
  deny: RegExp[];
}
export const approveAll: ApprovalPolicy = { deny: [] };

export interface Verdict {
  pass: boolean;
  /** Why, one fact a line: what was checked and what was found. */
  messages: string[];
}

/** What the verifier may know about the trial besides the world itself. */
export interface TrialFacts {
  /** get_agent_conversation as the customer sees it (approvals with their decisions, every step). */
  conversation: Conversation;
  /** The agent's last text reply (only the question-answering scenario may judge it, against the server). */
  finalText: string;
  /** Queries the fake web-search server received. */
  searches: string[];
}

export interface Conversation {
  id: string;
  messages: { role: string; content: { type: string; text?: string }[] }[];
  runs: {
    id: string;
    status: string;
    steps: number;
    cost_micros: number;
    input_tokens: number;
    output_tokens: number;
    error: { code: string; message: string } | null;
    steps_detail: {
      kind: string;
      tool: string | null;
      input: Record<string, unknown> | null;
      is_error: boolean;
      cost_micros: number;
    }[];
  }[];
  approvals: { id: string; tool: string; input: Record<string, unknown>; status: string; decided_via: string | null }[];
}

export interface Scenario {
  /** kebab-case; its directory under evals/scenarios holds its transcripts. */
  name: string;
  kind: AgentKindName;
  /** What the customer types. */
  instruction: string;
  mode?: "ask" | "auto" | "read_only";
  /** Site editor: whether the conversation allows publishing. */
  allowPublish?: boolean;
  budget: Budget;
  approvals: ApprovalPolicy;
  /** Replies of the fake web-search server, in order (later searches get no results). */
  search?: ScriptedSearch[];
  /** Builds the world before the agent starts (files on the server, the site's draft and release). */
  setup(world: World): Promise<void>;
  verify(world: World, facts: TrialFacts): Promise<Verdict>;
}

/** Collects checks into a verdict: each check adds a line saying what was found. */
export function checks() {
  const messages: string[] = [];
  let pass = true;
  return {
    check(ok: boolean, message: string) {
      messages.push(`${ok ? "ok" : "FAIL"}: ${message}`);
      if (!ok) pass = false;
      return ok;
    },
    verdict: (): Verdict => ({ pass, messages }),
  };
}
