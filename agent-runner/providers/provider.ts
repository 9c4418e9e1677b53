// One interface over the model APIs the agent runner speaks (Anthropic Messages, OpenAI Chat Completions and
// OpenAI-compatible servers). The runner's loop sees only these types; each provider translates them to and
// from its SDK's wire format, and reports usage exactly as its API counts it (normalised to TokenUsage).
import type { TokenUsage } from "../../core/billing/prices.ts";

/** A tool the model may call: an operation or a runner bridge, with its JSON Schema input. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export type ContentBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }
  | { type: "tool_result"; toolUseId: string; content: string; isError?: boolean };

/** A turn of the conversation. Tool results travel in a `user` message, as both APIs expect. */
export interface ChatMessage {
  role: "user" | "assistant";
  content: ContentBlock[];
}

export type ModelDelta =
  | { type: "text"; text: string }
  | { type: "tool_call"; id: string; name: string; partialJson: string };

export interface ModelRequest {
  model: string;
  system: string;
  messages: ChatMessage[];
  tools: ToolSpec[];
  maxTokens: number;
  signal?: AbortSignal;
  /** Streamed text and tool-call deltas, as they arrive. */
  onDelta?: (delta: ModelDelta) => void;
}

export interface ModelResponse {
  /** Text and tool_use blocks, in order. */
  content: ContentBlock[];
  stopReason: "end_turn" | "tool_use" | "max_tokens" | "refusal" | "other";
  /** Exactly as the API reported it: inputTokens excludes cache reads and writes. */
  usage: TokenUsage;
  /** Set when the server reported no usage (some OpenAI-compatible servers) and `usage` is a generous estimate. */
  usageEstimated?: boolean;
  /** The model id the API says answered. */
  model: string;
}

export interface ModelProvider {
  readonly name: "anthropic" | "openai";
  complete(request: ModelRequest): Promise<ModelResponse>;
}

/**
 * A generous estimate of a request's input tokens without a network call, for the billing hold. Ordinary text,
 * code and JSON run at 3.5–4.5 UTF-8 bytes per token in both vendors' tokenizers; bytes/3 over-counts that,
 * plus an allowance for the API's own framing of tools and messages. A rare under-estimate costs nothing
 * extra: settling charges the actual usage, and the overrun comes out of what is spendable.
 */
export function inputTokenBound(request: Pick<ModelRequest, "system" | "messages" | "tools">): number {
  let bytes = Buffer.byteLength(JSON.stringify(request.system)) + 2;
  for (const m of request.messages) bytes += jsonBytes(m) + 1;
  for (const t of request.tools) bytes += jsonBytes(t) + 1;
  return Math.ceil(bytes / 3) + 500 + 50 * request.messages.length;
}

// A message or tool is not changed once made (the loop appends new ones), so its size is measured once: a run's
// step would otherwise serialize its whole transcript again.
const sizes = new WeakMap<object, number>();
function jsonBytes(value: object): number {
  let n = sizes.get(value);
  if (n === undefined) sizes.set(value, (n = Buffer.byteLength(JSON.stringify(value))));
  return n;
}
