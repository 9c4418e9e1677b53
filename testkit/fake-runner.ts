// The runner the agent tests drive: one worker on the real Anthropic SDK, pointed at the fake Anthropic server.
import pino from "pino";
import { createAnthropicProvider } from "../agent-runner/providers/anthropic.ts";
import type { Bridge } from "../agent-runner/tools.ts";
import { RunWorkers } from "../agent-runner/worker.ts";
import type { Platform } from "../core/platform.ts";
import { startFakeAnthropic } from "./fake-anthropic.ts";

export async function startFakeRunner(platform: Platform, bridges: Bridge[] = []) {
  const fake = await startFakeAnthropic();
  const provider = createAnthropicProvider({ apiKey: "sk-test", baseURL: fake.baseURL, maxRetries: 0 });
  const workers = new RunWorkers(
    { platform, provider, bridges, log: pino({ level: "silent" }) },
    { concurrency: 1, pollMs: 50 },
  ).start();
  return { fake, workers };
}
