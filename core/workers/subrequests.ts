// Subrequests per invocation (Cloudflare's cap: 50 free, 1000 paid), counted where they arrive — Bosun's binding
// service — never in the isolate, whose code is the customer's. Each invocation has an id Bosun opened here (the
// proxy's request id, or a scheduled run's); the worker's generated entry keeps it in an AsyncLocalStorage and
// its fetch and bindings send it along. A call must name an open invocation *of the calling worker* (the
// capability says which): a missing, forged or finished id is refused, so leaving it out gains nothing.

interface Entry {
  workerId: string;
  limit: number;
  count: number;
  /** Told once, at the first call past the limit (the invocation's log gets it). */
  onExceeded?: () => void;
  timer?: NodeJS.Timeout;
}

export type SubrequestVerdict = { ok: true } | { ok: false; reason: "no_invocation" | "too_many"; message: string };

export class SubrequestCounter {
  private open = new Map<string, Entry>();

  start(id: string, workerId: string, limit: number, onExceeded?: () => void): void {
    this.open.set(id, { workerId, limit, count: 0, onExceeded });
  }

  /** Closes the invocation now (its tail event came: every `waitUntil` task is over). */
  end(id: string): void {
    const e = this.open.get(id);
    if (e?.timer) clearTimeout(e.timer);
    this.open.delete(id);
  }

  /** Closes it after `ms` unless something closes it sooner (the response is out; `waitUntil` work may go on). */
  endLater(id: string, ms: number): void {
    const e = this.open.get(id);
    if (!e || e.timer) return;
    e.timer = setTimeout(() => this.open.delete(id), ms);
    e.timer.unref();
  }

  /** Counts one subrequest of `workerId` under invocation `id`. */
  take(id: string | undefined, workerId: string): SubrequestVerdict {
    const e = id ? this.open.get(id) : undefined;
    if (!e || e.workerId !== workerId)
      return { ok: false, reason: "no_invocation", message: "subrequest outside of a running invocation" };
    e.count++;
    if (e.count <= e.limit) return { ok: true };
    if (e.count === e.limit + 1) e.onExceeded?.();
    return {
      ok: false,
      reason: "too_many",
      message: `Too many subrequests: an invocation may make ${e.limit} (fetches and binding calls)`,
    };
  }

  /** Invocations open now (tests: nothing leaks). */
  get size(): number {
    return this.open.size;
  }
}
