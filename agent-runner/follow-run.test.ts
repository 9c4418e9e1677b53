// Following an agent run over MCP: list_agent_run_events with wait_seconds collects a run's events until it
// ends, and a client that sends a progressToken gets each event as progress while the run goes on.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import { startFakeRunner } from "../testkit/fake-runner.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";

let t: TestPlatform;
let runner: Awaited<ReturnType<typeof startFakeRunner>>;

beforeAll(async () => {
  t = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } } });
  runner = await startFakeRunner(t.platform);
});
afterAll(async () => {
  await runner?.workers.stop();
  await runner?.fake.close();
  await t?.close();
});

describe("following a run", () => {
  it("waits for the run to end, sending each event as progress", async () => {
    const user = await t.account();
    const token = await user.token(["*"]);
    const project = `follow-${user.id.slice(0, 8)}`;
    await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "F", kind: "site" } });
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 2_000_000, reason: "top_up" });
    // The model takes a moment, so the call is already waiting when the events come.
    runner.fake.script([{ text: "All done.", delayMs: 300 }]);
    const started = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token,
      body: { project, message: "Say done" },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);

    const client = await connectMcp(t.app, token);
    const progress: { progress: number; message?: string }[] = [];
    const res = await client.callTool(
      { name: "list_agent_run_events", arguments: { project, run_id: started.body.run_id, wait_seconds: 30 } },
      undefined,
      { onprogress: (p) => progress.push(p), timeout: 40_000 },
    );
    expect(res.isError, JSON.stringify(res.content)).toBeFalsy();
    const out = res.structuredContent as { run: { status: string }; events: { type: string }[] };
    expect(out.run.status).toBe("done");
    expect(out.events.at(-1)?.type).toBe("run_finished");
    expect(progress.map((p) => p.message)).toEqual(out.events.map((e) => e.type));
    expect(progress.map((p) => p.progress)).toEqual(out.events.map((_, i) => i + 1));
    await client.close();

    // Without wait_seconds it answers at once, as before: the events after the last one seen (none).
    const last = out.events.at(-1) as { id?: string } | undefined;
    const again = await t.request(
      "GET",
      `/v1/projects/${project}/agent/runs/${started.body.run_id}/events?after=${last?.id}`,
      { token },
    );
    expect(again.body.events).toEqual([]);
    expect(
      (
        await t.request("GET", `/v1/projects/${project}/agent/runs/${started.body.run_id}/events?wait_seconds=301`, {
          token,
        })
      ).status,
    ).toBe(400);
  });
});
