// ModelProvider over the Anthropic Messages API (@anthropic-ai/sdk): tool use, prompt caching, streaming.
//
// Retries: the SDK's own (429, 408, 409, 5xx, connection errors and timeouts, exponential backoff with jitter,
// honouring retry-after), so a retried call is one call to us. Usage is the API's own: input_tokens already
// excludes cache reads and writes, which are reported beside it.
import Anthropic from "@anthropic-ai/sdk";
import type {
  ContentBlockParam,
  Message,
  MessageCreateParamsBase,
  MessageParam,
  TextBlockParam,
  Tool,
} from "@anthropic-ai/sdk/resources/messages/messages";
import { type FailureKind, providerError, stalled, stallGuard } from "./errors.ts";
import type { ChatMessage, ContentBlock, ModelProvider, ModelRequest, ModelResponse } from "./provider.ts";

export interface AnthropicProviderOptions {
  apiKey: string;
  /** Default https://api.anthropic.com (never read from the SDK's own env variables: configuration is Bosun's). */
  baseURL?: string;
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Per attempt, until response headers arrive (default 120 s). */
  timeoutMs?: number;
  /** cache_control breakpoints on tools, system prompt and conversation tail (default true). */
  promptCaching?: boolean;
}

const EPHEMERAL = { type: "ephemeral" } as const;

export function createAnthropicProvider(opts: AnthropicProviderOptions): ModelProvider {
  const maxRetries = opts.maxRetries ?? 3;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const client = new Anthropic({
    apiKey: opts.apiKey,
    baseURL: opts.baseURL ?? "https://api.anthropic.com",
    maxRetries,
    timeout: timeoutMs,
  });
  const caching = opts.promptCaching ?? true;

  return {
    name: "anthropic",
    async complete(request: ModelRequest): Promise<ModelResponse> {
      const params = toParams(request, caching);
      try {
        const message = request.onDelta
          ? await streamed(client, params, request, timeoutMs)
          : await client.messages.create({ ...params, stream: false }, { signal: request.signal });
        return fromMessage(message);
      } catch (err) {
        const failure = failureOf(err);
        // Anything not from the SDK (a throwing onDelta, a bug) is not the provider's fault: let it through.
        throw failure ? providerError("anthropic", failure, maxRetries + 1, request.signal) : err;
      }
    },
  };
}

/**
 * The request in Anthropic's shape. Caching: a breakpoint on the last tool and on the system prompt caches that
 * stable prefix across every step of a run; one on the last block of the conversation lets the next step read
 * this step's whole transcript from cache (an agent loop resends it each time). Three of the four allowed.
 */
export function toParams(request: ModelRequest, caching: boolean): MessageCreateParamsBase {
  const tools: Tool[] = request.tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: t.inputSchema as Tool["input_schema"],
  }));
  if (caching && tools.length) tools[tools.length - 1] = { ...tools[tools.length - 1]!, cache_control: EPHEMERAL };
  const system: TextBlockParam[] = request.system
    ? [{ type: "text", text: request.system, ...(caching ? { cache_control: EPHEMERAL } : {}) }]
    : [];
  const messages = request.messages.map(toMessageParam).filter((m) => (m.content as unknown[]).length > 0);
  const last = messages.at(-1);
  if (caching && last && Array.isArray(last.content) && last.content.length) {
    const blocks = last.content;
    blocks[blocks.length - 1] = { ...blocks[blocks.length - 1]!, cache_control: EPHEMERAL } as (typeof blocks)[number];
  }
  return {
    model: request.model,
    max_tokens: request.maxTokens,
    ...(system.length ? { system } : {}),
    ...(tools.length ? { tools } : {}),
    messages,
  };
}

function toMessageParam(message: ChatMessage): MessageParam {
  const content: ContentBlockParam[] = [];
  for (const block of message.content) {
    // The API rejects empty text blocks; a model's empty preamble to a tool call is one.
    if (block.type === "text") {
      if (block.text) content.push({ type: "text", text: block.text });
    } else if (block.type === "tool_use")
      content.push({ type: "tool_use", id: block.id, name: block.name, input: block.input });
    else
      content.push({
        type: "tool_result",
        tool_use_id: block.toolUseId,
        content: block.content,
        ...(block.isError ? { is_error: true } : {}),
      });
  }
  return { role: message.role, content };
}

async function streamed(
  client: Anthropic,
  params: MessageCreateParamsBase,
  request: ModelRequest,
  stallMs: number,
): Promise<Message> {
  const onDelta = request.onDelta!;
  const toolBlocks = new Map<number, { id: string; name: string }>();
  const guard = stallGuard(stallMs, request.signal);
  const stream = client.messages.stream(params, { signal: guard.signal });
  stream.on("connect", guard.touch); // armed once headers are in: before that the SDK's timeout (and retries) apply
  stream.on("streamEvent", (event) => {
    guard.touch();
    if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
      toolBlocks.set(event.index, { id: event.content_block.id, name: event.content_block.name });
    } else if (event.type === "content_block_delta") {
      if (event.delta.type === "text_delta") onDelta({ type: "text", text: event.delta.text });
      else if (event.delta.type === "input_json_delta") {
        const tool = toolBlocks.get(event.index);
        if (tool) onDelta({ type: "tool_call", id: tool.id, name: tool.name, partialJson: event.delta.partial_json });
      }
    }
  });
  try {
    return await stream.finalMessage();
  } catch (err) {
    throw guard.stalled() && !request.signal?.aborted ? stalled("anthropic", stallMs) : err;
  } finally {
    guard.done();
  }
}

const stopReasons: Record<string, ModelResponse["stopReason"]> = {
  end_turn: "end_turn",
  stop_sequence: "end_turn",
  tool_use: "tool_use",
  max_tokens: "max_tokens",
  model_context_window_exceeded: "max_tokens",
  refusal: "refusal",
};

export function fromMessage(message: Message): ModelResponse {
  const content: ContentBlock[] = [];
  for (const block of message.content) {
    if (block.type === "text") content.push({ type: "text", text: block.text });
    else if (block.type === "tool_use")
      content.push({
        type: "tool_use",
        id: block.id,
        name: block.name,
        input: (block.input ?? {}) as Record<string, unknown>,
      });
  }
  const u = message.usage;
  return {
    content,
    stopReason: stopReasons[message.stop_reason ?? ""] ?? "other",
    usage: {
      inputTokens: u.input_tokens,
      outputTokens: u.output_tokens,
      cacheWriteTokens: u.cache_creation_input_tokens ?? 0,
      cacheReadTokens: u.cache_read_input_tokens ?? 0,
    },
    model: message.model,
  };
}

function failureOf(err: unknown): FailureKind | undefined {
  if (err instanceof Anthropic.APIUserAbortError) return { kind: "cancelled" };
  if (err instanceof Anthropic.APIConnectionTimeoutError) return { kind: "timeout" };
  if (err instanceof Anthropic.APIConnectionError) return { kind: "connection", message: err.message };
  if (err instanceof Anthropic.APIError && typeof err.status === "number")
    return { kind: "status", status: err.status, message: err.message };
  // e.g. a stream that ended without message_stop
  if (err instanceof Anthropic.AnthropicError) return { kind: "connection", message: err.message };
  return undefined;
}
