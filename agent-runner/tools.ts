// The agent's tools for one run: the kind's operations the run's principal may call (adapted like any other
// surface: every call goes through the invoker as the run's principal) and the runner's own bridges
// (web search, fetch), which are not operations so the REST API is no open proxy.
import { type AgentKind, agentKinds } from "../core/agent/kinds.ts";
import { seenRunningPrincipal } from "../core/agent/principal.ts";
import { bridgeTraits, operationTraits, type TaintTraits } from "../core/agent/trifecta.ts";
import { type InvokeOptions, invoke } from "../core/kernel/invoker.ts";
import { toolJsonSchema, withoutFields } from "../core/kernel/json-schema.ts";
import {
  type Credential,
  type Effect,
  isAuthenticated,
  type Operation,
  type Principal,
  type ProjectAccess,
} from "../core/kernel/operation.ts";
import { hasScope } from "../core/kernel/scopes.ts";
import type { Platform } from "../core/platform.ts";
import type { ToolSpec } from "./providers/provider.ts";

/** Fields the run's pins fill in; the model never chooses them. */
const PINNED_FIELDS = ["project", "instance"] as const;

export interface Bridge {
  spec: ToolSpec;
  execute(input: Record<string, unknown>, signal: AbortSignal): Promise<string>;
}

export interface AgentTool {
  spec: ToolSpec;
  effect: Effect;
  tags: readonly string[];
  /** Its changes land in the run's proposal, not the draft (core/sites/proposals.ts): nothing to approve. */
  proposes?: boolean;
  /** Whether its result is untrusted and whether it can send data out (the lethal trifecta, core/agent/trifecta.ts). */
  traits: TaintTraits;
  /**
   * The tool's answer as the model reads it (JSON for operations). Throws a BosunError on failure.
   * `serverLogin: "observer"`: the call reaches the instance as its observer login, if it has one (the runner
   * decides this from the policy, never the model: it is no tool input).
   */
  execute(
    input: Record<string, unknown>,
    call: {
      requestId: string;
      signal: AbortSignal;
      serverLogin?: "observer";
      /**
       * What the run's start checkpoint for this call just read: the run running under its person's credential, and
       * their access to the project. The invoker re-checks that credential and reads neither again
       * (core/agent/principal.ts).
       */
      seen?: { credential: Credential; project: ProjectAccess | null };
    },
  ): Promise<string>;
}

/** An operation's tool spec is the same for every run: build it once. */
const specs = new WeakMap<object, ToolSpec>();
function specOf(op: Operation, pinned: readonly string[]): ToolSpec {
  let spec = specs.get(op);
  if (!spec) {
    spec = {
      name: op.id,
      description: [op.summary + ".", op.description].filter(Boolean).join(" "),
      inputSchema: withoutFields(toolJsonSchema(op.input, "input"), pinned),
    };
    specs.set(op, spec);
  }
  return spec;
}

export function toolsForRun(
  platform: Platform,
  kind: AgentKind,
  principal: Principal,
  bridges: Bridge[],
  /** How each operation's handler runs (a site run's proposal sandbox), and whether its writes are proposed. */
  sandbox?: { around(op: Operation): InvokeOptions["around"]; lands(op: Operation): boolean },
): Map<string, AgentTool> {
  const tools = new Map<string, AgentTool>();
  for (const id of agentKinds[kind].tools) {
    if (!platform.operations.has(id)) continue;
    const op = platform.operations.get(id);
    if (op.scope && !hasScope(principal.scopes, op.scope)) continue; // e.g. no instances:exec: no shell at all
    const pinned = PINNED_FIELDS.filter((f) => f in op.input.shape);
    const around = sandbox?.around(op);
    tools.set(id, {
      spec: specOf(op, pinned),
      effect: op.effect,
      tags: op.tags,
      proposes: sandbox?.lands(op) ?? false,
      traits: operationTraits(op),
      execute: async (input, call) => {
        const pins: Record<string, unknown> = {};
        if (pinned.includes("project")) pins.project = principal.pins.project;
        if (pinned.includes("instance")) pins.instance = principal.pins.instance;
        const login = call.serverLogin ? { ...principal, serverLogin: call.serverLogin } : principal;
        const as = call.seen && isAuthenticated(login) ? seenRunningPrincipal(login, call.seen) : login;
        const output = await invoke(platform, op, { ...input, ...pins }, as, {
          requestId: call.requestId,
          signal: call.signal,
          around,
        });
        return JSON.stringify(output);
      },
    });
  }
  for (const bridge of bridges) {
    tools.set(bridge.spec.name, {
      spec: bridge.spec,
      effect: "read",
      tags: ["web"],
      traits: bridgeTraits,
      execute: (input, call) => bridge.execute(input, call.signal),
    });
  }
  return tools;
}
