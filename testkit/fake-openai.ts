// A fake OpenAI Chat Completions API (POST /v1/chat/completions) speaking the real wire format, so the real
// `openai` client is exercised: a chat.completion JSON reply, or for `stream: true` chat.completion.chunk
// events (content deltas, tool_calls deltas by index with id and name first, then argument fragments, a
// finish_reason chunk), then — only when the client asked with stream_options.include_usage — a final chunk with
// empty `choices` and the usage, then `data: [DONE]`. Errors use OpenAI's `{error:{message,type,param,code}}`.
//
// Usage is scripted in Bosun's normalised terms and rendered as OpenAI counts it: prompt_tokens INCLUDES the
// cached tokens (prompt_tokens_details.cached_tokens), completion_tokens INCLUDES reasoning tokens
// (completion_tokens_details.reasoning_tokens). OpenAI has no cache-write charge, so scripted cacheWriteTokens
// are reported as ordinary prompt tokens.
import type http from "node:http";
import type { TokenUsage } from "../core/billing/prices.ts";
import {
  EXHAUSTED,
  errorHeaders,
  type FakeModelServer,
  freshId,
  pieces,
  type ScriptedReply,
  toolCalls,
  usageFor,
} from "./fake-model.ts";
import {
  pause,
  type RecordedRequest,
  scriptQueue,
  sendJson,
  startEventStream,
  startFakeServer,
  writeEvent,
} from "./fake-server.ts";

export type { FakeModelServer, ScriptedReply } from "./fake-model.ts";

const errorKind: Record<number, [type: string, code: string | null]> = {
  400: ["invalid_request_error", null],
  401: ["invalid_request_error", "invalid_api_key"],
  403: ["invalid_request_error", "unsupported_country_region_territory"],
  404: ["invalid_request_error", "model_not_found"],
  429: ["requests", "rate_limit_exceeded"],
  500: ["server_error", null],
  503: ["server_error", null],
};

function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  const [type, code] = errorKind[status] ?? [status >= 500 ? "server_error" : "invalid_request_error", null];
  sendJson(
    res,
    status,
    { error: { message, type, param: null, code } },
    { "x-request-id": freshId("req_"), ...headers },
  );
}

/** Bosun's usage → OpenAI's counters, and the normalised usage a correct provider must read back from them. */
function wireUsage(u: TokenUsage) {
  const cached = u.cacheReadTokens ?? 0;
  const prompt = u.inputTokens + (u.cacheWriteTokens ?? 0) + cached;
  return {
    wire: {
      prompt_tokens: prompt,
      completion_tokens: u.outputTokens,
      total_tokens: prompt + u.outputTokens,
      prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: u.reasoningTokens ?? 0,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    },
    normalised: {
      inputTokens: prompt - cached,
      outputTokens: u.outputTokens,
      cacheWriteTokens: 0,
      cacheReadTokens: cached,
      reasoningTokens: u.reasoningTokens ?? 0,
    } satisfies TokenUsage,
  };
}

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/** The conversation checks the real API makes before any model runs, with its wording (see fake-anthropic.ts). */
export function openaiRequestProblem(body: any): string | undefined {
  if (!body || typeof body !== "object") return "We could not parse the JSON body of your request.";
  if (typeof body.model !== "string" || !body.model) return "you must provide a model parameter";
  if (!Array.isArray(body.messages) || !body.messages.length) return "[] is too short - 'messages'";
  for (const tool of body.tools ?? []) {
    if (!TOOL_NAME.test(tool?.function?.name ?? ""))
      return `Invalid 'tools.function.name': string does not match pattern. Expected a string that matches the pattern '${TOOL_NAME.source}'.`;
  }
  let open: string[] = [];
  for (const [i, m] of body.messages.entries()) {
    if (m?.role === "tool") {
      if (!open.includes(m.tool_call_id))
        return `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.`;
      open = open.filter((id) => id !== m.tool_call_id);
      continue;
    }
    if (open.length) {
      return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${open.join(", ")}`;
    }
    if (!["system", "developer", "user", "assistant"].includes(m?.role))
      return `Invalid value: '${m?.role}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function', and 'developer'. (messages.${i}.role)`;
    open = m.role === "assistant" ? (m.tool_calls ?? []).map((c: any) => c.id) : [];
  }
  if (open.length) {
    return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${open.join(", ")}`;
  }
  return undefined;
}

/** `validate: false` skips the request checks (to script a reply to a request the real API would refuse). */
export async function startFakeOpenAI(opts: { apiKey?: string; validate?: boolean } = {}): Promise<FakeModelServer> {
  const queue = scriptQueue<ScriptedReply>();
  const usages: TokenUsage[] = [];

  const server = await startFakeServer(async (req, res) => {
    if (req.method !== "POST" || req.path.split("?")[0] !== "/v1/chat/completions") {
      return sendError(res, 404, `fake openai: no route ${req.method} ${req.path}`);
    }
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendError(res, 401, "Incorrect API key provided.");
    }
    const problem = opts.validate === false ? undefined : openaiRequestProblem(req.body);
    if (problem) return sendError(res, 400, problem);
    const reply = queue.next(req);
    if (!reply) return sendError(res, 500, EXHAUSTED, { "x-should-retry": "false" });
    await pause(reply.delayMs ?? 0, res);
    if (res.destroyed) return;
    if (reply.status && reply.status >= 400) {
      return sendError(res, reply.status, reply.errorMessage ?? `scripted ${reply.status}`, errorHeaders(reply));
    }
    const usage = wireUsage(usageFor(req, reply));
    usages.push(usage.normalised);
    if (req.body?.stream) await stream(req, res, reply, usage.wire);
    else sendJson(res, 200, completion(req, reply, usage.wire), { "x-request-id": freshId("req_"), ...reply.headers });
  });

  return { ...server, ...queue, usages, baseURL: `${server.url}/v1` };
}

const finishReason = (reply: ScriptedReply) => {
  const stop = reply.stopReason ?? (toolCalls(reply).length ? "tool_use" : "end_turn");
  return { end_turn: "stop", tool_use: "tool_calls", max_tokens: "length", refusal: "content_filter" }[stop];
};

const wireCalls = (reply: ScriptedReply) =>
  toolCalls(reply).map((c) => ({
    id: c.id ?? freshId("call_"),
    type: "function" as const,
    name: c.name,
    arguments: c.rawArguments ?? JSON.stringify(c.input),
  }));

function completion(req: RecordedRequest, reply: ScriptedReply, usage: object) {
  const calls = wireCalls(reply);
  return {
    id: freshId("chatcmpl-"),
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? req.body?.model ?? "gpt-fake",
    system_fingerprint: "fp_fake",
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: reply.text ?? null,
          refusal: null,
          ...(calls.length
            ? {
                tool_calls: calls.map((c) => ({
                  id: c.id,
                  type: c.type,
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
        },
        logprobs: null,
        finish_reason: finishReason(reply),
      },
    ],
    usage,
  };
}

async function stream(req: RecordedRequest, res: http.ServerResponse, reply: ScriptedReply, usage: object) {
  const includeUsage = req.body?.stream_options?.include_usage === true;
  const base = {
    id: freshId("chatcmpl-"),
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? req.body?.model ?? "gpt-fake",
    system_fingerprint: "fp_fake",
  };
  const chunk = (delta: object, finish: string | null = null) =>
    writeEvent(res, {
      ...base,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    });
  const gap = () => pause(reply.chunkDelayMs ?? 0, res);

  startEventStream(res, { "x-request-id": freshId("req_"), ...reply.headers });
  chunk({ role: "assistant", content: "", refusal: null });
  for (const piece of pieces(reply.text ?? "")) {
    await gap();
    chunk({ content: piece });
  }
  for (const [index, call] of wireCalls(reply).entries()) {
    await gap();
    chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] });
    for (const piece of pieces(call.arguments, 12)) {
      await gap();
      chunk({ tool_calls: [{ index, function: { arguments: piece } }] });
    }
  }
  await gap();
  chunk({}, finishReason(reply));
  if (includeUsage) writeEvent(res, { ...base, choices: [], usage });
  writeEvent(res, "[DONE]");
  res.end();
}
