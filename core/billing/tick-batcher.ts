// Calls made in the same turn of the event loop, run as one statement: with many concurrent metered calls, each
// statement's fixed cost (a round trip, a commit, the server's per-statement work) is paid once per batch instead
// of once per call. Each caller still gets its own result or its own error.

/** What `many` answers for an item it did not do (e.g. a second item of one key): that item runs through `one`. */
export const ALONE: unique symbol = Symbol("alone");

interface Job<I, O> {
  key: string;
  item: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export interface TickBatcherOptions<I, O> {
  /** Runs one item on its own. */
  one: (item: I) => Promise<O>;
  /** Runs items of distinct keys (sorted by key) as one atomic statement: it either answers every item (in order)
   * or changes nothing and throws. It must take its row locks in an order of its own (not the items'): concurrent
   * batches then cannot deadlock each other. */
  many: (items: I[]) => Promise<(O | typeof ALONE)[]>;
  /** At most this many items in one statement. */
  max?: number;
}

/**
 * Returns `run(key, item)`. Items queued in one turn of the event loop run when it ends: the r-th item of each key
 * goes in round r, so no statement carries two items of one key (two charges to one balance row cannot go in one
 * UPDATE), and rounds run concurrently, as the calls would have. A round of one item runs through `one`. When a
 * batch fails (a bad item, a deadlock), nothing of it was written, and each of its items runs again on its own:
 * one item's error never fails or changes the others.
 */
export function tickBatcher<I, O>(opts: TickBatcherOptions<I, O>): (key: string, item: I) => Promise<O> {
  const max = opts.max ?? 64;
  let queue: Job<I, O>[] = [];

  const alone = (job: Job<I, O>) => opts.one(job.item).then(job.resolve, job.reject);

  const round = async (jobs: Job<I, O>[]) => {
    const [first] = jobs;
    if (first && jobs.length === 1) return alone(first);
    let out: (O | typeof ALONE)[];
    try {
      out = await opts.many(jobs.map((j) => j.item));
    } catch {
      for (const job of jobs) void alone(job);
      return;
    }
    jobs.forEach((job, k) => {
      const o = out[k];
      if (o === ALONE || o === undefined) void alone(job);
      else job.resolve(o);
    });
  };

  const flush = () => {
    const jobs = queue;
    queue = [];
    const rounds: Job<I, O>[][] = [];
    const seen = new Map<string, number>();
    for (const job of jobs) {
      const r = seen.get(job.key) ?? 0;
      seen.set(job.key, r + 1);
      (rounds[r] ??= []).push(job);
    }
    for (const jobsOfRound of rounds) {
      jobsOfRound.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (let k = 0; k < jobsOfRound.length; k += max) void round(jobsOfRound.slice(k, k + max));
    }
  };

  return (key, item) =>
    new Promise<O>((resolve, reject) => {
      if (!queue.length) setImmediate(flush);
      queue.push({ key, item, resolve, reject });
    });
}
