// Workers' usage is charged from the invocation rows: what reached the database before a crash is charged by the
// next process's meter, exactly once, even with two meters flushing at the same time.
import crypto from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { credit } from "../billing/ledger.ts";
import { loadWorkerPrices } from "../billing/prices.ts";
import { WorkersMeter } from "./metering.ts";

let t: TestPlatform;
beforeAll(async () => {
  // The platform's own meter only flushes when told to, so the test decides when charging happens.
  t = await startTestPlatform({ config: { workersBillingFlushMs: 3_600_000 } });
}, 60_000);
afterAll(() => t?.close());

/** An account with a project and a worker that has `n` uncharged invocations of 10 CPU ms (as a crash leaves). */
async function usageOf(n: number, walletMicros: number) {
  const owner = await t.account();
  if (walletMicros)
    await credit(t.platform.db, { accountId: owner.id, pool: "wallet", amount: walletMicros, reason: "top_up" });
  const slug = `m${crypto.randomBytes(4).toString("hex")}`;
  await t.request("POST", "/v1/projects", {
    token: await owner.token(["*"]),
    body: { slug, name: slug, kind: "site" },
  });
  const project = await t.platform.db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", slug)
    .executeTakeFirstOrThrow();
  const workerId = crypto.randomUUID();
  await t.platform.db
    .insertInto("workers")
    .values({ id: workerId, project_id: project.id, name: "wkr", updated_at: new Date() })
    .execute();
  const row = (i: number) => ({
    worker_id: workerId,
    at: new Date(),
    kind: "fetch",
    outcome: "ok",
    status: 200,
    method: "GET",
    url: `/${i}`,
    wall_ms: 12,
    cpu_ms: 10,
    logs: "[]",
    exceptions: "[]",
  });
  await t.platform.db
    .insertInto("worker_invocations")
    .values(Array.from({ length: n }, (_, i) => row(i)))
    .execute();
  const charges = () =>
    t.platform.db
      .selectFrom("ledger_entries")
      .selectAll()
      .where("account_id", "=", owner.id)
      .where("reason", "=", "workers_usage")
      .execute();
  const uncharged = async () =>
    (
      await t.platform.db
        .selectFrom("worker_invocations")
        .select("id")
        .where("worker_id", "=", workerId)
        .where("charged", "=", false)
        .execute()
    ).length;
  return { owner, slug, charges, uncharged };
}

it("a new process's meter charges the rows a crashed one left, once, though two meters flush at the same time", async () => {
  const u = await usageOf(3, 10_000_000);
  expect(await u.uncharged()).toBe(3);
  // The process that served them is gone; a fresh one (and a second one on the same database) flush.
  const next = new WorkersMeter(t.platform.db, loadWorkerPrices(), pino({ level: "silent" }), 3_600_000);
  await Promise.all([next.flush(), t.platform.workersMeter.flush()]);
  await next.flush();
  await next.close();
  const charges = await u.charges();
  expect(charges).toHaveLength(1);
  expect(charges[0]?.metadata).toMatchObject({ requests: 3, cpu_ms: 30 });
  expect(BigInt(charges[0]?.amount ?? 0)).toBe(-next.costOf(3, 30));
  expect(await u.uncharged()).toBe(0);
}, 60_000);

it("usage an account cannot pay stops its workers (402) and is not retried for ever", async () => {
  const u = await usageOf(2, 0);
  await t.platform.workersMeter.flush();
  expect(t.platform.workersMeter.mayServe(u.owner.id)).toBe(false);
  expect(await u.charges()).toHaveLength(0);
  expect(await u.uncharged()).toBe(0);
  // Paid up, it serves again at the next flush.
  await credit(t.platform.db, { accountId: u.owner.id, pool: "wallet", amount: 1_000_000, reason: "top_up" });
  await t.platform.workersMeter.flush();
  expect(t.platform.workersMeter.mayServe(u.owner.id)).toBe(true);
}, 60_000);

it("usage past what a wallet holds is charged as a shortfall: a few micro-dollars left do not serve it again for free", async () => {
  const u = await usageOf(3000, 2);
  const meter = t.platform.workersMeter;
  expect(meter.costOf(3000, 30_000)).toBeGreaterThan(2n);
  await meter.flush();
  expect(meter.mayServe(u.owner.id)).toBe(false);
  const charges = await u.charges();
  expect(charges).toHaveLength(1);
  expect(BigInt(charges[0]?.amount ?? 0)).toBe(-2n);
  expect(charges[0]?.metadata).toMatchObject({ cost: Number(meter.costOf(3000, 30_000)) });
  // The next flush (no new usage) does not serve it again: the shortfall refuses the probe.
  await meter.flush();
  expect(meter.mayServe(u.owner.id)).toBe(false);
  // A top-up pays the shortfall first, then serves it.
  await credit(t.platform.db, { accountId: u.owner.id, pool: "wallet", amount: 1_000_000, reason: "top_up" });
  await meter.flush();
  expect(meter.mayServe(u.owner.id)).toBe(true);
}, 60_000);

it("deleting a worker charges its usage first: delete and recreate is not a way to use it for free", async () => {
  const u = await usageOf(4, 10_000_000);
  const res = await t.request("DELETE", `/v1/projects/${u.slug}/workers/wkr`, { token: await u.owner.token(["*"]) });
  expect(res.body).toEqual({ deleted: true });
  const charges = await u.charges();
  expect(charges).toHaveLength(1);
  expect(charges[0]?.metadata).toMatchObject({ requests: 4, cpu_ms: 40 });
  // Nothing is left for a later flush to charge again.
  await t.platform.workersMeter.flush();
  expect(await u.charges()).toHaveLength(1);
}, 60_000);

it("deleting a project charges its workers' usage first: the cascade takes their rows with it", async () => {
  const u = await usageOf(5, 10_000_000);
  const res = await t.request("DELETE", `/v1/projects/${u.slug}`, { token: await u.owner.token(["*"]) });
  expect(res.body).toEqual({ deleted: true, slug: u.slug });
  const charges = await u.charges();
  expect(charges).toHaveLength(1);
  expect(charges[0]?.metadata).toMatchObject({ requests: 5, cpu_ms: 50 });
  expect(await u.uncharged()).toBe(0); // gone with the project
}, 60_000);
