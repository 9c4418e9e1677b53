import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BosunError } from "../../core/kernel/errors.ts";
import { startFakeAnthropic } from "../../testkit/fake-anthropic.ts";
import type { FakeModelServer } from "../../testkit/fake-model.ts";
import { startFakeOpenAI } from "../../testkit/fake-openai.ts";
import { providerFromConfig } from "./index.ts";
import type { ModelRequest } from "./provider.ts";

let anthropic: FakeModelServer;
let openai: FakeModelServer;
beforeAll(async () => {
  [anthropic, openai] = await Promise.all([startFakeAnthropic({ apiKey: "sk-ant-op" }), startFakeOpenAI()]);
});
afterAll(() => Promise.all([anthropic.close(), openai.close()]));

const ask = (model: string): ModelRequest => ({
  model,
  system: "s",
  messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }],
  tools: [],
  maxTokens: 10,
});

function configError(env: NodeJS.ProcessEnv): BosunError {
  try {
    providerFromConfig(env);
  } catch (err) {
    return err as BosunError;
  }
  throw new Error("expected a configuration error");
}

describe("providerFromConfig", () => {
  it.each([
    [{}, "ANTHROPIC_API_KEY"],
    [{ BOSUN_AGENT_PROVIDER: "anthropic", OPENAI_API_KEY: "sk" }, "ANTHROPIC_API_KEY"],
    [{ BOSUN_AGENT_PROVIDER: "openai", ANTHROPIC_API_KEY: "sk-ant" }, "OPENAI_API_KEY"],
    [{ BOSUN_AGENT_PROVIDER: "gemini", ANTHROPIC_API_KEY: "sk-ant" }, "BOSUN_AGENT_PROVIDER"],
  ])("refuses %j with not_configured naming %s", (env, variable) => {
    const err = configError(env);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("not_configured");
    expect(err.status).toBe(503);
    expect(err.message).toContain(variable);
    expect(err.details.variable).toBe(variable);
  });

  it("builds the Anthropic provider from the operator's key, base URL and model", async () => {
    const { provider, model } = providerFromConfig({
      ANTHROPIC_API_KEY: "sk-ant-op",
      BOSUN_ANTHROPIC_BASE_URL: anthropic.baseURL,
      BOSUN_AGENT_MODEL: "claude-haiku-4-5",
    });
    expect(provider.name).toBe("anthropic");
    expect(model).toBe("claude-haiku-4-5");
    anthropic.script([{ text: "hello" }]);
    expect((await provider.complete(ask(model))).content).toEqual([{ type: "text", text: "hello" }]);
    expect(anthropic.requests.at(-1)!.body.model).toBe("claude-haiku-4-5");
  });

  it("talks to a keyless OpenAI-compatible server given its base URL", async () => {
    const { provider, model } = providerFromConfig(
      { BOSUN_AGENT_PROVIDER: "openai", BOSUN_OPENAI_BASE_URL: openai.baseURL, BOSUN_AGENT_MODEL: "llama3.1:8b" },
      { maxRetries: 0 },
    );
    expect(provider.name).toBe("openai");
    openai.script([{ text: "local hello" }]);
    expect((await provider.complete(ask(model))).content).toEqual([{ type: "text", text: "local hello" }]);
    expect(openai.requests.at(-1)!.body.model).toBe("llama3.1:8b");
  });
});
