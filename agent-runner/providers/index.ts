// The agent's model, from operator configuration only (core/config.ts `agent`, read from the environment):
// customers never choose the provider, the base URL or the key. With nothing configured the agent operations
// answer `not_configured` (503) naming the variable to set.
import { type AgentConfig, agentUnavailable, loadConfig } from "../../core/config.ts";
import { BosunError } from "../../core/kernel/errors.ts";
import { createAnthropicProvider } from "./anthropic.ts";
import { createOpenAIProvider } from "./openai.ts";
import type { ModelProvider } from "./provider.ts";

export type { ModelProvider } from "./provider.ts";

export interface ProviderTuning {
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** Per attempt, and the longest a stream may stall (default 120 s). */
  timeoutMs?: number;
}

/** The provider for the configured agent model; throws not_configured (503) naming what to set. */
export function providerFromAgentConfig(agent: AgentConfig, tuning: ProviderTuning = {}): ModelProvider {
  const why = agentUnavailable(agent);
  if (why)
    throw new BosunError("not_configured", why, {
      variable: agent.provider === "openai" ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY",
    });
  if (agent.provider === "anthropic")
    return createAnthropicProvider({ apiKey: agent.apiKey!, baseURL: agent.baseUrl, ...tuning });
  // The SDK insists on a non-empty key; a keyless local server ignores whatever is sent.
  return createOpenAIProvider({ apiKey: agent.apiKey || "not-needed", baseURL: agent.baseUrl, ...tuning });
}

/**
 * From the environment: BOSUN_AGENT_PROVIDER (anthropic | openai), BOSUN_AGENT_MODEL, ANTHROPIC_API_KEY /
 * BOSUN_ANTHROPIC_BASE_URL, OPENAI_API_KEY / BOSUN_OPENAI_BASE_URL — parsed once, by core/config.ts.
 */
export function providerFromConfig(
  env: NodeJS.ProcessEnv = process.env,
  tuning: ProviderTuning = {},
): { provider: ModelProvider; model: string } {
  const named = env.BOSUN_AGENT_PROVIDER?.trim();
  // A typo must not silently select another vendor (and send it the conversation).
  if (named && named !== "anthropic" && named !== "openai") {
    throw new BosunError("not_configured", `BOSUN_AGENT_PROVIDER must be "anthropic" or "openai", not "${named}"`, {
      variable: "BOSUN_AGENT_PROVIDER",
    });
  }
  const agent = loadConfig(env).agent;
  return { provider: providerFromAgentConfig(agent, tuning), model: agent.model };
}
