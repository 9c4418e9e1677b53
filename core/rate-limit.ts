// Fixed-window rate limits, in memory per process: a limit is a guard against floods and brute force,
// not state that must survive a restart. Behind a load balancer each process enforces its own window.

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
