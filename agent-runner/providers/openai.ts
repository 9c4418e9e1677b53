// ModelProvider over OpenAI Chat Completions (`openai` SDK), which every OpenAI-compatible server also speaks
// (Ollama, vLLM, llama.cpp, LM Studio): point baseURL at it.
//
// Usage, normalised to Bosun's terms: OpenAI's prompt_tokens INCLUDES prompt_tokens_details.cached_tokens, so
// inputTokens = prompt_tokens - cached and cacheReadTokens = cached (no cache-write concept, so 0);
// completion_tokens already includes reasoning tokens (billed as output), which are recorded beside it.
// Streamed usage only arrives when asked for with stream_options.include_usage, as a last chunk with no choices.
import OpenAI from "openai";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions/completions";
import type { CompletionUsage } from "openai/resources/completions";
import type { TokenUsage } from "../../core/billing/prices.ts";
import { type FailureKind, providerError, stalled, stallGuard } from "./errors.ts";
import {
  type ContentBlock,
  inputTokenBound,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
} from "./provider.ts";

export interface OpenAIProviderOptions {
  /** Local servers ignore it; the SDK still wants a non-empty string. */
  apiKey: string;
  /** Default https://api.openai.com/v1 (never read from the SDK's own env variables: configuration is Bosun's). */
  baseURL?: string;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Per attempt, until response headers arrive (default 120 s). */
  timeoutMs?: number;
  /**
   * OpenAI's reasoning models accept only max_completion_tokens; many compatible servers know only max_tokens.
   * Default: max_completion_tokens for api.openai.com, max_tokens elsewhere.
   */
  maxTokensParam?: "max_completion_tokens" | "max_tokens";
}

const OPENAI_URL = "https://api.openai.com/v1";

export function createOpenAIProvider(opts: OpenAIProviderOptions): ModelProvider {
  const maxRetries = opts.maxRetries ?? 3;
  const baseURL = opts.baseURL ?? OPENAI_URL;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const client = new OpenAI({
    apiKey: opts.apiKey,
    baseURL,
    organization: null,
    project: null,
    maxRetries,
    timeout: timeoutMs,
  });
  const maxTokensParam = opts.maxTokensParam ?? defaultMaxTokensParam(baseURL);

  return {
    name: "openai",
    async complete(request: ModelRequest): Promise<ModelResponse> {
      const params = toParams(request, maxTokensParam);
      try {
        if (request.onDelta) return await streamed(client, params, request, timeoutMs);
        const completion = await client.chat.completions.create(
          { ...params, stream: false },
          { signal: request.signal },
        );
        return fromCompletion(completion, request);
      } catch (err) {
        const failure = failureOf(err);
        // Anything not from the SDK (a throwing onDelta, a bug) is not the provider's fault: let it through.
        throw failure ? providerError("openai", failure, maxRetries + 1, request.signal) : err;
      }
    },
  };
}

export const defaultMaxTokensParam = (baseURL: string) =>
  new URL(baseURL).hostname === "api.openai.com" ? ("max_completion_tokens" as const) : ("max_tokens" as const);

export function toParams(
  request: ModelRequest,
  maxTokensParam: "max_completion_tokens" | "max_tokens",
): ChatCompletionCreateParamsBase {
  const messages: ChatCompletionMessageParam[] = request.system ? [{ role: "system", content: request.system }] : [];
  for (const message of request.messages) {
    const text = message.content.flatMap((b) => (b.type === "text" && b.text ? [b.text] : [])).join("\n\n");
    if (message.role === "assistant") {
      const calls = message.content.flatMap((b) =>
        b.type === "tool_use"
          ? [{ id: b.id, type: "function" as const, function: { name: b.name, arguments: JSON.stringify(b.input) } }]
          : [],
      );
      if (!text && !calls.length) continue;
      messages.push({ role: "assistant", content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
    } else {
      // Tool results must directly follow the assistant turn that called them, before any new user text.
      for (const b of message.content) {
        if (b.type === "tool_result")
          messages.push({
            role: "tool",
            tool_call_id: b.toolUseId,
            content: b.isError ? `Error: ${b.content}` : b.content,
          });
      }
      if (text) messages.push({ role: "user", content: text });
    }
  }
  const tools: ChatCompletionTool[] = request.tools.map((t) => ({
    type: "function",
    function: { name: t.name, description: t.description, parameters: t.inputSchema },
  }));
  return {
    model: request.model,
    messages,
    ...(tools.length ? { tools } : {}),
    [maxTokensParam]: request.maxTokens,
  };
}

export function normaliseUsage(usage: CompletionUsage): TokenUsage {
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    inputTokens: usage.prompt_tokens - cached,
    outputTokens: usage.completion_tokens,
    cacheWriteTokens: 0,
    cacheReadTokens: cached,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

/**
 * A compatible server that reports no usage (some ignore include_usage) still has to be metered: charge a
 * generous estimate and say so, rather than charge nothing.
 */
function usageOrEstimate(usage: CompletionUsage | null | undefined, request: ModelRequest, content: ContentBlock[]) {
  if (usage) return { usage: normaliseUsage(usage) };
  const out = Buffer.byteLength(JSON.stringify(content));
  return {
    usage: { inputTokens: inputTokenBound(request), outputTokens: Math.ceil(out / 3) + 10 },
    usageEstimated: true,
  };
}

const finishReasons: Record<string, ModelResponse["stopReason"]> = {
  stop: "end_turn",
  tool_calls: "tool_use",
  function_call: "tool_use",
  length: "max_tokens",
  content_filter: "refusal",
};

function stopReason(finish: string | null | undefined, content: ContentBlock[]): ModelResponse["stopReason"] {
  // Several compatible servers say "stop" even when the turn ends in tool calls; the calls are what matter.
  if (content.some((b) => b.type === "tool_use")) return "tool_use";
  return finishReasons[finish ?? ""] ?? "other";
}

/** Arguments are JSON text the model wrote; unparsable ones reach the tool's validation (and the model) as such. */
function parseArguments(args: string): Record<string, unknown> {
  if (!args.trim()) return {};
  try {
    const parsed: unknown = JSON.parse(args);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : { _arguments: parsed };
  } catch {
    return { _unparsable_arguments: args };
  }
}

let idCounter = 0;
const freshCallId = () => `call_bosun_${Date.now().toString(36)}_${(++idCounter).toString(36)}`;

function fromCompletion(completion: ChatCompletion, request: ModelRequest): ModelResponse {
  const message = completion.choices[0]?.message;
  const content: ContentBlock[] = [];
  const text = message?.content || message?.refusal;
  if (text) content.push({ type: "text", text });
  for (const call of message?.tool_calls ?? []) {
    if (call.type === "function")
      content.push({
        type: "tool_use",
        id: call.id || freshCallId(),
        name: call.function.name,
        input: parseArguments(call.function.arguments),
      });
  }
  const finish = message?.refusal && !message.content ? "content_filter" : completion.choices[0]?.finish_reason;
  return {
    content,
    stopReason: stopReason(finish, content),
    model: completion.model,
    ...usageOrEstimate(completion.usage, request, content),
  };
}

async function streamed(
  client: OpenAI,
  params: ChatCompletionCreateParamsBase,
  request: ModelRequest,
  stallMs: number,
): Promise<ModelResponse> {
  const guard = stallGuard(stallMs, request.signal);
  try {
    // Headers first, under the SDK's timeout and retries; from then on the guard watches the stream.
    const stream = await client.chat.completions.create(
      { ...params, stream: true, stream_options: { include_usage: true } },
      { signal: guard.signal },
    );
    guard.touch();
    const response = await readStream(stream, params, request, guard.touch);
    // The SDK ends an aborted stream quietly, as if it were complete: a cut-off reply must not pass as one.
    if (guard.signal.aborted) throw new Error("stream aborted");
    return response;
  } catch (err) {
    if (request.signal?.aborted) throw providerError("openai", { kind: "cancelled" }, 1, request.signal);
    throw guard.stalled() ? stalled("openai", stallMs) : err;
  } finally {
    guard.done();
  }
}

async function readStream(
  stream: AsyncIterable<ChatCompletionChunk>,
  params: ChatCompletionCreateParamsBase,
  request: ModelRequest,
  touch: () => void,
): Promise<ModelResponse> {
  const onDelta = request.onDelta!;
  let text = "";
  let finish: string | null = null;
  let usage: CompletionUsage | undefined;
  let model = params.model;
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for await (const chunk of stream) {
    touch();
    if (chunk.model) model = chunk.model;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      if (choice.index !== 0) continue;
      if (choice.delta?.content) {
        text += choice.delta.content;
        onDelta({ type: "text", text: choice.delta.content });
      }
      for (const d of choice.delta?.tool_calls ?? []) {
        let call = calls.get(d.index);
        if (!call) calls.set(d.index, (call = { id: d.id || freshCallId(), name: "", args: "" }));
        if (d.function?.name) call.name ||= d.function.name;
        if (d.function?.arguments) {
          call.args += d.function.arguments;
          onDelta({ type: "tool_call", id: call.id, name: call.name, partialJson: d.function.arguments });
        }
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  const content: ContentBlock[] = text ? [{ type: "text", text }] : [];
  for (const [, call] of [...calls].sort(([a], [b]) => a - b)) {
    content.push({ type: "tool_use", id: call.id, name: call.name, input: parseArguments(call.args) });
  }
  return { content, stopReason: stopReason(finish, content), model, ...usageOrEstimate(usage, request, content) };
}

function failureOf(err: unknown): FailureKind | undefined {
  if (err instanceof OpenAI.APIUserAbortError) return { kind: "cancelled" };
  if (err instanceof OpenAI.APIConnectionTimeoutError) return { kind: "timeout" };
  if (err instanceof OpenAI.APIConnectionError) return { kind: "connection", message: err.message };
  if (err instanceof OpenAI.APIError && typeof err.status === "number")
    return { kind: "status", status: err.status, message: err.message };
  // e.g. a stream cut short or a malformed chunk
  if (err instanceof OpenAI.OpenAIError) return { kind: "connection", message: err.message };
  return undefined;
}
