// The one "scripted reply" both fake model servers understand, so a scenario written once can drive the
// Anthropic and the OpenAI provider alike. Usage is given in Bosun's normalised terms (TokenUsage: input
// excludes cache reads and writes); each fake renders it the way its API reports it, so the provider's
// normalisation is what a test checks.
import type { TokenUsage } from "../core/billing/prices.ts";
import type { FakeServer, RecordedRequest, ScriptQueue } from "./fake-server.ts";

export interface ScriptedToolCall {
  /** Defaults to a fresh id in the API's style (toolu_… / call_…). */
  id?: string;
  name: string;
  input: Record<string, unknown>;
  /** OpenAI fake only: send this argument text verbatim instead of JSON of `input` (models do write broken JSON). */
  rawArguments?: string;
}

export interface ScriptedReply {
  /** Assistant text, streamed in several deltas. */
  text?: string;
  /** One or more tool calls, after the text. */
  toolUse?: ScriptedToolCall | ScriptedToolCall[];
  /** Overrides the computed usage (fields not given keep their computed value). */
  usage?: Partial<TokenUsage>;
  /** Default: tool_use when there are tool calls, else end_turn. */
  stopReason?: "end_turn" | "tool_use" | "max_tokens" | "refusal";
  /** Answer with this HTTP error status instead (429, 500, 529, 401, …) in the API's error format. */
  status?: number;
  errorMessage?: string;
  /** Extra response headers (e.g. `retry-after`). */
  headers?: Record<string, string>;
  /** Wait this long before answering (to exercise client timeouts). */
  delayMs?: number;
  /** Streaming only: wait this long between events. */
  chunkDelayMs?: number;
  /** The model id the reply claims; default: the requested model. */
  model?: string;
}

export type { RecordedRequest, ScriptStep } from "./fake-server.ts";

/** What startFakeAnthropic and startFakeOpenAI return. */
export interface FakeModelServer extends FakeServer, ScriptQueue<ScriptedReply> {
  /** What to give the SDK as baseURL (and the operator as BOSUN_ANTHROPIC_BASE_URL / BOSUN_OPENAI_BASE_URL). */
  baseURL: string;
  /** Normalised usage of every successful reply, in order, as a correct provider must read it back (what a
   *  metering test compares the ledger with). */
  usages: TokenUsage[];
}

export function toolCalls(reply: ScriptedReply): ScriptedToolCall[] {
  return reply.toolUse === undefined ? [] : Array.isArray(reply.toolUse) ? reply.toolUse : [reply.toolUse];
}

/**
 * Deterministic usage when a script does not fix it: about one token per 4 bytes of what was sent and of what
 * is answered. Tests that compare metering with "what the server reported" read the recorded usage rather
 * than recompute this.
 */
export function usageFor(request: RecordedRequest, reply: ScriptedReply): TokenUsage {
  const out =
    (reply.text ?? "") +
    toolCalls(reply)
      .map((t) => t.name + JSON.stringify(t.input))
      .join("");
  return {
    inputTokens: Math.max(1, Math.ceil(Buffer.byteLength(request.rawBody) / 4)),
    outputTokens: Math.max(1, Math.ceil(Buffer.byteLength(out) / 4)),
    cacheWriteTokens: 0,
    cacheReadTokens: 0,
    reasoningTokens: 0,
    ...reply.usage,
  };
}

/** Splits text into a few pieces so streaming clients see more than one delta. */
export function pieces(text: string, size = 8): string[] {
  const out: string[] = [];
  const chars = Array.from(text); // never split a surrogate pair
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(""));
  return out;
}

/** When a test forgets to script enough replies, say so instead of answering something plausible. */
export const EXHAUSTED = "fake model: the script has no reply left for this request";

/** Default retry hint on errors: the SDKs honour retry-after-ms, so retry tests do not sleep through backoff. */
export function errorHeaders(reply: ScriptedReply): Record<string, string> {
  const retryable = reply.status === 429 || (reply.status ?? 0) >= 500;
  return { ...(retryable ? { "retry-after-ms": "5" } : {}), ...reply.headers };
}

let counter = 0;
export const freshId = (prefix: string) =>
  `${prefix}${Date.now().toString(36)}${(++counter).toString(36).padStart(4, "0")}`;
