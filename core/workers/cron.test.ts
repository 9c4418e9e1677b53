// Cron triggers: the operations (what they record and refuse, and to whom) and the scheduler on a controlled clock with
// a fake workers runtime behind the port: a due trigger fires and its run is recorded (status, duration, logs, error),
// downtime folds into one run, at most one run of a trigger at a time across schedulers, and a run without a runtime,
// with a failing worker or with a crashed runtime is recorded, never lost.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { createPlatform, type Platform } from "../platform.ts";
import {
  CRON_RUN_QUEUE,
  claimDueTriggers,
  executeCronRun,
  sweepFinishedCronJobs,
  WorkerCronScheduler,
} from "./cron.ts";
import type { ScheduledInvocation, ScheduledResult, WorkersRuntime } from "./runtime-port.ts";

/** A runtime that records each invocation and answers what the test says, when the test says. */
class FakeRuntime implements WorkersRuntime {
  calls: ScheduledInvocation[] = [];
  answer: (inv: ScheduledInvocation) => Promise<ScheduledResult> = async () => ({
    ok: true,
    durationMs: 12,
    logs: [{ level: "log", message: "tick" }],
    error: null,
  });
  runScheduled(inv: ScheduledInvocation) {
    this.calls.push(inv);
    return this.answer(inv);
  }
}

let t: TestPlatform;
let runtime: FakeRuntime;
let scheduler: WorkerCronScheduler;
beforeAll(async () => {
  t = await startTestPlatform();
  scheduler = new WorkerCronScheduler(t.platform);
});
afterAll(() => t?.close());
// Every test moves the clock as it likes: earlier tests' triggers must not come due in it.
beforeEach(async () => {
  await t.platform.db.updateTable("worker_cron_triggers").set({ enabled: false, next_run_at: null }).execute();
  runtime = new FakeRuntime();
  t.platform.workersRuntime = runtime;
});

let seq = 0;
async function owner() {
  const user = await t.account();
  const token = await user.token(["projects:*", "workers:*"]);
  const project = `cron-${++seq}-${user.id.slice(0, 6)}`;
  const res = await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "C", kind: "site" } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { user, token, project, base: `/v1/projects/${project}/cron-triggers` };
}
type Owner = Awaited<ReturnType<typeof owner>>;
async function trigger(o: Owner, body: Record<string, unknown> = {}) {
  const res = await t.request("POST", o.base, {
    token: o.token,
    body: { worker: "hello", cron: "*/5 * * * *", ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; next_run_at: string; worker: string; cron: string; timezone: string };
}
async function runsOf(o: Owner, id: string) {
  const res = await t.request("GET", `${o.base}/${id}/runs`, { token: o.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.runs as {
    scheduled_at: string;
    missed: number;
    status: string;
    duration_ms: number | null;
    logs: { level: string; message: string }[];
    error: string | null;
    started_at: string | null;
    finished_at: string | null;
  }[];
}
const at = (iso: string, plusMs = 0) => new Date(Date.parse(iso) + plusMs);

describe("cron triggers", () => {
  it("create_cron_trigger, list_cron_triggers, delete_cron_trigger; a duplicate is a conflict", async () => {
    const o = await owner();
    const made = await trigger(o, { timezone: "Europe/Berlin", cron: "0 9 * * 1-5" });
    expect(made).toMatchObject({ worker: "hello", cron: "0 9 * * 1-5", timezone: "Europe/Berlin" });
    // 09:00 in Berlin is 07:00 or 08:00 UTC.
    expect([7, 8]).toContain(new Date(made.next_run_at).getUTCHours());
    await trigger(o, { worker: "other" });
    const dup = await t.request("POST", o.base, {
      token: o.token,
      body: { worker: "hello", cron: "0 9 * * 1-5", timezone: "Europe/Berlin" },
    });
    expect(dup.status).toBe(409);
    const all = await t.request("GET", o.base, { token: o.token });
    expect(all.body.triggers.map((x: { worker: string }) => x.worker)).toEqual(["hello", "other"]);
    const mine = await t.request("GET", `${o.base}?worker=other`, { token: o.token });
    expect(mine.body.triggers).toHaveLength(1);
    const del = await t.request("DELETE", `${o.base}/${made.id}`, { token: o.token });
    expect(del.status).toBe(200);
    expect((await t.request("GET", `${o.base}/${made.id}/runs`, { token: o.token })).status).toBe(404);
  });

  it("a bad cron expression, timezone or worker name is a 400 naming the field", async () => {
    const o = await owner();
    const cases: [Record<string, unknown>, string][] = [
      [{ cron: "every minute" }, "cron"],
      [{ cron: "61 * * * *" }, "cron"],
      [{ cron: "0 0 31 2 *" }, "cron"],
      [{ timezone: "Mars/Olympus" }, "timezone"],
      [{ worker: "Not A Name" }, "worker"],
    ];
    for (const [body, field] of cases) {
      const res = await t.request("POST", o.base, {
        token: o.token,
        body: { worker: "w", cron: "* * * * *", ...body },
      });
      expect(res.status, `${field}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  });

  it("another tenant gets 404, a token without workers:write 403", async () => {
    const o = await owner();
    const made = await trigger(o);
    const stranger = await t.account();
    const st = await stranger.token(["projects:*", "workers:*"]);
    const res = await t.request("GET", `${o.base}/${made.id}/runs`, { token: st });
    expect(res.status).toBe(404);
    expect(res.body.error.resource).toBe("project");
    // Another project of the caller's own does not see the trigger either.
    const other = await owner();
    const cross = await t.request("DELETE", `${other.base}/${made.id}`, { token: other.token });
    expect(cross.body.error).toMatchObject({ code: "not_found", resource: "cron_trigger" });
    const reader = await o.user.token(["projects:read", "workers:read"]);
    const w = await t.request("POST", o.base, { token: reader, body: { worker: "w", cron: "* * * * *" } });
    expect(w.status).toBe(403);
    expect(w.body.error.required_scope).toBe("workers:write");
  });

  it("a due trigger fires: the runtime's scheduled handler is called and the run recorded (list_cron_runs)", async () => {
    const o = await owner();
    const made = await trigger(o);
    expect(await scheduler.tick(at(made.next_run_at, -1))).toMatchObject({ claimed: 0 });
    expect((await scheduler.tick(at(made.next_run_at))).claimed).toBe(1);
    await scheduler.idle();
    expect(runtime.calls).toHaveLength(1);
    const projectId = (
      await t.platform.db.selectFrom("projects").select("id").where("slug", "=", o.project).executeTakeFirstOrThrow()
    ).id;
    expect(runtime.calls[0]).toEqual({
      projectId,
      workerName: "hello",
      cron: "*/5 * * * *",
      scheduledTime: new Date(made.next_run_at),
    });
    const [run] = await runsOf(o, made.id);
    expect(run).toMatchObject({
      scheduled_at: made.next_run_at,
      missed: 0,
      status: "succeeded",
      duration_ms: 12,
      logs: [{ level: "log", message: "tick" }],
      error: null,
    });
    expect(run?.started_at).not.toBeNull();
    expect(run?.finished_at).not.toBeNull();
    // The trigger moved on by five minutes.
    const list = await t.request("GET", o.base, { token: o.token });
    expect(list.body.triggers[0].next_run_at).toBe(at(made.next_run_at, 5 * 60_000).toISOString());
    // The same instant again claims nothing.
    expect((await scheduler.tick(at(made.next_run_at))).claimed).toBe(0);
  });

  it("after downtime the missed due times run once, not once each", async () => {
    const o = await owner();
    const made = await trigger(o, { cron: "* * * * *" });
    // Down for an hour: sixty due times passed.
    const back = at(made.next_run_at, 3600_000 + 30_000);
    expect((await scheduler.tick(back)).claimed).toBe(1);
    await scheduler.idle();
    expect((await scheduler.tick(back)).claimed).toBe(0);
    await scheduler.idle();
    expect(runtime.calls).toHaveLength(1);
    const runs = await runsOf(o, made.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ scheduled_at: made.next_run_at, missed: 60, status: "succeeded" });
    // The next due time is the first after the restart, and it runs once.
    expect((await scheduler.tick(at(made.next_run_at, 3600_000 + 60_000))).claimed).toBe(1);
    await scheduler.idle();
    expect(runtime.calls).toHaveLength(2);
  });

  it("at most one run of a trigger at a time: a due time that finds the last run still going is skipped", async () => {
    const o = await owner();
    const made = await trigger(o, { cron: "* * * * *" });
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    runtime.answer = async () => {
      await gate;
      return { ok: true, durationMs: 70_000, logs: [], error: null };
    };
    // Three schedulers (as in three processes) race for the first due time: one run.
    const racers = [scheduler, new WorkerCronScheduler(t.platform), new WorkerCronScheduler(t.platform)];
    const claims = await Promise.all(racers.map((s) => s.tick(at(made.next_run_at))));
    expect(claims.reduce((n, c) => n + c.claimed, 0)).toBe(1);
    for (let i = 0; i < 50 && runtime.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(runtime.calls).toHaveLength(1);
    // A minute later the first run is still going: the next due time is skipped, by whichever scheduler takes it.
    // (Not idle(): this scheduler may be the one holding the first run.)
    await racers[1]?.tick(at(made.next_run_at, 60_000));
    let runs = await runsOf(o, made.id);
    for (let i = 0; i < 100 && runs[0]?.status !== "skipped"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      runs = await runsOf(o, made.id);
    }
    expect(runs.map((r) => r.status)).toEqual(["skipped", "running"]);
    expect(runs[0]?.error).toMatch(/still running/);
    release();
    await Promise.all(racers.map((s) => s.idle()));
    runs = await runsOf(o, made.id);
    expect(runs.map((r) => r.status)).toEqual(["skipped", "succeeded"]);
    expect(runtime.calls).toHaveLength(1);
    // The database itself refuses a second running row for the trigger.
    await expect(
      t.platform.db
        .updateTable("worker_cron_runs")
        .set({ status: "running" })
        .where("trigger_id", "=", made.id)
        .execute(),
    ).rejects.toMatchObject({ code: "23505" });
  });

  it("a run whose process died is failed when its lease runs out, and no longer blocks the trigger", async () => {
    const o = await owner();
    const made = await trigger(o, { cron: "* * * * *" });
    // The first due time is claimed and marked running by a process that then dies.
    expect(await claimDueTriggers(t.platform.db, at(made.next_run_at))).toBe(1);
    await t.platform.db
      .updateTable("worker_cron_runs")
      .set({ status: "running", started_at: new Date(), lease_expires_at: new Date(Date.now() - 1000) })
      .where("trigger_id", "=", made.id)
      .execute();
    await scheduler.tick(at(made.next_run_at, 60_000));
    await scheduler.idle();
    const runs = await runsOf(o, made.id);
    expect(runs.map((r) => r.status)).toEqual(["succeeded", "failed"]);
    expect(runs[1]?.error).toMatch(/process running it stopped/);
  });

  it("a failing worker, a crashing runtime and no runtime at all are recorded as failed runs", async () => {
    const o = await owner();
    const made = await trigger(o, { cron: "* * * * *" });
    runtime.answer = async () => ({
      ok: false,
      durationMs: 5,
      logs: [{ level: "error", message: "Uncaught Error: boom" }],
      error: "Error: boom",
    });
    await scheduler.tick(at(made.next_run_at));
    await scheduler.idle();
    runtime.answer = async () => {
      throw new Error("workerd is down");
    };
    await scheduler.tick(at(made.next_run_at, 60_000));
    await scheduler.idle();
    t.platform.workersRuntime = null;
    await scheduler.tick(at(made.next_run_at, 120_000));
    await scheduler.idle();
    const runs = await runsOf(o, made.id);
    expect(runs.map((r) => [r.status, r.error])).toEqual([
      ["failed", "no workers runtime is running in this process; the run could not start"],
      ["failed", "the workers runtime failed: workerd is down"],
      ["failed", "Error: boom"],
    ]);
    expect(runs[2]?.logs).toEqual([{ level: "error", message: "Uncaught Error: boom" }]);
    const onlyFailed = await t.request("GET", `${o.base}/${made.id}/runs?status=failed&limit=2`, { token: o.token });
    expect(onlyFailed.body.runs).toHaveLength(2);
    const next = await t.request(
      "GET",
      `${o.base}/${made.id}/runs?status=failed&limit=2&cursor=${onlyFailed.body.next_cursor}`,
      {
        token: o.token,
      },
    );
    expect(next.body.runs).toHaveLength(1);
    expect(next.body.next_cursor).toBeNull();
    // A run that is not queued any more is not run again.
    const [done] = await t.platform.db
      .selectFrom("worker_cron_runs")
      .select("id")
      .where("trigger_id", "=", made.id)
      .execute();
    expect(await executeCronRun(t.platform, done?.id ?? "")).toBe("gone");
    // The jobs that ran them are swept once a day old; the runs stay.
    const jobs = () =>
      t.platform.db
        .selectFrom("jobs")
        .select("id")
        .where("queue", "=", CRON_RUN_QUEUE)
        .where("state", "=", "done")
        .execute();
    expect((await jobs()).length).toBeGreaterThanOrEqual(3);
    expect(await sweepFinishedCronJobs(t.platform.db)).toBe(0);
    await sweepFinishedCronJobs(t.platform.db, -1000);
    expect(await jobs()).toEqual([]);
    expect(await runsOf(o, made.id)).toHaveLength(3);
  });
});

describe.skipIf(!process.env.DATABASE_URL?.startsWith("postgres"))("two processes on one Postgres", () => {
  let other: Platform;
  let dataDir: string;
  let otherRuntime: FakeRuntime;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-cron-"));
    other = await createPlatform({ databaseUrl: t.databaseUrl, config: { dataDir }, log: pino({ level: "silent" }) });
  });
  afterAll(async () => {
    await other?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  beforeEach(() => {
    otherRuntime = new FakeRuntime();
    other.workersRuntime = otherRuntime;
  });

  it("run each due time once, and never two runs of a trigger at once, whichever process ticks", async () => {
    const o = await owner();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await trigger(o, { worker: `w${i}`, cron: "* * * * *" })).id);
    const first = (await t.request("GET", o.base, { token: o.token })).body.triggers[0].next_run_at as string;
    // Runs that take long: every one is still going when the next minute's due time comes.
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = async () => {
      await gate;
      return { ok: true, durationMs: 1, logs: [], error: null };
    };
    runtime.answer = slow;
    otherRuntime.answer = slow;
    const schedulers = [
      new WorkerCronScheduler(t.platform, { concurrency: 20 }),
      new WorkerCronScheduler(t.platform, { concurrency: 20 }),
      new WorkerCronScheduler(other, { concurrency: 20 }),
      new WorkerCronScheduler(other, { concurrency: 20 }),
    ];
    for (const minute of [0, 1, 2])
      for (let round = 0; round < 2; round++)
        await Promise.all(schedulers.map((s) => s.tick(at(first, minute * 60_000 + round * 1000))));
    // Every claimed run was taken by some scheduler: one run of each trigger is going, the others were skipped.
    for (let i = 0; i < 200; i++) {
      const queued = await t.platform.db
        .selectFrom("worker_cron_runs")
        .select("id")
        .where("trigger_id", "in", ids)
        .where("status", "=", "queued")
        .execute();
      if (!queued.length) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(runtime.calls.length + otherRuntime.calls.length).toBe(10);
    release();
    await Promise.all(schedulers.map((s) => s.idle()));
    // Which due time of a trigger got to run first is a race; that exactly one ran is not.
    for (const id of ids)
      expect((await runsOf(o, id)).map((r) => r.status).sort()).toEqual(["skipped", "skipped", "succeeded"]);
    expect(runtime.calls.length + otherRuntime.calls.length).toBe(10);
  });
});
