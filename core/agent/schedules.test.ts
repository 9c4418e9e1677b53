// Scheduled agent runs: the operations (what they record and refuse, and to whom), the scheduler on a controlled
// clock (due times in a timezone, downtime folding into one run, one run per due time across concurrent schedulers
// and, on Postgres, across two platforms on one database), budgets and credit, and the reports: an email at a real
// SMTP server when a run finishes or asks for approval, and the Telegram relay's claim.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { FakeModelServer } from "../../testkit/fake-model.ts";
import { startFakeRunner } from "../../testkit/fake-runner.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { type SmtpFixture, startSmtpServer } from "../../testkit/smtp.ts";
import { credit } from "../billing/ledger.ts";
import { loadConfig } from "../config.ts";
import { isUniqueViolation } from "../kernel/errors.ts";
import { createPlatform, type Platform } from "../platform.ts";
import { AgentScheduler, claimDueSchedules, startScheduledRun } from "./scheduler.ts";
import { activeChatRuns, claimScheduledRunRelay } from "./telegram-chats.ts";
import { issuePairingCode } from "./telegram-pairing.ts";

const agent = { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 };
let t: TestPlatform;
let smtp: SmtpFixture;
let scheduler: AgentScheduler;
beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await startTestPlatform({ config: { agent, mail: { smtpUrl: smtp.url, from: "bosun@example.test" } } });
  scheduler = new AgentScheduler(t.platform);
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});
// Every test moves the clock as it likes: earlier tests' schedules must not come due in it, nor their jobs count.
beforeEach(async () => {
  await t.platform.db.updateTable("agent_schedules").set({ enabled: false, next_run_at: null }).execute();
  await scheduler.tick(new Date(0));
});

let seq = 0;
async function owner(creditMicros = 5_000_000) {
  const user = await t.account();
  const token = await user.token(["projects:*", "agent:*", "files:*", "pages:*", "settings:*", "publish:*"]);
  const project = `sched-${++seq}-${user.id.slice(0, 6)}`;
  const res = await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "S", kind: "site" } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  if (creditMicros)
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: creditMicros, reason: "top_up" });
  return { user, token, project, base: `/v1/projects/${project}/agent/schedules` };
}
const create = (o: { token: string; base: string }, body: Record<string, unknown>, p = t) =>
  p.request("POST", o.base, { token: o.token, body: { name: "nightly", cron: "0 3 * * *", prompt: "Check", ...body } });
// list_agent_schedule_runs: the history every scheduler test reads.
const runsOf = async (o: { token: string; base: string }, id: string) => {
  const res = await t.request("GET", `${o.base}/${id}/runs`, { token: o.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.runs as {
    id: string;
    slot_at: string;
    missed: number;
    status: string;
    run_id: string | null;
    conversation_id: string | null;
    cost_micros: number;
    error: { code: string; message: string } | null;
  }[];
};
/** Hour and minute of an instant as a wall clock in `timeZone` shows it. */
const wallClock = (at: string, timeZone: string) =>
  new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(at),
  );
const plus = (at: string | Date, ms: number) => new Date(new Date(at).getTime() + ms);
const DAY = 86_400_000;

describe("the operations", () => {
  it("create_agent_schedule answers read_only by default and the next due time in its timezone; get_agent_schedule, list_agent_schedules, update_agent_schedule, delete_agent_schedule", async () => {
    const o = await owner();
    const res = await create(o, { cron: "30 9 * * 1-5", timezone: "Europe/Berlin", max_cost_micros: 250_000 });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const s = res.body;
    expect(s).toMatchObject({
      name: "nightly",
      mode: "read_only",
      instance: null,
      report_channel: "none",
      enabled: true,
      max_cost_micros: 250_000,
    });
    expect(wallClock(s.next_run_at, "Europe/Berlin")).toBe("09:30");
    expect(new Date(s.next_run_at).getTime()).toBeGreaterThan(Date.now());
    expect(new Date(s.next_run_at).getTime()).toBeLessThan(Date.now() + 4 * DAY);
    expect([1, 2, 3, 4, 5]).toContain(
      ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(
        new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Berlin", weekday: "short" }).format(
          new Date(s.next_run_at),
        ),
      ),
    );

    expect((await t.request("GET", `${o.base}/${s.id}`, { token: o.token })).body).toEqual(s);
    expect((await t.request("GET", o.base, { token: o.token })).body).toEqual({ schedules: [s], next_cursor: null });

    const upd = await t.request("PATCH", `${o.base}/${s.id}`, {
      token: o.token,
      body: { timezone: "America/New_York", mode: "ask", max_cost_micros: null },
    });
    expect(upd.status, JSON.stringify(upd.body)).toBe(200);
    expect(upd.body).toMatchObject({ mode: "ask", timezone: "America/New_York", max_cost_micros: null });
    expect(wallClock(upd.body.next_run_at, "America/New_York")).toBe("09:30");

    const off = await t.request("PATCH", `${o.base}/${s.id}`, { token: o.token, body: { enabled: false } });
    expect(off.body).toMatchObject({ enabled: false, next_run_at: null });

    expect((await t.request("DELETE", `${o.base}/${s.id}`, { token: o.token })).status).toBe(200);
    expect((await t.request("GET", `${o.base}/${s.id}`, { token: o.token })).status).toBe(404);
  });

  it("refuses bad input with a 400 naming the field, and a second schedule of the same name with 409", async () => {
    const o = await owner();
    const cases: [Record<string, unknown>, string][] = [
      [{ cron: "61 * * * *" }, "cron"],
      [{ cron: "0 9 * * * *" }, "cron"], // six fields (seconds): not a 5-field expression
      [{ cron: "* * * * *" }, "cron"], // every minute: more often than every five minutes
      [{ cron: "0 0 31 2 *" }, "cron"], // never comes due
      [{ timezone: "Mars/Olympus" }, "timezone"],
      [{ instance: "web" }, "instance"], // a site project has no instances
      [{ report_channel: "telegram", telegram_chat_id: 42 }, "telegram_chat_id"], // no chat of yours linked to the site
      [{ telegram_chat_id: 42 }, "telegram_chat_id"],
      [{ mode: "yolo" }, "mode"],
      [{ max_cost_micros: -1 }, "max_cost_micros"],
      [{ prompt: " " }, "prompt"],
    ];
    for (const [body, field] of cases) {
      const res = await create(o, body);
      expect(res.status, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    expect((await create(o, {})).status).toBe(201);
    const dup = await create(o, {});
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe("conflict");
  });

  it("another tenant's schedule is not found; reading needs agent:read and changing agent:write", async () => {
    const a = await owner();
    const b = await owner();
    const s = (await create(a, {})).body;
    for (const [method, url] of [
      ["GET", `${a.base}/${s.id}`],
      ["GET", `${a.base}/${s.id}/runs`],
      ["PATCH", `${a.base}/${s.id}`],
      ["DELETE", `${a.base}/${s.id}`],
    ] as const) {
      const res = await t.request(method, url, {
        token: b.token,
        body: method === "PATCH" ? { mode: "auto" } : undefined,
      });
      expect(res.status, `${method} ${url}`).toBe(404);
    }
    // B's own project cannot name A's schedule either.
    expect((await t.request("GET", `${b.base}/${s.id}`, { token: b.token })).status).toBe(404);

    const readOnly = await a.user.token(["agent:read"], { projects: [a.project] });
    const refused = await create({ token: readOnly, base: a.base }, { name: "other" });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain("agent:write");
    expect((await t.request("GET", `${a.base}/${s.id}`, { token: readOnly })).status).toBe(200);
    const none = await a.user.token(["files:read"]);
    const hidden = await t.request("GET", a.base, { token: none });
    expect(hidden.status).toBe(403);
    expect(hidden.body.error.message).toContain("agent:read");
  });

  it("a schedule's runs hold only the agent's scopes the creating credential holds", async () => {
    const o = await owner();
    const narrow = await o.user.token(["agent:*", "files:read"]);
    const s = (await create({ token: narrow, base: o.base }, { name: "narrow", allow_publish: true })).body;
    const row = await t.platform.db
      .selectFrom("agent_schedules")
      .select("scopes")
      .where("id", "=", s.id)
      .executeTakeFirstOrThrow();
    expect(row.scopes).toEqual(["files:read"]);
  });
});

describe("the scheduler", () => {
  it("fires at the due time and not before, once, with the schedule's prompt, mode and budget", async () => {
    const o = await owner();
    const s = (await create(o, { cron: "0 9 * * *", timezone: "Asia/Tokyo", max_cost_micros: 300_000 })).body;
    expect(wallClock(s.next_run_at, "Asia/Tokyo")).toBe("09:00");

    expect(await scheduler.tick(plus(s.next_run_at, -1))).toMatchObject({ claimed: 0, started: 0 });
    expect(await runsOf(o, s.id)).toEqual([]);

    expect(await scheduler.tick(new Date(s.next_run_at))).toMatchObject({ claimed: 1, started: 1 });
    expect(await scheduler.tick(new Date(s.next_run_at))).toMatchObject({ claimed: 0, started: 0 });
    const runs = await runsOf(o, s.id);
    expect(runs).toEqual([
      expect.objectContaining({ slot_at: s.next_run_at, missed: 0, status: "queued", error: null }),
    ]);
    const conv = await t.request("GET", `/v1/projects/${o.project}/agent/conversations/${runs[0]!.conversation_id}`, {
      token: o.token,
    });
    expect(conv.body.conversation).toMatchObject({
      mode: "read_only",
      kind: "site_editor",
      title: "Scheduled: nightly",
    });
    expect(conv.body.messages[0].content).toEqual([{ type: "text", text: "Check" }]);
    const run = await t.platform.db
      .selectFrom("agent_runs")
      .selectAll()
      .where("id", "=", runs[0]!.run_id!)
      .executeTakeFirstOrThrow();
    expect(run.max_cost_micros).toBe("300000");
    // The schedule moved on to the next day's 09:00 in Tokyo.
    const after = (await t.request("GET", `${o.base}/${s.id}`, { token: o.token })).body;
    expect(new Date(after.next_run_at).getTime()).toBe(new Date(s.next_run_at).getTime() + DAY);
  });

  it("after downtime a missed schedule runs once, not once per missed time; a due time that finds its last run active is skipped", async () => {
    const o = await owner();
    const s = (await create(o, { cron: "0 */6 * * *" })).body;
    await scheduler.tick(new Date(s.next_run_at));
    const [first] = await runsOf(o, s.id);
    expect(first!.status).toBe("queued");

    // Six hours later the first run is still queued (no runner here): that due time is skipped, saying why.
    const second = plus(s.next_run_at, 6 * 3600_000);
    await scheduler.tick(second);
    const skipped = (await runsOf(o, s.id))[0]!;
    expect(skipped).toMatchObject({ status: "skipped", run_id: null, error: { code: "conflict" } });
    expect(skipped.error!.message).toContain(first!.run_id);

    // The first run ends; Bosun is then down for three days (12 due times), and comes back once.
    const cancel = await t.request(
      "POST",
      `/v1/projects/${o.project}/agent/conversations/${first!.conversation_id}/cancel`,
      { token: o.token },
    );
    expect(cancel.status).toBe(200);
    const back = plus(second, 3 * DAY + 3600_000);
    expect(await scheduler.tick(back)).toMatchObject({ claimed: 1, started: 1 });
    expect(await scheduler.tick(back)).toMatchObject({ claimed: 0, started: 0 });
    const runs = await runsOf(o, s.id);
    expect(runs).toHaveLength(3);
    expect(runs[0]).toMatchObject({ slot_at: plus(second, 6 * 3600_000).toISOString(), missed: 11, status: "queued" });
    expect(runs[2]).toMatchObject({ status: "cancelled" });
    const next = (await t.request("GET", `${o.base}/${s.id}`, { token: o.token })).body.next_run_at;
    expect(new Date(next).getTime()).toBeGreaterThan(back.getTime());
    expect(new Date(next).getTime()).toBeLessThanOrEqual(back.getTime() + 6 * 3600_000);
  });

  it("concurrent schedulers start each due time once; the database refuses a second row for a due time", async () => {
    const o = await owner();
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await create(o, { name: `s${i}`, cron: "15 4 * * *" })).body.id);
    const due = (await t.request("GET", `${o.base}/${ids[0]}`, { token: o.token })).body.next_run_at;
    const schedulers = [scheduler, new AgentScheduler(t.platform), new AgentScheduler(t.platform)];
    const results = await Promise.all(schedulers.map((s) => s.tick(new Date(due))));
    expect(results.reduce((n, r) => n + r.claimed, 0)).toBe(8);
    expect(results.reduce((n, r) => n + r.started, 0)).toBe(8);
    for (const id of ids) expect((await runsOf(o, id)).map((r) => r.status)).toEqual(["queued"]);

    const dup = await t.platform.db
      .insertInto("agent_schedule_runs")
      .values({ id: crypto.randomUUID(), schedule_id: ids[0]!, slot_at: new Date(due), status: "pending" })
      .execute()
      .catch((e) => e);
    expect(isUniqueViolation(dup)).toBe(true);
  });

  it("a due time whose start job is run twice (a lease that expired) still starts one run", async () => {
    const o = await owner();
    const s = (await create(o, { name: "twice" })).body;
    expect(await claimDueSchedules(t.platform, new Date(s.next_run_at))).toBe(1);
    const [pending] = await runsOf(o, s.id);
    expect(pending!.status).toBe("pending");
    const outcomes = await Promise.all([
      startScheduledRun(t.platform, pending!.id),
      startScheduledRun(t.platform, pending!.id),
    ]);
    expect(outcomes.sort()).toEqual(["gone", "started"]);
    await scheduler.tick(new Date(s.next_run_at)); // drains the job: nothing more starts
    const convs = await t.platform.db
      .selectFrom("agent_conversations")
      .select("id")
      .where("title", "=", "Scheduled: twice")
      .execute();
    expect(convs).toHaveLength(1);
  });

  it("records a failed start when the owner has no credit or the creating token was revoked, and emails the person", async () => {
    const broke = await owner(0);
    const s = (await create(broke, { name: "broke", report_channel: "email" })).body;
    const mail = smtp.next(broke.user.email);
    await scheduler.tick(new Date(s.next_run_at));
    expect((await runsOf(broke, s.id))[0]).toMatchObject({
      status: "failed",
      run_id: null,
      error: { code: "payment_required" },
    });
    const m = await mail;
    expect(m.subject).toBe("Scheduled run broke: failed");
    expect(m.text).toContain("payment_required");

    const o = await owner();
    const token = await o.user.token(["agent:*", "files:*"]);
    const r = (await create({ token, base: o.base }, { name: "revoked" })).body;
    const tokenId = (
      await t.platform.db
        .selectFrom("agent_schedules")
        .select("credential_id")
        .where("id", "=", r.id)
        .executeTakeFirstOrThrow()
    ).credential_id;
    await t.platform.db.updateTable("api_tokens").set({ revoked_at: new Date() }).where("id", "=", tokenId).execute();
    await t.platform.auth.evict(tokenId);
    await scheduler.tick(new Date(r.next_run_at));
    expect((await runsOf(o, r.id))[0]).toMatchObject({ status: "failed", error: { code: "unauthorized" } });
  });
});

describe("runs and reports", () => {
  let fake: FakeModelServer;
  let workers: Awaited<ReturnType<typeof startFakeRunner>>["workers"];
  beforeAll(async () => {
    // Runs the scheduler tests left queued are not this runner's business.
    await t.platform.db
      .updateTable("agent_runs")
      .set({ status: "cancelled" })
      .where("status", "in", ["queued", "running", "awaiting_approval"])
      .execute();
    await t.platform.db.updateTable("jobs").set({ state: "done" }).where("state", "in", ["ready", "leased"]).execute();
    ({ fake, workers } = await startFakeRunner(t.platform));
  });
  afterAll(async () => {
    await workers?.stop();
    await fake?.close();
  });
  async function settle(o: { token: string; base: string }, id: string, status: string[]) {
    for (let i = 0; i < 200; i++) {
      const [run] = await runsOf(o, id);
      if (run && status.includes(run.status)) return run;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the scheduled run never reached ${status}`);
  }

  it("emails the person the run's status, cost and the agent's report when it finishes", async () => {
    const o = await owner();
    const s = (await create(o, { name: "report", report_channel: "email" })).body;
    fake.script([{ text: "All pages are fine." }]);
    await scheduler.tick(new Date(s.next_run_at));
    const run = await settle(o, s.id, ["done"]);
    expect(run.cost_micros).toBeGreaterThan(0);
    const mail = smtp.next(o.user.email);
    expect((await scheduler.tick(new Date(s.next_run_at))).reported).toBe(1);
    const m = await mail;
    expect(m.subject).toBe("Scheduled run report: done");
    expect(m.text).toContain("All pages are fine.");
    expect(m.text).toContain(`--conversation_id ${run.conversation_id}`);
    // Sent once: a later tick has nothing left to report.
    expect((await scheduler.tick(new Date(s.next_run_at))).reported).toBe(0);
  });

  it("in ask mode the approval goes to the report channel; approving through the API finishes the run", async () => {
    const o = await owner();
    const s = (await create(o, { name: "publish", mode: "ask", allow_publish: true, report_channel: "email" })).body;
    fake.script([{ toolUse: { name: "publish_site", input: { project: o.project } } }, { text: "Published." }]);
    await scheduler.tick(new Date(s.next_run_at));
    await settle(o, s.id, ["awaiting_approval"]);
    const mail = smtp.next(o.user.email);
    await scheduler.tick(new Date(s.next_run_at));
    const m = await mail;
    expect(m.subject).toBe("Approval needed: scheduled run publish");
    const approvalId = /--approval_id ([0-9a-f-]{36})/.exec(m.text)?.[1];
    expect(approvalId).toBeTruthy();
    expect(m.text).toContain("publish_site");
    const ok = await t.request("POST", `/v1/projects/${o.project}/agent/approvals/${approvalId}/approve`, {
      token: o.token,
      body: { note: "ok" },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    await settle(o, s.id, ["done", "failed"]);
    const done = smtp.next(o.user.email);
    await scheduler.tick(new Date(s.next_run_at));
    expect((await done).subject).toMatch(/^Scheduled run publish: (done|failed)$/);
  });

  it("stops a run at the schedule's budget", async () => {
    const o = await owner();
    const s = (await create(o, { name: "cheap", max_cost_micros: 1 })).body;
    // One model call (a tool call), then the cap: a second call would find no scripted reply and fail otherwise.
    fake.script([{ toolUse: { name: "list_files", input: { project: o.project } } }]);
    await scheduler.tick(new Date(s.next_run_at));
    const run = await settle(o, s.id, ["failed", "done"]);
    expect(run).toMatchObject({ status: "failed", error: { code: "limit_reached" } });
    expect(run.error!.message).toContain("$0.000001");
    expect(fake.pending()).toBe(0);
  });
});

describe("Telegram reports", () => {
  let w: InstanceWorld;
  beforeAll(async () => {
    w = await startInstanceWorld({ project: "sched-tg", instance: "web", config: { agent } });
    await credit(w.t.platform.db, { accountId: w.user.id, pool: "ai_credits", amount: 1_000_000, reason: "top_up" });
  });
  afterAll(() => w?.close());

  it("reports only to a chat the person linked to the schedule's instance; one bridge claims relaying each run", async () => {
    const token = await w.user.token(["agent:*", "instances:*"]);
    const chat = { chatId: 7_000_000_001, chatType: "private", userId: 7_000_000_002, username: "ann" };
    const { code } = await issuePairingCode(w.t.platform, chat);
    const linked = await w.t.request("POST", `${w.path()}/agent/telegram`, { token, body: { code } });
    expect(linked.status, JSON.stringify(linked.body)).toBe(201);
    const base = "/v1/projects/sched-tg/agent/schedules";
    const body = { name: "tg", cron: "0 3 * * *", prompt: "Check disk", instance: "web", report_channel: "telegram" };

    const noInstance = await w.t.request("POST", base, {
      token,
      body: { ...body, instance: undefined, telegram_chat_id: chat.chatId },
    });
    expect(noInstance.status).toBe(400);
    expect(noInstance.body.error.issues[0].path).toBe("instance");
    const unknownChat = await w.t.request("POST", base, { token, body: { ...body, telegram_chat_id: 123 } });
    expect(unknownChat.status).toBe(400);
    expect(unknownChat.body.error.issues[0].path).toBe("telegram_chat_id");
    // Another member's credential cannot point a schedule at this person's chat.
    const other = await w.t.account();
    await w.t.addMember("sched-tg", await w.user.token(["*"]), other, "maintainer");
    const otherToken = await other.token(["agent:*", "instances:*"]);
    const foreign = await w.t.request("POST", base, {
      token: otherToken,
      body: { ...body, telegram_chat_id: chat.chatId },
    });
    expect(foreign.status).toBe(400);

    const res = await w.t.request("POST", base, { token, body: { ...body, telegram_chat_id: chat.chatId } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ report_channel: "telegram", telegram_chat_id: chat.chatId, mode: "read_only" });

    const heard: string[] = [];
    w.t.platform.notifier.on("agent_scheduled_run", (id) => heard.push(id));
    await new AgentScheduler(w.t.platform).tick(new Date(res.body.next_run_at));
    // On Postgres this process hears its own publish twice (at once, and back through LISTEN): the claim decides.
    expect(new Set(heard).size).toBe(1);
    const first = await claimScheduledRunRelay(w.t.platform, heard[0]!);
    expect(first).toMatchObject({ chatId: chat.chatId, link: { project: "sched-tg", instance: "web" } });
    expect(await claimScheduledRunRelay(w.t.platform, heard[0]!)).toBeNull(); // another process's bridge
    // After a restart, a polling bridge picks the run up again with the chat's own runs.
    expect((await activeChatRuns(w.t.platform)).map((r) => r.runId)).toContain(first!.runId);
  });
});

describe.skipIf(!process.env.DATABASE_URL?.startsWith("postgres"))("two processes on one Postgres", () => {
  let other: Platform;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sched-"));
    other = await createPlatform({
      databaseUrl: t.databaseUrl,
      config: { dataDir, agent },
      log: pino({ level: "silent" }),
    });
  });
  afterAll(async () => {
    await other?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("never start the same scheduled run twice", async () => {
    const o = await owner();
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await create(o, { name: `p${i}`, cron: "45 5 * * *" })).body.id);
    const due = new Date((await t.request("GET", `${o.base}/${ids[0]}`, { token: o.token })).body.next_run_at);
    const here = [new AgentScheduler(t.platform), new AgentScheduler(t.platform)];
    const there = [new AgentScheduler(other), new AgentScheduler(other)];
    // Both processes tick at the due time, a few times over, at once.
    for (let round = 0; round < 3; round++)
      await Promise.all([...here, ...there].map((s) => s.tick(plus(due, round * 1000))));
    for (const id of ids) expect((await runsOf(o, id)).map((r) => r.status)).toEqual(["queued"]);
    const runs = await t.platform.db
      .selectFrom("agent_conversations")
      .innerJoin("agent_runs", "agent_runs.conversation_id", "agent_conversations.id")
      .innerJoin("projects", "projects.id", "agent_conversations.project_id")
      .select("agent_runs.id")
      .where("projects.slug", "=", o.project)
      .execute();
    expect(runs).toHaveLength(12);
  });
});
