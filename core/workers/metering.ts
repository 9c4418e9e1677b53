// Workers' usage on the ledger: each invocation's row (requests and CPU ms, written by the runtime as invocations
// finish) is the durable record; every flush charges the rows not yet charged to the owner account's `wallet` pool,
// one entry per account, and marks them charged in the same transaction — so a crash loses no usage that reached
// the database, and none is charged twice (rows are claimed with SKIP LOCKED: any process may flush). An account
// whose wallet cannot pay (empty, or its hard spend cap reached; usage past what it holds is a shortfall) is
// stopped: its workers answer 402 until it can pay again. The platform operator's own workers are charged but never stopped (it is their machine).
import type { Logger } from "pino";
import { releaseHold, settleHold, tryPlaceHold } from "../billing/holds.ts";
import type { WorkerPrices } from "../billing/prices.ts";
import type { DB } from "../kernel/operation.ts";

/** Rows charged per transaction (a backlog after downtime is charged in several). */
const BATCH = 5000;

/** Whose uncharged rows a charge takes: one worker's, one project's, or (neither) everyone's. */
type Of = { workerId?: string; projectId?: string };

export class WorkersMeter {
  private blocked = new Set<string>();
  private operators = new Map<string, boolean>();
  private timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: DB,
    private readonly prices: WorkerPrices,
    private readonly log: Logger,
    flushMs: number,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  mayServe(accountId: string): boolean {
    return !this.blocked.has(accountId);
  }

  /** micro-dollars, rounded up: any use costs at least one. */
  costOf(requests: number, cpuMs: number): bigint {
    const micros = (requests * this.prices.requestsPerMillion + cpuMs * this.prices.cpuMsPerMillion) / 1e6;
    return BigInt(Math.ceil(micros));
  }

  flush(): Promise<void> {
    this.flushing = this.flushing
      .then(() => this.charge())
      .catch((err) => this.log.warn({ err }, "workers billing failed"));
    return this.flushing;
  }

  private async isOperator(db: DB, accountId: string): Promise<boolean> {
    let known = this.operators.get(accountId);
    if (known === undefined) {
      const row = await db.selectFrom("accounts").select("is_operator").where("id", "=", accountId).executeTakeFirst();
      known = !!row?.is_operator;
      this.operators.set(accountId, known);
    }
    return known;
  }

  private async charge(): Promise<void> {
    // A stopped account is served again once its wallet can pay (a top-up, a raised cap, a new month).
    for (const accountId of this.blocked) {
      const probe = await tryPlaceHold(this.db, { accountId, pool: "wallet", amount: 1, ttlSeconds: 60 });
      if (probe) {
        await releaseHold(this.db, probe.id);
        this.blocked.delete(accountId);
      }
    }
    while ((await this.chargeBatch()) === BATCH) {}
  }

  /**
   * Charges one worker's uncharged rows now: before the worker is deleted, since its rows go with it (deleting and
   * recreating a worker between flushes must not be a way to use it for free).
   */
  chargeWorker(workerId: string): Promise<void> {
    return this.chargeNow({ workerId });
  }

  /** Charges every worker of a project now: before the project is deleted, its workers' rows go with it. */
  chargeProject(projectId: string): Promise<void> {
    return this.chargeNow({ projectId });
  }

  private async chargeNow(of: Of): Promise<void> {
    await this.flushing;
    while ((await this.chargeBatch(of)) === BATCH) {}
  }

  /** Charges up to BATCH uncharged invocation rows (of one worker or project, if given) and marks them, in one tx. */
  private chargeBatch(of: Of = {}): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      let query = trx
        .selectFrom("worker_invocations as i")
        .innerJoin("workers as w", "w.id", "i.worker_id")
        .innerJoin("projects as p", "p.id", "w.project_id")
        .select(["i.id", "i.cpu_ms", "w.project_id", "p.owner_account_id"])
        .where("i.charged", "=", false);
      if (of.workerId) query = query.where("i.worker_id", "=", of.workerId);
      if (of.projectId) query = query.where("w.project_id", "=", of.projectId);
      const rows = await query.orderBy("i.id").limit(BATCH).forUpdate("i").skipLocked().execute();
      if (!rows.length) return 0;
      const usage = new Map<string, { requests: number; cpuMs: number; projects: Set<string> }>();
      for (const r of rows) {
        let u = usage.get(r.owner_account_id);
        if (!u) usage.set(r.owner_account_id, (u = { requests: 0, cpuMs: 0, projects: new Set() }));
        u.requests++;
        u.cpuMs += r.cpu_ms;
        u.projects.add(r.project_id);
      }
      // Accounts in one order (billing's statements lock balance rows by account too): two flushes, or a flush and
      // a batch of holds, cannot deadlock on the wallets they both touch.
      const byAccount = [...usage].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [accountId, u] of byAccount) {
        const cost = this.costOf(u.requests, u.cpuMs);
        if (cost <= 0n) continue;
        const metadata = { requests: u.requests, cpu_ms: Math.round(u.cpuMs), projects: [...u.projects] };
        // Usage already served is charged even when the wallet holds less than it costs: what is there is taken and
        // the rest is a shortfall (as an AI call's cost past its hold), which refuses further holds — so the 1-micro
        // probe above cannot serve the account again until a top-up has paid it. Forgiving it instead would let a
        // wallet kept at a few micro-dollars (or a cap kept just above the month's spend) serve every other flush
        // interval for free.
        const hold =
          (await tryPlaceHold(trx, { accountId, pool: "wallet", amount: cost, metadata })) ??
          (await tryPlaceHold(trx, { accountId, pool: "wallet", amount: 1, metadata }));
        if (!hold) {
          // Served already, but not payable: the account stops until it can pay, and this usage is not charged
          // (its rows are marked all the same, or they would be retried for ever).
          if (!(await this.isOperator(trx, accountId))) this.blocked.add(accountId);
          this.log.info({ accountId, cost: String(cost) }, "workers usage not payable; serving stopped");
          continue;
        }
        const settled = await settleHold(trx, hold.id, { cost, reason: "workers_usage", metadata });
        if (settled.shortfall > 0n && !(await this.isOperator(trx, accountId))) this.blocked.add(accountId);
      }
      await trx
        .updateTable("worker_invocations")
        .set({ charged: true })
        .where(
          "id",
          "in",
          rows.map((r) => r.id),
        )
        .execute();
      return rows.length;
    });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
