// The fakes' wire formats, read raw (no SDK), so a drift from the real protocols shows here and not as a
// puzzling SDK failure elsewhere.
import { describe, expect, it } from "vitest";
import { startFakeAnthropic } from "./fake-anthropic.ts";
import { startFakeOpenAI } from "./fake-openai.ts";

const hi = [{ role: "user", content: "hi" }];
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

function sse(text: string): Array<{ event?: string; data: string }> {
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)![1]!;
      return { event, data };
    });
}

describe("fake Anthropic", () => {
  it("streams the exact Messages event sequence with usage", async () => {
    const fake = await startFakeAnthropic();
    try {
      fake.script([
        {
          text: "Hello there, operator",
          toolUse: { id: "toolu_x", name: "df", input: { human: true } },
          usage: { inputTokens: 5, outputTokens: 9, cacheReadTokens: 100, cacheWriteTokens: 7 },
        },
      ]);
      const res = await post(`${fake.url}/v1/messages`, {
        model: "claude-haiku-4-5",
        max_tokens: 10,
        stream: true,
        messages: hi,
      });
      expect(res.headers.get("content-type")).toBe("text/event-stream");
      const events = sse(await res.text());
      for (const e of events) expect(JSON.parse(e.data).type).toBe(e.event);
      const kinds = events.map((e) => e.event);
      expect(kinds[0]).toBe("message_start");
      expect(kinds.slice(-2)).toEqual(["message_delta", "message_stop"]);
      const body = kinds.filter((k) => k !== "ping").join(",");
      expect(body).toMatch(
        /^message_start,content_block_start,(content_block_delta,)+content_block_stop,content_block_start,(content_block_delta,)+content_block_stop,message_delta,message_stop$/,
      );
      const data = events.map((e) => JSON.parse(e.data));
      expect(data[0].message.usage).toEqual({
        input_tokens: 5,
        output_tokens: 1,
        cache_creation_input_tokens: 7,
        cache_read_input_tokens: 100,
      });
      expect(data.find((d) => d.type === "content_block_start" && d.index === 1).content_block).toEqual({
        type: "tool_use",
        id: "toolu_x",
        name: "df",
        input: {},
      });
      const json = data
        .filter((d) => d.delta?.type === "input_json_delta")
        .map((d) => d.delta.partial_json)
        .join("");
      expect(JSON.parse(json)).toEqual({ human: true });
      const delta = data.find((d) => d.type === "message_delta");
      expect(delta.delta.stop_reason).toBe("tool_use");
      expect(delta.usage).toEqual({
        input_tokens: 5,
        output_tokens: 9,
        cache_creation_input_tokens: 7,
        cache_read_input_tokens: 100,
      });
    } finally {
      await fake.close();
    }
  });

  it("answers errors in Anthropic's format, says when the script ran out, and records every request", async () => {
    const fake = await startFakeAnthropic({ apiKey: "k" });
    try {
      fake.script([{ status: 529 }, (req) => ({ text: `you sent ${req.body.messages.length} messages` })]);
      const overloaded = await post(
        `${fake.url}/v1/messages`,
        { model: "m", max_tokens: 5, messages: hi },
        { "x-api-key": "k" },
      );
      expect(overloaded.status).toBe(529);
      expect(await overloaded.json()).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
      const two = [...hi, { role: "assistant", content: "hello" }, ...hi];
      const ok = await (
        await post(`${fake.url}/v1/messages`, { model: "m", max_tokens: 5, messages: two }, { "x-api-key": "k" })
      ).json();
      expect(ok.content).toEqual([{ type: "text", text: "you sent 3 messages" }]);
      const empty = await post(
        `${fake.url}/v1/messages`,
        { model: "m", max_tokens: 5, messages: hi },
        { "x-api-key": "k" },
      );
      expect(empty.status).toBe(500);
      expect(empty.headers.get("x-should-retry")).toBe("false");
      expect((await empty.json()).error.message).toContain("no reply left");
      expect((await post(`${fake.url}/v1/messages`, {}, { "x-api-key": "nope" })).status).toBe(401);
      expect(fake.requests).toHaveLength(4);
      expect(fake.pending()).toBe(0);
    } finally {
      await fake.close();
    }
  });
});

describe("request checks the real APIs make", () => {
  const use = { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "ls", input: {} }] };
  const result = (id: string) => ({ role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "x" }] });

  it.each([
    [[...hi, use], /tool_use` ids were found without `tool_result` blocks immediately after: toolu_1/],
    [[...hi, use, ...hi], /without `tool_result`/],
    [[...hi, { role: "assistant", content: "ok" }, result("toolu_9")], /unexpected `tool_use_id`/],
    [[{ role: "user", content: [{ type: "text", text: "" }] }], /text content blocks must be non-empty/],
    [[], /at least one message/],
  ])("Anthropic refuses %#", async (messages, error) => {
    const fake = await startFakeAnthropic();
    try {
      fake.script([{ text: "never" }]);
      const res = await post(`${fake.url}/v1/messages`, { model: "m", max_tokens: 5, messages });
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatchObject({
        type: "invalid_request_error",
        message: expect.stringMatching(error),
      });
      expect(fake.pending()).toBe(1); // refused before the script
    } finally {
      await fake.close();
    }
  });

  it("Anthropic accepts a well-formed tool round trip", async () => {
    const fake = await startFakeAnthropic();
    try {
      fake.script([{ text: "fine" }]);
      expect(
        (
          await post(`${fake.url}/v1/messages`, {
            model: "m",
            max_tokens: 5,
            messages: [...hi, use, result("toolu_1")],
          })
        ).status,
      ).toBe(200);
    } finally {
      await fake.close();
    }
  });

  it.each([
    [
      [
        ...hi,
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_1", type: "function", function: { name: "ls", arguments: "{}" } }],
        },
      ],
      /did not have response messages: call_1/,
    ],
    [
      [...hi, { role: "tool", tool_call_id: "call_1", content: "x" }],
      /must be a response to a preceeding message with 'tool_calls'/,
    ],
    [[], /too short/],
  ])("OpenAI refuses %#", async (messages, error) => {
    const fake = await startFakeOpenAI();
    try {
      const res = await post(`${fake.url}/v1/chat/completions`, { model: "m", messages });
      expect(res.status).toBe(400);
      expect((await res.json()).error.message).toMatch(error);
    } finally {
      await fake.close();
    }
  });
});

describe("fake OpenAI", () => {
  it("streams chunks with tool_calls deltas, and the usage chunk only when asked", async () => {
    const fake = await startFakeOpenAI();
    try {
      const reply = {
        text: "Hi",
        toolUse: { id: "call_1", name: "ls", input: { path: "/var/www/html" } },
        usage: { inputTokens: 10, cacheReadTokens: 30, outputTokens: 4, reasoningTokens: 2 },
      };
      fake.script([reply, reply]);
      const withUsage = sse(
        await (
          await post(`${fake.url}/v1/chat/completions`, {
            model: "gpt-4o",
            messages: hi,
            stream: true,
            stream_options: { include_usage: true },
          })
        ).text(),
      );
      expect(withUsage.at(-1)!.data).toBe("[DONE]");
      const chunks = withUsage.slice(0, -1).map((e) => JSON.parse(e.data));
      expect(chunks.every((c) => c.object === "chat.completion.chunk" && "usage" in c)).toBe(true);
      expect(chunks[0].choices[0].delta.role).toBe("assistant");
      const first = chunks.find((c) => c.choices[0]?.delta.tool_calls)!.choices[0].delta.tool_calls[0];
      expect(first).toEqual({ index: 0, id: "call_1", type: "function", function: { name: "ls", arguments: "" } });
      expect(chunks.at(-2).choices[0]).toMatchObject({ delta: {}, finish_reason: "tool_calls" });
      expect(chunks.at(-1)).toMatchObject({
        choices: [],
        usage: {
          prompt_tokens: 40,
          completion_tokens: 4,
          total_tokens: 44,
          prompt_tokens_details: { cached_tokens: 30 },
          completion_tokens_details: { reasoning_tokens: 2 },
        },
      });

      const without = sse(
        await (await post(`${fake.url}/v1/chat/completions`, { model: "gpt-4o", messages: hi, stream: true })).text(),
      );
      const plain = without.slice(0, -1).map((e) => JSON.parse(e.data));
      expect(plain.some((c) => c.usage)).toBe(false);
      expect(plain.every((c) => c.choices.length === 1)).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it("closes even with idle keep-alive connections open", async () => {
    const fake = await startFakeOpenAI();
    fake.script([{ text: "a" }]);
    await (await post(`${fake.baseURL}/chat/completions`, { model: "m", messages: hi })).json();
    const started = Date.now();
    await fake.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await expect(post(`${fake.baseURL}/chat/completions`, {})).rejects.toThrow();
  });
});
