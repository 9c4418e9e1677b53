// openDatabase: real Postgres for postgres:// URLs, embedded PGlite otherwise. Both go through node-postgres
// (PGlite via its own node-postgres adapter) under Kysely's PostgresDialect, so every query takes one code path.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./database.ts";

export type DatabaseKind = "postgres" | "pglite";

export interface OpenedDatabase {
  db: Kysely<Database>;
  kind: DatabaseKind;
  /** The pool behind `db`; Postgres LISTEN/NOTIFY uses it. */
  pool: pg.Pool;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** postgres://… for Postgres; `memory://` for a throwaway embedded database; unset for PGlite in dataDir. */
  url?: string;
  dataDir?: string;
  /** Postgres pool size. */
  maxConnections?: number;
}

export class DatabaseLockedError extends Error {
  constructor(
    readonly lockFile: string,
    readonly holder: string,
  ) {
    super(
      `the embedded database in ${path.dirname(lockFile)} is in use by ${holder}; stop it, or set DATABASE_URL to share a Postgres database`,
    );
  }
}

/**
 * SQL that starts with `/* prepare:<name> *\/` (after any whitespace: a template may open on a new line) is
 * prepared once per connection under that name and then only bound and executed: for the few statements on the
 * path of every metered call, where the server's parse and plan of a large CTE costs more than running it. The
 * text under a name must never change (node-postgres refuses a second text for a name); anything else is sent
 * unnamed as before.
 */
const PREPARE = /^\s*\/\* prepare:([a-z0-9_]+) \*\//;

class PreparingClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    // A connection cut while checked out between two statements (a Postgres restart, pg_terminate_backend) emits
    // 'error' with no listener of the pool's attached, which would crash the process. Swallowed here, the client's
    // next query fails, the caller gets that error, and the pool discards the client on release (not queryable).
    this.on("error", () => {});
  }

  override query(...args: unknown[]): never {
    const [config, values, callback] = args;
    const name = typeof config === "string" ? PREPARE.exec(config)?.[1] : undefined;
    const query = super.query as (...a: unknown[]) => never;
    return name ? query.call(this, { name, text: config, values }, callback) : query.apply(this, args);
  }
}

/** The pool under each root handle openDatabase made (a transaction is not one: it holds its own connection). */
const pools = new WeakMap<object, pg.Pool>();

/** The pool a root database handle runs on, for a hot query to skip Kysely's executor; undefined for a transaction. */
export const poolOf = (db: object): pg.Pool | undefined => pools.get(db);

export function isPostgresUrl(url: string | undefined): url is string {
  return !!url && /^postgres(ql)?:\/\//.test(url);
}

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenedDatabase> {
  if (isPostgresUrl(options.url)) {
    // JIT off: every query here is a short OLTP read or write, and a plan over many partitions (the log tables,
    // migration 0022) can cost past jit_above_cost, compiling for 150-300 ms to save microseconds (issue 19).
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      options: "-c jit=off",
      Client: PreparingClient,
    });
    // An idle connection can be cut (server restart, pg_terminate_backend); pg then emits 'error' on the pool,
    // which unhandled would crash the process. The pool drops that client and the next query reconnects.
    pool.on("error", () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    pools.set(db, pool);
    return { db, kind: "postgres", pool, close: () => db.destroy() };
  }

  const { PGlite } = await import("@electric-sql/pglite");
  const { createPgConfig } = await import("@electric-sql/pglite/node-postgres");
  let release = () => {};
  let pglite: InstanceType<typeof PGlite>;
  if (options.url === "memory://") {
    pglite = new PGlite();
  } else {
    const dataDir = path.resolve(options.dataDir ?? "./.bosun");
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    release = acquireLock(path.join(dataDir, "db.lock"));
    try {
      pglite = new PGlite(path.join(dataDir, "pgdata"));
      await pglite.waitReady;
    } catch (err) {
      release();
      throw err;
    }
  }
  // PGlite is a single connection: a pool of one. Inside a transaction use the transaction, never `db`.
  const pool = new pg.Pool({
    ...(createPgConfig(pglite) as unknown as pg.PoolConfig),
    max: 1,
    Client: PreparingClient,
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return {
    db,
    kind: "pglite",
    pool,
    close: async () => {
      await db.destroy();
      await pglite.close();
      release();
    },
  };
}

/** One process per data dir: a lock file naming its holder; a lock left by a dead process is taken over. */
function acquireLock(lockFile: string): () => void {
  const me = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, JSON.stringify(me), { flag: "wx", mode: 0o600 });
      const release = () => {
        try {
          const held = JSON.parse(fs.readFileSync(lockFile, "utf8"));
          if (held.pid === me.pid) fs.unlinkSync(lockFile);
        } catch {
          /* already gone */
        }
      };
      process.once("exit", release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let holder: { pid?: number; host?: string; since?: string } = {};
      try {
        holder = JSON.parse(fs.readFileSync(lockFile, "utf8"));
      } catch {
        /* unreadable: treat as stale */
      }
      if (holder.pid && holder.host === me.host && holder.pid !== me.pid && isAlive(holder.pid)) {
        throw new DatabaseLockedError(lockFile, `process ${holder.pid} (since ${holder.since})`);
      }
      if (holder.pid && holder.host !== me.host) {
        throw new DatabaseLockedError(lockFile, `process ${holder.pid} on host ${holder.host}`);
      }
      if (holder.pid === me.pid) throw new DatabaseLockedError(lockFile, "this process (opened twice)");
      fs.rmSync(lockFile, { force: true });
    }
  }
  throw new Error(`could not take the lock ${lockFile}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
