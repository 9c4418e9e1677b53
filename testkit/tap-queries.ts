// Watches every statement this process sends through node-postgres (Postgres and PGlite alike): for tests and
// benches that count statements or read what a statement's answer reported (its `synchronous_commit`).
import pg from "pg";

export interface QueryRows {
  rows?: Record<string, unknown>[];
}

/**
 * Calls `onQuery` with each statement's text and the client that sends it; the function it may return is told of
 * the statement's answer when it succeeds, whichever way the caller takes it: a promise (Kysely's driver) or a
 * callback (pg.Pool#query). Returns the function that stops the watch.
 */
export function tapQueries(onQuery: (text: string, client: pg.Client) => ((answer: QueryRows) => void) | undefined) {
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const text = typeof args[0] === "string" ? args[0] : ((args[0] as { text?: string } | undefined)?.text ?? "");
    const answered = onQuery(text, this);
    if (!answered) return query.apply(this, args);
    const cb = args.findIndex((a) => typeof a === "function");
    if (cb >= 0) {
      const callback = args[cb] as (err: unknown, answer: QueryRows) => void;
      args[cb] = (err: unknown, answer: QueryRows) => {
        if (!err) answered(answer);
        callback(err, answer);
      };
      return query.apply(this, args);
    }
    const res = query.apply(this, args) as Promise<QueryRows>;
    res.then(answered, () => {});
    return res;
  } as typeof pg.Client.prototype.query;
  return () => {
    pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
  };
}
