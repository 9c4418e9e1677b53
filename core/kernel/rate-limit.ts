// Fixed-window rate limits. `RateLimiter`: in memory per process, for floods (each process enforces its own
// window). `SharedRateLimiter`: in the database, for security limits that must hold across all processes.
import { type Kysely, sql } from "kysely";
import type { Database } from "../../schema/database.ts";
import { one } from "./errors.ts";

export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Unix seconds when the window resets. */
  reset: number;
  allowed: boolean;
  retryAfter: number;
}

export class RateLimiter {
  private windows = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly windowMs = 60_000) {}

  take(key: string, limit: number, now = Date.now()): RateLimitState {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size > 50_000) this.prune(now);
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    const allowed = w.count <= limit;
    return {
      limit,
      remaining: Math.max(0, limit - w.count),
      reset: Math.ceil(w.resetAt / 1000),
      allowed,
      retryAfter: allowed ? 0 : Math.max(1, Math.ceil((w.resetAt - now) / 1000)),
    };
  }

  private prune(now: number) {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
  }
}

/**
 * Security limits (password and code entries, pairing codes, form posts) counted in the database, so every
 * Bosun process on it shares one window per key: N processes do not allow N times the tries. One statement
 * per take (an upsert returning the new count), timed by the database's clock so nodes agree on windows.
 * The general per-credential request limit stays in memory (`RateLimiter`): it guards against floods, and a
 * database write on every call would cost more than the limit is worth; N processes allowing N× is fine there.
 */
export class SharedRateLimiter {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly windowMs = 60_000,
  ) {}

  async take(key: string, limit: number): Promise<RateLimitState> {
    const { rows } = await sql<{ count: number; reset_at: Date; now: Date }>`
      insert into rate_limits as r (key, count, reset_at)
      values (${key}, 1, now() + ${this.windowMs} * interval '1 millisecond')
      on conflict (key) do update set
        count = case when r.reset_at > now() then least(r.count, 2147483646) + 1 else 1 end,
        reset_at = case when r.reset_at > now() then r.reset_at else excluded.reset_at end
      returning count, reset_at, now() as now`.execute(this.db);
    const row = one(rows, "the rate_limits row the upsert returns");
    const resetAt = new Date(row.reset_at).getTime();
    const now = new Date(row.now).getTime();
    const allowed = row.count <= limit;
    return {
      limit,
      remaining: Math.max(0, limit - row.count),
      reset: Math.ceil(resetAt / 1000),
      allowed,
      retryAfter: allowed ? 0 : Math.max(1, Math.ceil((resetAt - now) / 1000)),
    };
  }

  /** Drops windows that have ended (every process runs it; deleting a row twice is harmless). */
  async prune(): Promise<number> {
    const res = await this.db.deleteFrom("rate_limits").where("reset_at", "<", sql<Date>`now()`).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
