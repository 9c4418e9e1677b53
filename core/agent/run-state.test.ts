// The run's checkpoints as the runner writes them (agent-runner/loop.ts), without a model: a model step's one
// statement charges and records the call together, and a tool call starts only while its run is running.
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { expectLedgerConsistent, expectNoActiveHolds } from "../../testkit/ledger-invariant.ts";
import { type HoldRequest, heldBy } from "../billing/holds.ts";
import { credit } from "../billing/ledger.ts";
import { costOf } from "../billing/prices.ts";
import { loadConfig } from "../config.ts";
import { invoke } from "../kernel/invoker.ts";
import type { Credential } from "../kernel/operation.ts";
import { runPrincipal, seenRunningPrincipal } from "./principal.ts";
import { beginToolStep, completeModelStep, completeToolStep, loadRun } from "./run-state.ts";

const MODEL = "claude-sonnet-5-5";
let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform({
    config: { agent: { ...loadConfig({}).agent, model: MODEL, apiKey: "sk-ant-test-key-0123456789", workers: 0 } },
  });
});
afterAll(() => t?.close());

/** A site owner with credit and a conversation whose run is `running` (no worker picks it up here). */
async function runningRun() {
  const user = await t.account();
  const token = await user.token(["*"]);
  const project = `rs-${user.id.slice(0, 8)}`;
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "S", kind: "site" } })).status,
  ).toBe(201);
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 2_000_000, reason: "top_up" });
  const res = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
    token,
    body: { project, message: "hello", mode: "auto" },
  });
  expect(res.status).toBe(201);
  const { conversation, run_id: runId } = res.body as { conversation: { id: string }; run_id: string };
  await t.platform.db.updateTable("agent_runs").set({ status: "running" }).where("id", "=", runId).execute();
  return { user, token, runId, conversationId: conversation.id };
}

const events = (runId: string) =>
  t.platform.db
    .selectFrom("agent_run_events")
    .select(["type", "data"])
    .where("run_id", "=", runId)
    .orderBy("id")
    .execute();

describe("a model step's checkpoint", () => {
  it("charges the hold and records the step, the reply, the run's totals and its events in order, returning the run", async () => {
    const { user, runId, conversationId } = await runningRun();
    const { meter, db } = t.platform;
    const usage = { inputTokens: 1200, outputTokens: 300 };
    const hold = await meter.hold({ accountId: user.id, model: MODEL, inputTokens: 2000, maxOutputTokens: 1024 });
    const step = {
      model: MODEL,
      usage: {
        input_tokens: 1200,
        output_tokens: 300,
        cache_write_tokens: 0,
        cache_read_tokens: 0,
        reasoning_tokens: 0,
      },
      durationMs: 12,
      content: [
        { type: "text", text: "first" },
        { type: "tool_use", id: "toolu_1", name: "list_files", input: {} } as { type: string },
        { type: "text", text: "second" },
      ],
    };
    const before = (await events(runId)).length;
    const { settled, run } = await completeModelStep(
      t.platform,
      runId,
      conversationId,
      step,
      meter.charge(hold, usage, { conversationId, runId }),
    );
    const cost = costOf(meter.prices, MODEL, usage);
    expect(settled.charged).toBe(cost);
    expect(settled.shortfall).toBe(0n);
    // The run as the statement left it: what the loop goes on with, instead of reading it again.
    expect(run).toMatchObject({ status: "running", steps: 1 });
    expect(BigInt(run.cost_micros)).toBe(cost);
    expect(run).toEqual(
      expect.objectContaining(
        (({ status, steps, cost_micros, deadline }) => ({ status, steps, cost_micros, deadline }))(
          await loadRun(t.platform, runId),
        ),
      ),
    );

    const recorded = (await events(runId)).slice(before);
    expect(recorded.map((e) => e.type)).toEqual(["model_step", "text", "text"]);
    expect(recorded[0]!.data).toEqual({ model: MODEL, usage: step.usage, cost_micros: Number(cost) });
    expect(recorded.slice(1).map((e) => e.data)).toEqual([{ text: "first" }, { text: "second" }]);
    const steps = await db.selectFrom("agent_steps").selectAll().where("run_id", "=", runId).execute();
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatchObject({ kind: "model", state: "done", model: MODEL, duration_ms: 12 });
    expect(BigInt(steps[0]!.cost_micros)).toBe(cost);
    const reply = await db
      .selectFrom("agent_messages")
      .select("content")
      .where("run_id", "=", runId)
      .where("role", "=", "assistant")
      .executeTakeFirstOrThrow();
    expect(reply.content).toEqual(step.content);
    const ledger = await db
      .selectFrom("ledger_entries")
      .selectAll()
      .where("idempotency_key", "=", `hold:${hold.id}`)
      .execute();
    expect(ledger).toHaveLength(1);
    expect(ledger[0]!.metadata).toMatchObject({ model: MODEL, run_id: runId, conversation_id: conversationId });

    // The same hold again (a retry): charged once, at the first charge.
    const again = await completeModelStep(
      t.platform,
      runId,
      conversationId,
      step,
      meter.charge(hold, usage, { runId }),
    );
    expect(again.settled.charged).toBe(cost);
    expect(
      await db.selectFrom("ledger_entries").select("id").where("idempotency_key", "=", `hold:${hold.id}`).execute(),
    ).toHaveLength(1);
    await expectLedgerConsistent(db, user.id);
    await expectNoActiveHolds(db, user.id);
  });

  it("records nothing for a hold that does not exist", async () => {
    const { user, runId, conversationId } = await runningRun();
    const { meter, db } = t.platform;
    const ghost = {
      id: crypto.randomUUID(),
      accountId: user.id,
      pool: "ai_credits" as const,
      amount: 1000n,
      expiresAt: new Date(),
      model: MODEL,
    };
    const before = (await events(runId)).length;
    await expect(
      completeModelStep(
        t.platform,
        runId,
        conversationId,
        {
          model: MODEL,
          usage: {
            input_tokens: 1,
            output_tokens: 1,
            cache_write_tokens: 0,
            cache_read_tokens: 0,
            reasoning_tokens: 0,
          },
          durationMs: 1,
          content: [{ type: "text", text: "x" }],
        },
        meter.charge(ghost, { inputTokens: 1, outputTokens: 1 }),
      ),
    ).rejects.toMatchObject({ code: "not_found" });
    expect((await events(runId)).length).toBe(before);
    expect(await db.selectFrom("agent_steps").select("id").where("run_id", "=", runId).execute()).toEqual([]);
    expect((await loadRun(t.platform, runId)).steps).toBe(0);
    await expectLedgerConsistent(db, user.id);
  });
});

describe("a model step that starts the reply's first tool call", () => {
  const usage = {
    input_tokens: 100,
    output_tokens: 10,
    cache_write_tokens: 0,
    cache_read_tokens: 0,
    reasoning_tokens: 0,
  };
  const use = { id: "toolu_first", name: "fetch_url", input: { url: "https://example.test/" } };
  const modelStep = (runId: string, conversationId: string, user: { id: string }, cost?: number) =>
    t.platform.meter.hold({ accountId: user.id, model: MODEL, inputTokens: 200, maxOutputTokens: 64 }).then((hold) =>
      completeModelStep(
        t.platform,
        runId,
        conversationId,
        {
          model: MODEL,
          usage,
          durationMs: 5,
          content: [
            { type: "text", text: "looking" },
            { type: "tool_use", ...use },
          ],
        },
        {
          ...t.platform.meter.charge(hold, { inputTokens: 100, outputTokens: 10 }, { runId }),
          ...(cost ? { cost } : {}),
        },
        {
          use,
          tool: { effect: "read", untrusted: true },
          caller: { projectId: conversationProject(conversationId), accountId: user.id },
        },
      ),
    );
  const projectOf = new Map<string, string>();
  const conversationProject = (conversationId: string) => projectOf.get(conversationId)!;
  const withProject = async () => {
    const r = await runningRun();
    const conv = await t.platform.db
      .selectFrom("agent_conversations")
      .select("project_id")
      .where("id", "=", r.conversationId)
      .executeTakeFirstOrThrow();
    projectOf.set(r.conversationId, conv.project_id);
    return r;
  };

  it("records the start with the step: its tool_call event after the reply's, the taint, the person's access", async () => {
    const { user, runId, conversationId } = await withProject();
    const before = (await events(runId)).length;
    const { started, run } = await modelStep(runId, conversationId, user);
    expect(run.status).toBe("running");
    expect(started).toMatchObject({ id: expect.any(String), project: { role: "owner" } });
    expect((await events(runId)).slice(before).map((e) => e.type)).toEqual(["model_step", "text", "tool_call"]);
    const step = await t.platform.db
      .selectFrom("agent_steps")
      .selectAll()
      .where("id", "=", started!.id)
      .executeTakeFirstOrThrow();
    expect(step).toMatchObject({ kind: "tool", state: "started", tool_use_id: use.id, tool: "fetch_url" });
    expect((await loadRun(t.platform, runId)).untrusted_input).toMatchObject({ tool: "fetch_url" });
  });

  it("makes no start for a run cancelled first, nor for a call not paid for in full; the step is recorded all the same", async () => {
    const cancelled = await withProject();
    await t.platform.db
      .updateTable("agent_runs")
      .set({ status: "cancelled" })
      .where("id", "=", cancelled.runId)
      .execute();
    const before = (await events(cancelled.runId)).length;
    const a = await modelStep(cancelled.runId, cancelled.conversationId, cancelled.user);
    expect(a.started).toBeNull();
    expect(a.run).toMatchObject({ status: "cancelled", steps: 1 });
    expect((await events(cancelled.runId)).slice(before).map((e) => e.type)).toEqual(["model_step", "text"]);

    // A call costing more than the account holds: charged what it had, the rest a shortfall, and no start.
    const short = await withProject();
    const b = await modelStep(short.runId, short.conversationId, short.user, 5_000_000);
    expect(b.settled.shortfall).toBeGreaterThan(0n);
    expect(b.started).toBeNull();
    for (const r of [cancelled, short]) {
      const tools = await t.platform.db
        .selectFrom("agent_steps")
        .select("id")
        .where("run_id", "=", r.runId)
        .where("kind", "=", "tool")
        .execute();
      expect(tools).toEqual([]);
      await expectLedgerConsistent(t.platform.db, r.user.id);
    }
  });
});

describe("a tool result's checkpoint with the next model call's hold", () => {
  it("places the hold in its statement, or records the results alone when the hold is refused", async () => {
    const { user, runId, conversationId } = await runningRun();
    const { meter, db } = t.platform;
    const use = (id: string) => ({ id, name: "list_files", input: {} });
    const read = { effect: "read", untrusted: false } as const;
    const result = { output: "[]", isError: false, durationMs: 1 };
    const request = (inputTokens: number) =>
      meter.holdRequest({
        accountId: user.id,
        model: MODEL,
        inputTokens,
        maxOutputTokens: 64,
        metadata: { run_id: runId },
      })!;

    // A read's start, then its result with the step's results message and the hold.
    const checkpoint = async (useId: string, hold: HoldRequest) => {
      const step = (await beginToolStep(t.platform, runId, use(useId), read))!;
      const content = [{ type: "tool_result", toolUseId: useId, content: "[]" }];
      return {
        step,
        ...(await completeToolStep(t.platform, runId, step.id, "list_files", result, {
          conversationId,
          content,
          hold,
        })),
      };
    };

    const ok = request(100);
    expect((await checkpoint("toolu_h1", ok)).held).toBe(true);
    const placed = await db.selectFrom("holds").select(["state", "amount"]).where("id", "=", ok.id).executeTakeFirst();
    expect(placed).toEqual({ state: "active", amount: String(ok.amount) });

    // More than the balance can reserve: refused, and the results are recorded all the same.
    const tooBig = request(50_000_000);
    const refused = await checkpoint("toolu_h2", tooBig);
    expect(refused.held).toBe(false);
    expect(await db.selectFrom("holds").select("id").where("id", "=", tooBig.id).execute()).toEqual([]);
    const step = await db
      .selectFrom("agent_steps")
      .select("state")
      .where("id", "=", refused.step.id)
      .executeTakeFirst();
    expect(step).toEqual({ state: "done" });
    const messages = await db
      .selectFrom("agent_messages")
      .select("id")
      .where("run_id", "=", runId)
      .where("role", "=", "user")
      .execute();
    expect(messages).toHaveLength(3); // the person's message, then both results
    await meter.release(heldBy(ok));
    await expectLedgerConsistent(db, user.id);
    await expectNoActiveHolds(db, user.id);
  });
});

describe("a tool call's start", () => {
  const read = { effect: "read", untrusted: false } as const;

  it("is checkpointed only while the run is running: a cancelled run makes no call", async () => {
    const { runId } = await runningRun();
    const { db } = t.platform;
    const use = { id: "toolu_a", name: "list_files", input: {} };
    expect(await beginToolStep(t.platform, runId, use, read)).toMatchObject({ id: expect.any(String) });
    await db.updateTable("agent_runs").set({ status: "cancelled" }).where("id", "=", runId).execute();
    const before = await events(runId);
    expect(await beginToolStep(t.platform, runId, { ...use, id: "toolu_b" }, read)).toBeNull();
    expect(await events(runId)).toEqual(before);
    const started = await db.selectFrom("agent_steps").select("tool_use_id").where("run_id", "=", runId).execute();
    expect(started).toEqual([{ tool_use_id: "toolu_a" }]);
  });

  it("taints the run with its own statement for an untrusted result, keeping the first source, even when the call is not made", async () => {
    const { runId } = await runningRun();
    const taintOf = async () =>
      (
        await t.platform.db
          .selectFrom("agent_runs")
          .select("untrusted_input")
          .where("id", "=", runId)
          .executeTakeFirstOrThrow()
      ).untrusted_input;
    await beginToolStep(t.platform, runId, { id: "toolu_1", name: "list_files", input: {} }, read);
    expect(await taintOf()).toBeNull();
    await beginToolStep(
      t.platform,
      runId,
      { id: "toolu_2", name: "fetch_url", input: {} },
      { effect: "read", untrusted: true },
    );
    expect(await taintOf()).toMatchObject({ tool: "fetch_url" });
    await beginToolStep(
      t.platform,
      runId,
      { id: "toolu_3", name: "web_search", input: {} },
      { effect: "read", untrusted: true },
    );
    expect(await taintOf()).toMatchObject({ tool: "fetch_url" });

    // A cancel that committed first: no call, but the taint still lands (it only makes the conversation stricter).
    const other = await runningRun();
    await t.platform.db.updateTable("agent_runs").set({ status: "cancelled" }).where("id", "=", other.runId).execute();
    expect(
      await beginToolStep(
        t.platform,
        other.runId,
        { id: "toolu_x", name: "fetch_url", input: {} },
        { effect: "read", untrusted: true },
      ),
    ).toBeNull();
    expect(
      (
        await t.platform.db
          .selectFrom("agent_runs")
          .select("untrusted_input")
          .where("id", "=", other.runId)
          .executeTakeFirstOrThrow()
      ).untrusted_input,
    ).toMatchObject({ tool: "fetch_url" });
  });
});

// docs/agent.md#durability: a commit waits for the disk when it carries money (the model step) or records that a
// call with an effect has started; a read's start and every tool result commit asynchronously. Each checkpoint
// reports the synchronous_commit its own statement committed under.
describe("which checkpoints wait for the disk", () => {
  it("a read's start and a tool's result are asynchronous; a write's or destructive call's start and the model step are durable", async () => {
    const { user, runId, conversationId } = await runningRun();
    const { meter } = t.platform;
    const start = (id: string, effect: "read" | "write" | "destructive") =>
      beginToolStep(t.platform, runId, { id, name: "tool", input: {} }, { effect, untrusted: false });
    const readStart = await start("toolu_r", "read");
    expect(readStart).toMatchObject({ durable: false });
    expect(await start("toolu_w", "write")).toMatchObject({ durable: true });
    expect(await start("toolu_d", "destructive")).toMatchObject({ durable: true });
    const result = { output: "[]", isError: false, durationMs: 1 };
    expect(await completeToolStep(t.platform, runId, readStart!.id, "tool", result)).toMatchObject({
      durable: false,
      run: { status: "running" },
    });
    expect(
      await completeToolStep(t.platform, runId, readStart!.id, "tool", result, { conversationId, content: [] }),
    ).toMatchObject({ durable: false });

    const hold = await meter.hold({ accountId: user.id, model: MODEL, inputTokens: 100, maxOutputTokens: 100 });
    const usage = {
      input_tokens: 1,
      output_tokens: 1,
      cache_write_tokens: 0,
      cache_read_tokens: 0,
      reasoning_tokens: 0,
    };
    const step = await completeModelStep(
      t.platform,
      runId,
      conversationId,
      { model: MODEL, usage, durationMs: 1, content: [{ type: "text", text: "ok" }] },
      meter.charge(hold, { inputTokens: 1, outputTokens: 1 }, { conversationId, runId }),
    );
    expect(step.durable).toBe(true);
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("inside a caller's transaction, the caller's setting stands: a read's start leaves that commit durable", async () => {
    const { runId } = await runningRun();
    const seen = await t.platform.db.transaction().execute(async (trx) => {
      const step = await beginToolStep(
        { ...t.platform, db: trx },
        runId,
        { id: "toolu_t", name: "list_files", input: {} },
        {
          effect: "read",
          untrusted: false,
        },
      );
      const after = (await sql<{ s: string }>`SELECT current_setting('synchronous_commit') AS s`.execute(trx)).rows[0]!
        .s;
      return { step, after };
    });
    expect(seen).toEqual({ step: { id: expect.any(String), durable: true, project: null }, after: "on" });
  });
});

// The invoker's check of an agent_run credential (principal.ts) after the start checkpoint saw the run running.
describe("a tool call made right after its start checkpoint", () => {
  /** The person's credential a conversation runs under. */
  const personOf = async (conversationId: string): Promise<Credential> => {
    const conv = await t.platform.db
      .selectFrom("agent_conversations")
      .select(["credential_kind", "credential_id"])
      .where("id", "=", conversationId)
      .executeTakeFirstOrThrow();
    return { kind: conv.credential_kind, id: conv.credential_id } as Credential;
  };

  it("is not refused for the run's status it was checkpointed under, once; every other check reads the run", async () => {
    const { runId, conversationId } = await runningRun();
    const check = t.platform.credentialCheckers.get("agent_run")!;
    const principal = await runPrincipal(t.platform, runId);
    const person = await personOf(conversationId);
    // Cancelled after the checkpoint that saw it running: the call that checkpoint started goes ahead, as a call
    // already under way would; a principal the checkpoint did not vouch for, or the same one again, is refused.
    const once = seenRunningPrincipal(principal, { credential: person, project: null });
    await t.platform.db.updateTable("agent_runs").set({ status: "cancelled" }).where("id", "=", runId).execute();
    await expect(check(principal)).rejects.toMatchObject({ code: "unauthorized" });
    await expect(check({ ...once })).rejects.toMatchObject({ code: "unauthorized" });
    await expect(check(once)).resolves.toBeUndefined();
    await expect(check(once)).rejects.toMatchObject({ code: "unauthorized" });
  });

  it("still re-checks the person's credential: a revoked token fails the call", async () => {
    const { runId, conversationId, token } = await runningRun();
    const check = t.platform.credentialCheckers.get("agent_run")!;
    const principal = await runPrincipal(t.platform, runId);
    const person = await personOf(conversationId);
    await expect(
      check(seenRunningPrincipal(principal, { credential: person, project: null })),
    ).resolves.toBeUndefined();
    expect((await t.request("DELETE", `/v1/tokens/${person.id}`, { token })).status).toBe(200);
    await expect(check(seenRunningPrincipal(principal, { credential: person, project: null }))).rejects.toMatchObject({
      code: "unauthorized",
    });
  });

  it("reads the person's access to the project with the start: the call uses it once, and without it is not found", async () => {
    const owner = await t.account();
    const ownerToken = await owner.token(["*"]);
    const project = `rs-${owner.id.slice(0, 8)}`;
    await t.request("POST", "/v1/projects", { token: ownerToken, body: { slug: project, name: "S", kind: "site" } });
    await credit(t.platform.db, { accountId: owner.id, pool: "ai_credits", amount: 2_000_000, reason: "top_up" });
    const dev = await t.account();
    await t.addMember(project, ownerToken, dev, "developer");
    const res = await t.request("POST", `/v1/projects/${project}/agent/conversations`, {
      token: await dev.token(["*"]),
      body: { project, message: "hello", mode: "auto" },
    });
    const { conversation, run_id: runId } = res.body as { conversation: { id: string }; run_id: string };
    await t.platform.db.updateTable("agent_runs").set({ status: "running" }).where("id", "=", runId).execute();
    const conv = await t.platform.db
      .selectFrom("agent_conversations")
      .select(["project_id", "account_id"])
      .where("id", "=", conversation.id)
      .executeTakeFirstOrThrow();
    const caller = { projectId: conv.project_id, accountId: conv.account_id };
    const principal = await runPrincipal(t.platform, runId);
    const person = await personOf(conversation.id);
    const use = (id: string) => ({ id, name: "list_files", input: {} });
    const read = { effect: "read" as const, untrusted: false };

    const first = await beginToolStep(t.platform, runId, use("toolu_a"), read, caller);
    expect(first?.project).toMatchObject({ id: conv.project_id, slug: project, role: "developer" });
    expect(first?.project?.created_at).toBeInstanceOf(Date);
    const once = seenRunningPrincipal(principal, { credential: person, project: first!.project });
    await expect(invoke(t.platform, "list_files", { project }, once)).resolves.toMatchObject({ files: [] });

    // Removed from the project: the next start reads no access, and the call it starts is "not found".
    expect((await t.request("DELETE", `/v1/projects/${project}/members/${dev.id}`, { token: ownerToken })).status).toBe(
      200,
    );
    const next = await beginToolStep(t.platform, runId, use("toolu_b"), read, caller);
    expect(next).toMatchObject({ project: null });
    const refused = seenRunningPrincipal(principal, { credential: person, project: next!.project });
    await expect(invoke(t.platform, "list_files", { project }, refused)).rejects.toMatchObject({ code: "not_found" });
    // What a start read serves the one call it was read for and no other: read before the removal, it lets that
    // call go ahead (as a call already under way would) with no query of its own; the same principal's next call,
    // or a copy of it, reads the access again.
    const late = seenRunningPrincipal(principal, { credential: person, project: first!.project });
    await expect(invoke(t.platform, "list_files", { project }, late)).resolves.toMatchObject({ files: [] });
    await expect(invoke(t.platform, "list_files", { project }, late)).rejects.toMatchObject({ code: "not_found" });
    const copied = seenRunningPrincipal(principal, { credential: person, project: first!.project });
    await expect(invoke(t.platform, "list_files", { project }, { ...copied })).rejects.toMatchObject({
      code: "not_found",
    });
  });
});
