// Workers' usage on the ledger: requests and CPU ms add up in memory per owner account and are charged to its
// `wallet` pool in one entry per flush (every few seconds), not one per request. An account whose wallet cannot
// pay (empty, or its hard spend cap reached) is stopped: its workers answer 402 until it can pay again. The
// platform operator's own workers are charged but never stopped (it is their machine).
import type { Logger } from "pino";
import { releaseHold, settleHold, tryPlaceHold } from "../billing/holds.ts";
import type { WorkerPrices } from "../billing/prices.ts";
import type { DB } from "../kernel/operation.ts";

interface Usage {
  requests: number;
  cpuMs: number;
  projects: Set<string>;
}

export class WorkersMeter {
  private usage = new Map<string, Usage>();
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

  add(accountId: string, projectId: string, requests: number, cpuMs: number): void {
    let u = this.usage.get(accountId);
    if (!u) this.usage.set(accountId, (u = { requests: 0, cpuMs: 0, projects: new Set() }));
    u.requests += requests;
    u.cpuMs += cpuMs;
    u.projects.add(projectId);
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

  private async isOperator(accountId: string): Promise<boolean> {
    let known = this.operators.get(accountId);
    if (known === undefined) {
      const row = await this.db
        .selectFrom("accounts")
        .select("is_operator")
        .where("id", "=", accountId)
        .executeTakeFirst();
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
    const batch = this.usage;
    this.usage = new Map();
    for (const [accountId, u] of batch) {
      const cost = this.costOf(u.requests, u.cpuMs);
      if (cost <= 0n) continue;
      const metadata = { requests: u.requests, cpu_ms: Math.round(u.cpuMs), projects: [...u.projects] };
      const hold = await tryPlaceHold(this.db, { accountId, pool: "wallet", amount: cost, metadata });
      if (!hold) {
        // Served already, but not payable: the account stops until it can pay. The usage is recorded as a
        // settlement of what it can pay (nothing) with the rest as its shortfall.
        if (!(await this.isOperator(accountId))) this.blocked.add(accountId);
        this.log.info({ accountId, cost: String(cost) }, "workers usage not payable; serving stopped");
        continue;
      }
      const settled = await settleHold(this.db, hold.id, { cost, reason: "workers_usage", metadata });
      if (settled.shortfall > 0n && !(await this.isOperator(accountId))) this.blocked.add(accountId);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
