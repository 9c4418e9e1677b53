// A fake Anthropic Messages API (POST /v1/messages) speaking the real wire format, so the real
// @anthropic-ai/sdk client is exercised: JSON replies, and for `stream: true` the SSE sequence message_start,
// content_block_start / content_block_delta (text_delta, input_json_delta) / content_block_stop, message_delta
// (stop_reason and usage), message_stop. Errors use Anthropic's `{type:"error", error:{type, message}}` body.
//
//   const fake = await startFakeAnthropic();
//   fake.script([{ text: "Looking." , toolUse: { name: "run_command", input: { command: "df -h" } } }, { status: 429 }, { text: "Done." }]);
//   const provider = createAnthropicProvider({ apiKey: "test", baseURL: fake.baseURL });
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

export type { FakeModelServer, ScriptedReply } from "./fake-model.ts";

import {
  pause,
  type RecordedRequest,
  scriptQueue,
  sendJson,
  startEventStream,
  startFakeServer,
  writeEvent,
} from "./fake-server.ts";

const errorType: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  529: "overloaded_error",
};

function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) {
  const type = errorType[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  sendJson(
    res,
    status,
    { type: "error", error: { type, message }, request_id: freshId("req_") },
    { "request-id": freshId("req_"), ...headers },
  );
}

/** The usage object as Anthropic reports it: input_tokens already excludes cache reads and writes. */
const wireUsage = (u: TokenUsage) => ({
  input_tokens: u.inputTokens,
  output_tokens: u.outputTokens,
  cache_creation_input_tokens: u.cacheWriteTokens ?? 0,
  cache_read_input_tokens: u.cacheReadTokens ?? 0,
});

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * The request checks the real API makes before any model runs, with its wording, so a loop that sends a broken
 * conversation (an empty text block, a tool_use without its tool_result — easy after a resumed run) fails here
 * as it would in production instead of passing against a lenient fake.
 */
export function anthropicRequestProblem(body: any): string | undefined {
  if (!body || typeof body !== "object") return "request body must be a JSON object";
  if (typeof body.model !== "string" || !body.model) return "model: Field required";
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return "max_tokens: Field required";
  if (!Array.isArray(body.messages) || !body.messages.length) return "messages: at least one message is required";
  for (const tool of body.tools ?? []) {
    if (!TOOL_NAME.test(tool?.name ?? "")) return `tools: tool name must match ${TOOL_NAME.source}`;
  }
  const blocks = (m: any): any[] =>
    typeof m?.content === "string" ? [{ type: "text", text: m.content }] : Array.isArray(m?.content) ? m.content : [];
  for (const [i, message] of body.messages.entries()) {
    if (message?.role !== "user" && message?.role !== "assistant")
      return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    for (const block of blocks(message)) {
      if (block?.type === "text" && !block.text) return `messages.${i}: text content blocks must be non-empty`;
    }
    const uses =
      message.role === "assistant"
        ? blocks(message)
            .filter((b) => b?.type === "tool_use")
            .map((b) => b.id)
        : [];
    const results = new Set(
      blocks(body.messages[i + 1])
        .filter((b) => b?.type === "tool_result")
        .map((b) => b.tool_use_id),
    );
    const missing = uses.filter((id) => !results.has(id));
    if (missing.length) {
      return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    }
    if (message.role === "user") {
      const previous = new Set(
        blocks(body.messages[i - 1])
          .filter((b) => b?.type === "tool_use")
          .map((b) => b.id),
      );
      const stray = blocks(message).find(
        (b) =>
          b?.type === "tool_result" && (body.messages[i - 1]?.role !== "assistant" || !previous.has(b.tool_use_id)),
      );
      if (stray)
        return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${stray.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
    }
  }
  return undefined;
}

/** `validate: false` skips the request checks (to script a reply to a request the real API would refuse). */
export async function startFakeAnthropic(opts: { apiKey?: string; validate?: boolean } = {}): Promise<FakeModelServer> {
  const queue = scriptQueue<ScriptedReply>();
  const usages: TokenUsage[] = [];

  const server = await startFakeServer(async (req, res) => {
    if (req.method !== "POST" || req.path.split("?")[0] !== "/v1/messages") {
      return sendError(res, 404, `fake anthropic: no route ${req.method} ${req.path}`);
    }
    // SDK 1.x sends the key as a bearer token; older clients (and curl examples) use x-api-key. Both are real.
    const key = req.headers["x-api-key"] ?? req.headers.authorization?.replace(/^Bearer /, "");
    if (opts.apiKey !== undefined && key !== opts.apiKey) {
      return sendError(res, 401, "invalid x-api-key");
    }
    const problem = opts.validate === false ? undefined : anthropicRequestProblem(req.body);
    if (problem) return sendError(res, 400, problem);
    const reply = queue.next(req);
    if (!reply) return sendError(res, 500, EXHAUSTED, { "x-should-retry": "false" });
    await pause(reply.delayMs ?? 0, res);
    if (res.destroyed) return;
    if (reply.status && reply.status >= 400) {
      return sendError(res, reply.status, reply.errorMessage ?? `scripted ${reply.status}`, errorHeaders(reply));
    }
    const usage = usageFor(req, reply);
    usages.push(usage);
    if (req.body?.stream) await stream(req, res, reply, usage);
    else sendJson(res, 200, message(req, reply, usage), { "request-id": freshId("req_"), ...reply.headers });
  });

  return { ...server, ...queue, usages, baseURL: server.url };
}

function content(reply: ScriptedReply) {
  const blocks: Array<Record<string, unknown>> = [];
  if (reply.text !== undefined) blocks.push({ type: "text", text: reply.text });
  for (const call of toolCalls(reply))
    blocks.push({ type: "tool_use", id: call.id ?? freshId("toolu_"), name: call.name, input: call.input });
  return blocks;
}

const stopReason = (reply: ScriptedReply) => reply.stopReason ?? (toolCalls(reply).length ? "tool_use" : "end_turn");

function message(req: RecordedRequest, reply: ScriptedReply, usage: TokenUsage) {
  return {
    id: freshId("msg_"),
    type: "message",
    role: "assistant",
    model: reply.model ?? req.body?.model ?? "claude-fake",
    content: content(reply),
    stop_reason: stopReason(reply),
    stop_sequence: null,
    usage: wireUsage(usage),
  };
}

async function stream(req: RecordedRequest, res: http.ServerResponse, reply: ScriptedReply, usage: TokenUsage) {
  startEventStream(res, { "request-id": freshId("req_"), ...reply.headers });
  const gap = () => pause(reply.chunkDelayMs ?? 0, res);
  const start = { ...message(req, reply, usage), content: [], stop_reason: null };
  // As the real API does: message_start carries the input side of usage and a provisional output count.
  start.usage = { ...wireUsage(usage), output_tokens: 1 };
  writeEvent(res, { type: "message_start", message: start }, "message_start");
  writeEvent(res, { type: "ping" }, "ping");

  let index = 0;
  for (const block of content(reply)) {
    await gap();
    if (block.type === "text") {
      writeEvent(
        res,
        { type: "content_block_start", index, content_block: { type: "text", text: "" } },
        "content_block_start",
      );
      for (const piece of pieces(block.text as string)) {
        await gap();
        writeEvent(
          res,
          { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } },
          "content_block_delta",
        );
      }
    } else {
      writeEvent(
        res,
        {
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
        },
        "content_block_start",
      );
      for (const piece of pieces(JSON.stringify(block.input), 12)) {
        await gap();
        writeEvent(
          res,
          { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } },
          "content_block_delta",
        );
      }
    }
    writeEvent(res, { type: "content_block_stop", index }, "content_block_stop");
    index++;
  }
  await gap();
  // The final, cumulative usage; the API repeats the input-side counters here.
  writeEvent(
    res,
    { type: "message_delta", delta: { stop_reason: stopReason(reply), stop_sequence: null }, usage: wireUsage(usage) },
    "message_delta",
  );
  writeEvent(res, { type: "message_stop" }, "message_stop");
  res.end();
}
