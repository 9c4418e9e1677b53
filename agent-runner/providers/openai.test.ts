// The real `openai` client against the fake Chat Completions API over real HTTP on 127.0.0.1.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BosunError } from "../../core/kernel/errors.ts";
import { type FakeModelServer, startFakeOpenAI } from "../../testkit/fake-openai.ts";
import { createOpenAIProvider, defaultMaxTokensParam, type OpenAIProviderOptions, toParams } from "./openai.ts";
import type { ModelDelta, ModelRequest } from "./provider.ts";

let fake: FakeModelServer;
beforeEach(async () => {
  fake = await startFakeOpenAI({ apiKey: "sk-test" });
});
afterEach(() => fake.close());

const provider = (opts: Partial<OpenAIProviderOptions> = {}) =>
  createOpenAIProvider({ apiKey: "sk-test", baseURL: fake.baseURL, ...opts });

const request = (extra: Partial<ModelRequest> = {}): ModelRequest => ({
  model: "gpt-4.1",
  system: "You edit one site.",
  maxTokens: 2048,
  tools: [
    {
      name: "write_file",
      description: "Write a file",
      inputSchema: { type: "object", properties: { path: { type: "string" }, content: { type: "string" } } },
    },
  ],
  messages: [
    { role: "user", content: [{ type: "text", text: "Add a contact page" }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Writing it." },
        { type: "tool_use", id: "call_1", name: "write_file", input: { path: "contact.html", content: "<form>" } },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", toolUseId: "call_1", content: "quota exceeded", isError: true },
        { type: "text", text: "Also link it." },
      ],
    },
  ],
  ...extra,
});

describe("openai provider", () => {
  it("sends the conversation as Chat Completions messages and normalises the usage", async () => {
    fake.script([
      {
        text: "Linking it.",
        toolUse: { id: "call_2", name: "write_file", input: { path: "index.html", content: "<a href=contact.html>" } },
        usage: { inputTokens: 300, cacheReadTokens: 1024, outputTokens: 90, reasoningTokens: 64 },
      },
    ]);
    const res = await provider().complete(request());

    expect(res.content).toEqual([
      { type: "text", text: "Linking it." },
      {
        type: "tool_use",
        id: "call_2",
        name: "write_file",
        input: { path: "index.html", content: "<a href=contact.html>" },
      },
    ]);
    expect(res.stopReason).toBe("tool_use");
    expect(res.model).toBe("gpt-4.1");
    // prompt_tokens was 1324 including 1024 cached: input excludes them, as Anthropic's does.
    expect(res.usage).toEqual({
      inputTokens: 300,
      outputTokens: 90,
      cacheWriteTokens: 0,
      cacheReadTokens: 1024,
      reasoningTokens: 64,
    });
    expect(res.usage).toEqual(fake.usages[0]);
    expect(res.usageEstimated).toBeUndefined();

    const sent = fake.requests[0]!;
    expect(sent.headers.authorization).toBe("Bearer sk-test");
    expect(sent.body.stream).toBeFalsy();
    // A compatible server (not api.openai.com) gets max_tokens.
    expect(sent.body.max_tokens).toBe(2048);
    expect(sent.body.max_completion_tokens).toBeUndefined();
    expect(sent.body.tools).toEqual([
      {
        type: "function",
        function: { name: "write_file", description: "Write a file", parameters: request().tools[0]!.inputSchema },
      },
    ]);
    expect(sent.body.messages).toEqual([
      { role: "system", content: "You edit one site." },
      { role: "user", content: "Add a contact page" },
      {
        role: "assistant",
        content: "Writing it.",
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "write_file", arguments: '{"path":"contact.html","content":"<form>"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "Error: quota exceeded" },
      { role: "user", content: "Also link it." },
    ]);
  });

  it("streams text and tool-call deltas, asks for usage in the stream, and reads the final usage chunk", async () => {
    fake.script([
      {
        text: "Two files to write, starting now.",
        toolUse: [
          { id: "call_a", name: "write_file", input: { path: "a.html", content: "<h1>Ä</h1>" } },
          { id: "call_b", name: "write_file", input: { path: "b.html", content: "x".repeat(40) } },
        ],
        usage: { inputTokens: 11, cacheReadTokens: 2048, outputTokens: 70, reasoningTokens: 0 },
      },
    ]);
    const deltas: ModelDelta[] = [];
    const res = await provider().complete(request({ onDelta: (d) => deltas.push(d) }));

    const sent = fake.requests[0]!.body;
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toEqual({ include_usage: true });
    const text = deltas.filter((d) => d.type === "text");
    expect(text.length).toBeGreaterThan(1);
    expect(text.map((d) => d.text).join("")).toBe("Two files to write, starting now.");
    for (const id of ["call_a", "call_b"]) {
      const parts = deltas.filter(
        (d): d is Extract<ModelDelta, { type: "tool_call" }> => d.type === "tool_call" && d.id === id,
      );
      expect(parts.length).toBeGreaterThan(1);
      expect(parts.every((p) => p.name === "write_file")).toBe(true);
      const block = res.content.find((b) => b.type === "tool_use" && b.id === id)!;
      expect(JSON.parse(parts.map((p) => p.partialJson).join(""))).toEqual(block.type === "tool_use" && block.input);
    }
    expect(res.content).toHaveLength(3);
    expect(res.stopReason).toBe("tool_use");
    expect(res.usage).toEqual({
      inputTokens: 11,
      outputTokens: 70,
      cacheWriteTokens: 0,
      cacheReadTokens: 2048,
      reasoningTokens: 0,
    });
    expect(res.usage).toEqual(fake.usages[0]);
  });

  it("uses max_completion_tokens against api.openai.com and max_tokens elsewhere", () => {
    expect(defaultMaxTokensParam("https://api.openai.com/v1")).toBe("max_completion_tokens");
    expect(defaultMaxTokensParam("http://127.0.0.1:11434/v1")).toBe("max_tokens");
    expect(Object.keys(toParams(request(), "max_completion_tokens"))).toContain("max_completion_tokens");
    expect(Object.keys(toParams(request(), "max_completion_tokens"))).not.toContain("max_tokens");
  });

  it("retries a 429 and succeeds (streaming too)", async () => {
    fake.script([{ status: 429 }, { text: "ok" }, { status: 503 }, { text: "ok again" }]);
    expect((await provider().complete(request())).content).toEqual([{ type: "text", text: "ok" }]);
    expect((await provider().complete(request({ onDelta: () => {} }))).content).toEqual([
      { type: "text", text: "ok again" },
    ]);
    expect(fake.requests).toHaveLength(4);
  });

  it("surfaces a persistent 500 as a typed model_error after the retries", async () => {
    fake.script(Array.from({ length: 5 }, () => ({ status: 500 })));
    const err = await provider({ maxRetries: 3 })
      .complete(request())
      .catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("model_error");
    expect(err.details).toMatchObject({ provider: "openai", status: 500, retryable: true, attempts: 4 });
    expect(fake.requests).toHaveLength(4);
  });

  it("does not retry a bad request, and names the key variable on 401", async () => {
    fake.script([{ status: 400, errorMessage: "context_length_exceeded" }]);
    const bad = await provider()
      .complete(request())
      .catch((e) => e);
    expect(bad).toMatchObject({ code: "model_error", details: { status: 400, retryable: false } });
    expect(bad.message).toContain("context_length_exceeded");
    expect(fake.requests).toHaveLength(1);

    const auth = await provider({ apiKey: "wrong" })
      .complete(request())
      .catch((e) => e);
    expect(auth).toMatchObject({ code: "not_configured", details: { variable: "OPENAI_API_KEY" } });
    expect(fake.requests).toHaveLength(2);
  });

  it("retries a timed-out attempt", async () => {
    fake.script([{ delayMs: 5_000, text: "late" }, { text: "on time" }]);
    const res = await provider({ timeoutMs: 300, maxRetries: 1 }).complete(request());
    expect(res.content).toEqual([{ type: "text", text: "on time" }]);
    expect(fake.requests).toHaveLength(2);
  });

  it("meters a generous estimate, flagged, when a compatible server streams no usage", async () => {
    // A server that ignores include_usage: drop it from the request the fake sees.
    fake.script([
      (req) => {
        delete req.body.stream_options;
        return { text: "no usage here" };
      },
    ]);
    const res = await provider().complete(request({ onDelta: () => {} }));
    expect(res.usageEstimated).toBe(true);
    expect(res.usage.inputTokens).toBeGreaterThan(Buffer.byteLength(JSON.stringify(request().messages)) / 4);
    expect(res.usage.outputTokens).toBeGreaterThan(0);
  });

  it("keeps unparsable tool arguments visible instead of dropping the call", async () => {
    fake.script([
      {
        toolUse: {
          id: "call_x",
          name: "write_file",
          input: {},
          rawArguments: '{"path": "a.html", "content": "unterminated',
        },
      },
    ]);
    const res = await provider().complete(request());
    expect(res.content).toEqual([
      {
        type: "tool_use",
        id: "call_x",
        name: "write_file",
        input: { _unparsable_arguments: '{"path": "a.html", "content": "unterminated' },
      },
    ]);
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
});
