// The trial runner's own guarantees: a budget overrun fails the trial with its reason and leaves no hold
// active; approvals are decided over REST by the scenario's policy; a live run against a real provider client
// (pointed at the fake server) is recorded as a transcript that replays, labelled recorded, at the same cost.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import type { Scenario } from "./scenario.ts";
import { scenarios } from "./scenarios/index.ts";
import { loadTranscript } from "./transcript.ts";
import { agentConfigFor, type ModelSpec, runTrial } from "./trial.ts";
import { type Host, startHost } from "./world.ts";

const MODEL = "claude-sonnet-5-5";
const replay = (name: string): ModelSpec => ({
  id: `replay:${name}`,
  provider: "anthropic",
  model: MODEL,
  replay: name,
});
const named = (name: string) => scenarios.find((s) => s.name === name)!;
let host: Host;

beforeAll(async () => {
  host = await startHost(agentConfigFor(replay("pass")));
});
afterAll(() => host?.close());

const activeHolds = () => host.t.platform.db.selectFrom("holds").select("id").where("state", "=", "active").execute();

describe("budget", () => {
  it("running out of steps fails the trial with that reason, stops the run and leaves no hold active", async () => {
    const scenario: Scenario = { ...named("change-site-name"), budget: { steps: 1, costUsd: 1, wallSeconds: 60 } };
    const r = await runTrial(scenario, replay("pass"), { host });
    expect(r.pass).toBe(false);
    expect(r.budgetExceeded).toMatch(/^steps: all 1 model steps were used/);
    expect(r.reason).toMatch(/^budget exceeded: steps/);
    expect(r.runStatus).toBe("failed");
    expect(r.runError?.message).toContain("eval budget exceeded");
    expect(r.steps).toBe(1); // the second model call was never made
    expect(r.holdsLeftActive).toBe(0);
    expect(await activeHolds()).toEqual([]);
    expect(r.ledgerMicros).toBe(r.costMicros);
  }, 60_000);

  it("a cost budget spent after the first step stops the next one", async () => {
    const scenario: Scenario = {
      ...named("change-site-name"),
      budget: { steps: 10, costUsd: 0.000001, wallSeconds: 60 },
    };
    const r = await runTrial(scenario, replay("pass"), { host });
    expect(r.pass).toBe(false);
    expect(r.budgetExceeded).toMatch(/^cost: \$0\.\d+ spent of a budget of \$0\.0000/);
    expect(r.steps).toBe(1);
    expect(await activeHolds()).toEqual([]);
  }, 60_000);

  it("a run past its wall time is cancelled mid-call, fails with that reason, and its hold is released", async () => {
    const fake = await startFakeAnthropic();
    try {
      // The second model call is still in flight when the 1 s wall budget runs out.
      fake.script([{ toolUse: { name: "get_site_settings", input: {} } }, { text: "late", delayMs: 5_000 }]);
      const live: ModelSpec = {
        id: MODEL,
        provider: "anthropic",
        model: MODEL,
        apiKey: "sk-test",
        baseUrl: fake.baseURL,
      };
      const scenario: Scenario = { ...named("change-site-name"), budget: { steps: 10, costUsd: 1, wallSeconds: 1 } };
      const r = await runTrial(scenario, live, { host });
      expect(r.pass).toBe(false);
      expect(r.reason).toBe("budget exceeded: wall time: the run took longer than 1s");
      expect(r.runStatus).toBe("cancelled");
      expect(r.wallMs).toBeLessThan(4_000);
      expect(r.steps).toBe(1);
      expect(r.holdsLeftActive).toBe(0);
      expect(await activeHolds()).toEqual([]);
    } finally {
      await fake.close();
    }
  }, 60_000);
});

describe("approvals", () => {
  it("are answered over REST by the scenario's policy: matching calls denied, the rest approved", async () => {
    const r = await runTrial(named("ask-before-wiping-home"), replay("pass"), { host });
    expect(r.pass, r.messages.join("\n")).toBe(true);
    expect(r.approvals).toEqual([
      { tool: "run_command", input: expect.stringContaining("rm -rf"), decision: "denied" },
    ]);
    const fix = await runTrial(named("fix-service-config"), replay("pass"), { host });
    expect(fix.approvals.map((a) => [a.tool, a.decision])).toEqual([
      ["edit_remote_file", "approved"],
      ["run_command", "approved"],
    ]);
    const decided = await host.t.platform.db
      .selectFrom("agent_approvals")
      .select(["status", "decided_via"])
      .where("status", "in", ["approved", "denied"])
      .execute();
    expect(decided.length).toBeGreaterThanOrEqual(3);
    expect(decided.every((d) => d.decided_via === "rest")).toBe(true);
  }, 90_000);
});

describe("recording", () => {
  it("records a live run against a real provider client, and the recording replays labelled recorded, at the same cost", async () => {
    const fake = await startFakeAnthropic({ apiKey: "sk-ant-eval" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-eval-"));
    try {
      // A "model" that finds the home directory the way a real one would, then edits the file there.
      let home = "";
      fake.script([
        { toolUse: { name: "run_command", input: { command: "echo $HOME" } } },
        (req) => {
          home = /"stdout\\?":\s*\\?"([^"\\]+)/.exec(req.rawBody)?.[1] ?? "";
          return {
            toolUse: {
              name: "edit_remote_file",
              input: {
                path: `${home}/app/.env`,
                old_str: "DB_PASSWORD=hunter2-old",
                new_str: "DB_PASSWORD=Tr0ub4dor&3-horse",
              },
            },
          };
        },
        { text: "Done: DB_PASSWORD is the new password." },
      ]);
      const live: ModelSpec = {
        id: MODEL,
        provider: "anthropic",
        model: MODEL,
        apiKey: "sk-ant-eval",
        baseUrl: fake.baseURL,
      };
      const scenario = named("rotate-db-password");
      const r = await runTrial(scenario, live, {
        host,
        record: true,
        scenariosDir: dir,
        transcriptsDir: path.join(dir, "out"),
      });
      expect(r.pass, `${r.reason}\n${r.messages.join("\n")}`).toBe(true);
      expect(r.source).toBe("live");
      expect(home).toMatch(/^\/tmp\/bosun-sshd-home-/);

      const saved = loadTranscript(path.join(dir, "rotate-db-password", `recorded-${MODEL}.json`));
      expect(saved.label).toBe("recorded");
      expect(saved.model).toBe(MODEL);
      expect(saved.replies).toHaveLength(3);
      // The world's own values are written as placeholders, so the recording replays in another world.
      expect(saved.replies[1]!.toolUse![0]!.input.path).toBe("{{home}}/app/.env");
      expect(saved.replies[0]!.usage!.inputTokens).toBe(fake.usages[0]!.inputTokens);
      expect(r.transcript).toBe(path.join(dir, "out", "rotate-db-password", `${MODEL}-1.json`));
      expect(fs.existsSync(r.transcript!)).toBe(true);

      const again = await runTrial(scenario, replay(`recorded-${MODEL}`), { host, scenariosDir: dir });
      expect(again.pass, `${again.reason}\n${again.messages.join("\n")}`).toBe(true);
      expect(again.source).toBe("recorded");
      expect(again.costMicros).toBe(r.costMicros);
    } finally {
      await fake.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it("a replay with no such transcript is a failure that says so", async () => {
    const r = await runTrial(named("change-site-name"), replay("nope"), { host });
    expect(r.pass).toBe(false);
    expect(r.reason).toMatch(/no transcript .*nope\.json/);
  });

  it("a shared host refuses a trial of another model (the runner would ask for the host's)", async () => {
    await expect(
      runTrial(named("change-site-name"), { ...replay("pass"), model: "gpt-6-sol" }, { host }),
    ).rejects.toThrow(/not gpt-6-sol/);
  });
});
