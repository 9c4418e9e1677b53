// Every verifier tells its scenario's scripted passing transcript from its failing one, replayed through the
// real runner, approvals, metering and a fresh world per trial. One platform serves the file (a fresh tenant
// per trial, trials one at a time); each instance trial gets its own sshd with a fresh user and home.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scenarios } from "./scenarios/index.ts";
import { agentConfigFor, type ModelSpec, runTrial } from "./trial.ts";
import { type Host, startHost } from "./world.ts";

const replay = (name: string): ModelSpec => ({
  id: `replay:${name}`,
  provider: "anthropic",
  model: "claude-sonnet-5-5",
  replay: name,
});
let host: Host;

beforeAll(async () => {
  host = await startHost(agentConfigFor(replay("pass")));
});
afterAll(() => host?.close());

it("has at least six scenarios for each agent", () => {
  expect(scenarios.filter((s) => s.kind === "instance_operator").length).toBeGreaterThanOrEqual(6);
  expect(scenarios.filter((s) => s.kind === "site_editor").length).toBeGreaterThanOrEqual(6);
  expect(new Set(scenarios.map((s) => s.name)).size).toBe(scenarios.length);
});

describe.each(scenarios.map((s) => [s.name, s] as const))("%s", (_name, scenario) => {
  it("passes its scripted passing transcript", async () => {
    const r = await runTrial(scenario, replay("pass"), { host });
    expect(r.pass, `${r.reason}\n${r.messages.join("\n")}`).toBe(true);
    expect(r.source).toBe("scripted");
    expect(r.runStatus).toBe("done");
    // Metered for real: every model step charged on the ledger, nothing held back.
    expect(r.steps).toBeGreaterThan(0);
    expect(r.costMicros).toBeGreaterThan(0);
    expect(r.ledgerMicros).toBe(r.costMicros);
    expect(r.holdsLeftActive).toBe(0);
  }, 60_000);

  it("fails its scripted failing transcript, and says why", async () => {
    const r = await runTrial(scenario, replay("fail"), { host });
    expect(r.pass).toBe(false);
    expect(r.budgetExceeded).toBeNull(); // the verifier failed it, not the budget
    expect(r.runStatus).toBe("done");
    expect(r.messages.some((m) => m.startsWith("FAIL"))).toBe(true);
    expect(r.reason).toMatch(/^FAIL: /);
  }, 60_000);
});
