// Starts this process's runner workers on the configured model, or says why it cannot.

import { agentUnavailable } from "../core/config.ts";
import type { Platform } from "../core/platform.ts";
import { bridgesFromConfig } from "./bridges/index.ts";
import { providerFromAgentConfig } from "./providers/index.ts";
import { RunWorkers } from "./worker.ts";

export function startRunner(platform: Platform): { workers: RunWorkers | null; note: string } {
  const agent = platform.config.agent;
  const why = agentUnavailable(agent);
  if (why) return { workers: null, note: `agents off: ${why}` };
  if (agent.workers === 0) return { workers: null, note: "agents: no workers in this process (BOSUN_AGENT_WORKERS=0)" };
  const workers = new RunWorkers(
    {
      platform,
      provider: providerFromAgentConfig(agent),
      bridges: bridgesFromConfig(),
      log: platform.log.child({ component: "runner" }),
    },
    { concurrency: agent.workers },
  ).start();
  return { workers, note: `agents: ${agent.workers} workers on ${agent.provider} ${agent.model}` };
}
