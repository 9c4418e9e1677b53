// The real @anthropic-ai/sdk client against the fake Messages API over real HTTP on 127.0.0.1.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BosunError } from "../../core/kernel/errors.ts";
import { type FakeModelServer, startFakeAnthropic } from "../../testkit/fake-anthropic.ts";
import { createAnthropicProvider } from "./anthropic.ts";
import type { ModelDelta, ModelRequest } from "./provider.ts";

let fake: FakeModelServer;
beforeEach(async () => {
  fake = await startFakeAnthropic({ apiKey: "sk-ant-test" });
});
afterEach(() => fake.close());

const provider = (opts: { maxRetries?: number; timeoutMs?: number; apiKey?: string } = {}) =>
  createAnthropicProvider({ apiKey: opts.apiKey ?? "sk-ant-test", baseURL: fake.baseURL, ...opts });

const request = (extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: "claude-sonnet-4-6",
  system: "You operate one server.",
  maxTokens: 1024,
  tools: [
    {
      name: "run_command",
      description: "Run a shell command",
      inputSchema: { type: "object", properties: { command: { type: "string" } }, required: ["command"] },
    },
    {
      name: "read_remote_file",
      description: "Read a file",
      inputSchema: { type: "object", properties: { path: { type: "string" } } },
    },
  ],
  messages: [
    { role: "user", content: [{ type: "text", text: "nginx returns 502" }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "" },
        { type: "tool_use", id: "toolu_1", name: "run_command", input: { command: "systemctl status nginx" } },
      ],
    },
    {
      role: "user",
      content: [{ type: "tool_result", toolUseId: "toolu_1", content: "inactive (dead)", isError: false }],
    },
  ],
  ...extra,
});

describe("anthropic provider", () => {
  it("sends tools, system and conversation in the Messages format with cache breakpoints, and reads the reply", async () => {
    fake.script([
      {
        text: "Restarting it.",
        toolUse: { id: "toolu_2", name: "run_command", input: { command: "systemctl restart nginx" } },
        usage: { inputTokens: 120, outputTokens: 31, cacheWriteTokens: 1500, cacheReadTokens: 2048 },
      },
    ]);
    const res = await provider().complete(request());

    expect(res.content).toEqual([
      { type: "text", text: "Restarting it." },
      { type: "tool_use", id: "toolu_2", name: "run_command", input: { command: "systemctl restart nginx" } },
    ]);
    expect(res.stopReason).toBe("tool_use");
    expect(res.model).toBe("claude-sonnet-4-6");
    // Exactly as reported: input excludes the cache reads and writes.
    expect(res.usage).toEqual({ inputTokens: 120, outputTokens: 31, cacheWriteTokens: 1500, cacheReadTokens: 2048 });

    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect(sent.headers["x-api-key"] ?? sent.headers.authorization).toMatch(/^(Bearer )?sk-ant-test$/);
    expect(sent.headers["anthropic-version"]).toBeTruthy();
    expect(sent.body.stream).toBeFalsy();
    expect(sent.body.max_tokens).toBe(1024);
    expect(sent.body.system).toEqual([
      { type: "text", text: "You operate one server.", cache_control: { type: "ephemeral" } },
    ]);
    expect(sent.body.tools[0]).toEqual({
      name: "run_command",
      description: "Run a shell command",
      input_schema: request().tools[0]!.inputSchema,
    });
    expect(sent.body.tools[0].cache_control).toBeUndefined();
    expect(sent.body.tools[1].cache_control).toEqual({ type: "ephemeral" });
    // The empty text block is dropped (the API rejects it); the tool result travels in the user turn.
    expect(sent.body.messages[1].content).toEqual([
      { type: "tool_use", id: "toolu_1", name: "run_command", input: { command: "systemctl status nginx" } },
    ]);
    expect(sent.body.messages[2].content).toEqual([
      { type: "tool_result", tool_use_id: "toolu_1", content: "inactive (dead)", cache_control: { type: "ephemeral" } },
    ]);
    expect(fake.pending()).toBe(0);
  });

  it("streams text and tool-call deltas to onDelta and returns the same message with the final usage", async () => {
    fake.script([
      {
        text: "The config has a typo on line 12; fixing it.",
        toolUse: [
          { id: "toolu_a", name: "read_remote_file", input: { path: "/etc/nginx/nginx.conf" } },
          { id: "toolu_b", name: "run_command", input: { command: "nginx -t", note: "ü ✓ multi-byte" } },
        ],
        usage: { inputTokens: 7, outputTokens: 88, cacheReadTokens: 4000, cacheWriteTokens: 0 },
      },
    ]);
    const deltas: ModelDelta[] = [];
    const res = await provider().complete(request({ onDelta: (d) => deltas.push(d) }));

    expect(fake.requests[0]!.body.stream).toBe(true);
    const textDeltas = deltas.filter((d) => d.type === "text");
    expect(textDeltas.length).toBeGreaterThan(1);
    expect(textDeltas.map((d) => d.text).join("")).toBe("The config has a typo on line 12; fixing it.");
    for (const id of ["toolu_a", "toolu_b"]) {
      const parts = deltas.filter(
        (d): d is Extract<ModelDelta, { type: "tool_call" }> => d.type === "tool_call" && d.id === id,
      );
      expect(parts.length).toBeGreaterThan(1);
      const block = res.content.find((b) => b.type === "tool_use" && b.id === id);
      expect(JSON.parse(parts.map((p) => p.partialJson).join(""))).toEqual(
        block && block.type === "tool_use" ? block.input : undefined,
      );
    }
    expect(res.content[2]).toEqual({
      type: "tool_use",
      id: "toolu_b",
      name: "run_command",
      input: { command: "nginx -t", note: "ü ✓ multi-byte" },
    });
    expect(res.stopReason).toBe("tool_use");
    expect(res.usage).toEqual({ inputTokens: 7, outputTokens: 88, cacheWriteTokens: 0, cacheReadTokens: 4000 });
    expect(res.usage).toEqual({ ...fake.usages[0], reasoningTokens: undefined });
  });

  it("retries a 429 and succeeds", async () => {
    fake.script([{ status: 429 }, { text: "ok" }]);
    const res = await provider().complete(request({ onDelta: () => {} }));
    expect(res.content).toEqual([{ type: "text", text: "ok" }]);
    expect(fake.requests).toHaveLength(2);
  });

  it("surfaces a persistent 500 as a typed model_error after the retries", async () => {
    fake.script([{ status: 500 }, { status: 500 }, { status: 500 }, { text: "never reached" }]);
    const err = await provider({ maxRetries: 2 })
      .complete(request())
      .catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("model_error");
    expect(err.status).toBe(502);
    expect(err.details).toMatchObject({ provider: "anthropic", status: 500, retryable: true });
    expect(fake.requests).toHaveLength(3);
  });

  it("does not retry a refused key and names the variable to fix", async () => {
    const err = await provider({ apiKey: "wrong" })
      .complete(request())
      .catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("not_configured");
    expect(err.message).toContain("ANTHROPIC_API_KEY");
    expect(fake.requests).toHaveLength(1);
  });

  it("retries a timed-out attempt, and reports a persistent timeout as `timeout`", async () => {
    fake.script([{ delayMs: 5_000, text: "too late" }, { text: "in time" }]);
    const res = await provider({ timeoutMs: 300, maxRetries: 1 }).complete(request());
    expect(res.content).toEqual([{ type: "text", text: "in time" }]);
    expect(fake.requests).toHaveLength(2);

    fake.script([{ delayMs: 5_000 }, { delayMs: 5_000 }]);
    const err = await provider({ timeoutMs: 200, maxRetries: 1 })
      .complete(request())
      .catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("timeout");
  });

  it("stops at once when the caller aborts, with the caller's reason", async () => {
    fake.script([{ delayMs: 5_000, text: "slow" }]);
    const controller = new AbortController();
    const reason = new BosunError("conflict", "run cancelled");
    setTimeout(() => controller.abort(reason), 100);
    const started = Date.now();
    const err = await provider()
      .complete(request({ signal: controller.signal }))
      .catch((e) => e);
    expect(err).toBe(reason);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("leaves out cache_control when prompt caching is off and maps max_tokens", async () => {
    fake.script([{ text: "cut o", stopReason: "max_tokens" }]);
    const res = await createAnthropicProvider({
      apiKey: "sk-ant-test",
      baseURL: fake.baseURL,
      promptCaching: false,
    }).complete(request());
    expect(res.stopReason).toBe("max_tokens");
    expect(fake.requests[0]!.rawBody).not.toContain("cache_control");
  });
  it("fails a stream that stalls after its headers, but not one that keeps moving slowly", async () => {
    fake.script([{ text: "a reply that arrives in several slow pieces", chunkDelayMs: 100 }]);
    const slow = await provider({ timeoutMs: 300 }).complete(request({ onDelta: () => {} }));
    expect(slow.content).toEqual([{ type: "text", text: "a reply that arrives in several slow pieces" }]);

    fake.script([{ text: "stuck", chunkDelayMs: 5_000 }]);
    const started = Date.now();
    const err = await provider({ timeoutMs: 300 })
      .complete(request({ onDelta: () => {} }))
      .catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("timeout");
    expect(err.message).toContain("stopped streaming");
    expect(Date.now() - started).toBeLessThan(3_000);
  });
  it("rejects with the caller's reason when aborted mid-stream, never a cut-off reply", async () => {
    fake.script([{ text: "a reply that will be cut off halfway through", chunkDelayMs: 100 }]);
    const controller = new AbortController();
    const reason = new BosunError("conflict", "run cancelled");
    const deltas: ModelDelta[] = [];
    const err = await provider()
      .complete(
        request({
          signal: controller.signal,
          onDelta: (d) => (deltas.push(d), deltas.length === 2 && controller.abort(reason)),
        }),
      )
      .catch((e) => e);
    expect(err).toBe(reason);
  });
  it("does not retry a conversation the API refuses, and says why", async () => {
    const broken = request({ messages: request().messages.slice(0, 2) }); // a tool_use with no tool_result after it
    const err = await provider()
      .complete(broken)
      .catch((e) => e);
    expect(err).toMatchObject({ code: "model_error", details: { status: 400, retryable: false } });
    expect(err.message).toContain("tool_result");
    expect(fake.requests).toHaveLength(1);
  });
});
