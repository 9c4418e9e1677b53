// A query built and compiled by Kysely once, then run with new parameter values: for the few queries on the path
// of every request, where Kysely's builder and compiler cost more than the database round trip's own CPU
// (list_projects: ~50 µs a call, most of what REST added over a bare route).
import type { Compilable, CompiledQuery, Expression, OperationNode, QueryResult, RawBuilder } from "kysely";
import { ValueNode } from "kysely";
import type pg from "pg";
import { poolOf } from "../../schema/open-database.ts";
import type { DB } from "./operation.ts";

/** A placeholder for a parameter: compiled to `$n` like any value, filled in at each run. */
class Param<T> implements Expression<T> {
  constructor(readonly name: string) {}
  get expressionType(): T | undefined {
    return undefined;
  }
  toOperationNode(): OperationNode {
    return ValueNode.create(this);
  }
}

export type Params = Record<string, unknown>;
export type ParamRef<P extends Params> = <K extends keyof P & string>(name: K) => Expression<P[K]>;

interface Compiled<O> {
  query: CompiledQuery<O>;
  /** For each `$n`, the parameter's name, or the constant the builder put there. */
  slots: ({ name: string } | { value: unknown })[];
}

/**
 * `prepared((db, $) => db.selectFrom("t").where("a", "=", $("a")))` returns `run(db, { a })`. The query's shape
 * must not depend on the values (no lists of varying length inside `in`: pass an array to `= any(...)`); values
 * the builder writes itself stay constants. Compiled once per database handle (a transaction is one too).
 *
 * With a `name`, the statement is also prepared on the server, once per connection (schema/open-database.ts):
 * Postgres then skips the parse and, once it settles on a generic plan, the planning of each run, which cost it
 * more than running list_projects' query (issue 19). The name must be unique; the query should name its
 * columns rather than select `*`, so that a column added by a later migration does not change the result type
 * of a statement a running process holds ("cached plan must not change result type").
 */
export function prepared<P extends Params, O>(
  build: (db: DB, $: ParamRef<P>) => Compilable<O>,
  options: { name?: string } = {},
): (db: DB, params: P) => Promise<O[]> {
  const { name } = options;
  if (name !== undefined && !/^[a-z0-9_]+$/.test(name)) throw new Error(`prepared statement name '${name}'`);
  const cache = new WeakMap<object, Compiled<O>>();
  const compile = (db: DB): Compiled<O> => {
    const compiled = build(db, (name) => new Param(name)).compile();
    const query = name ? { ...compiled, sql: `/* prepare:${name} */ ${compiled.sql}` } : compiled;
    return {
      query,
      slots: query.parameters.map((p) => (p instanceof Param ? { name: p.name } : { value: p })),
    };
  };
  return async (db, params) => {
    let compiled = cache.get(db);
    if (!compiled) cache.set(db, (compiled = compile(db)));
    const values = compiled.slots.map((s) => ("name" in s ? params[s.name] : s.value));
    // Outside a transaction, straight to the pool: Kysely's executor wraps a query in six async layers, ~4.5 KB
    // of garbage a call that REST list_projects paid on every request (issue 19). Same client, same rows.
    const pool = poolOf(db);
    if (pool) return (await onPool<O>(pool, compiled.query.sql, values)).rows;
    const query: CompiledQuery<O> = { ...compiled.query, parameters: values };
    return (await db.executeQuery<O>(query)).rows;
  };
}

/**
 * `query.execute(db)` for a `sql` template on the path of every agent step or metered call: outside a transaction
 * straight to the pool, as `prepared` runs (Kysely's executor costs more than compiling the template).
 */
export async function runSql<O>(db: DB, query: RawBuilder<O>): Promise<Pick<QueryResult<O>, "rows">> {
  const pool = poolOf(db);
  if (!pool) return query.execute(db);
  const { sql, parameters } = query.compile(db);
  return { rows: (await onPool<O>(pool, sql, parameters as unknown[])).rows };
}

/**
 * A statement on a client of the pool, given back as Kysely's driver gives it back: not `pool.query`, which ends
 * a client whose statement failed (a user's mistake would cost a reconnect and the connection's prepared
 * statements; PGlite's one connection would be cut under the next statement).
 */
async function onPool<O>(pool: pg.Pool, text: string, values: unknown[]) {
  const client = await pool.connect();
  try {
    return await client.query<O & pg.QueryResultRow>(text, values);
  } finally {
    client.release();
  }
}
