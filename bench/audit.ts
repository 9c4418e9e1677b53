// `npm run bench audit`: list_audit_events on a big audit table (monthly partitions over the last year) as a
// ratio to the same read on a tiny one, in the same run: the newest page of an account, a page filtered by
// operation, and a page deep by cursor. Then retention: dropping a month's partition vs DELETEing the same
// month's rows in batches of 5,000 (how retention worked before migration 0022).
// Rows are written by generate_series in SQL (1% are the reading account's, the rest spread over 1,000
// others). Env: BENCH_AUDIT_ROWS (5,000,000 on Postgres, 500,000 on PGlite; issue 19 asks about 100M, run
// once by hand on Postgres), BENCH_AUDIT_READS (200 per case, in 5 interleaved rounds).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pino from "pino";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { invoke } from "../core/kernel/invoker.ts";
import type { Principal } from "../core/kernel/operation.ts";
import { createPlatform, type Platform } from "../core/platform.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { listPartitions, monthStart, partitionName } from "../schema/partitions.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";

const onPostgres = isPostgresUrl(process.env.DATABASE_URL);
const ROWS = Number(process.env.BENCH_AUDIT_ROWS ?? (onPostgres ? 5_000_000 : 500_000));
const TINY = 10_000;
const READS = Number(process.env.BENCH_AUDIT_READS ?? 200);
const ROUNDS = 5;
const CHUNK = 1_000_000;
const MONTHS = 12;
// Issue 19: reads at 100M rows stay fast. Goal: at least half the speed of the same read on a tiny table.
const READ_GOAL = 0.5;
// Dropping a month must cost far less than DELETEing its rows (at the default size; the gap grows with it).
const RETENTION_GOAL = 10;

interface Side {
  platform: Platform;
  principal: Principal;
  cursor: string;
  close(): Promise<void>;
}

/** A platform on a fresh database with `rows` audit records spread over the last MONTHS months. */
async function side(rows: number, label: string): Promise<Side> {
  const pgdb = onPostgres ? await freshPostgresDatabase(process.env.DATABASE_URL as string) : null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-audit-"));
  const platform = await createPlatform({
    databaseUrl: pgdb?.url ?? "memory://",
    config: { dataDir, rateLimitPerMinute: 1e9 },
    log: pino({ level: "warn" }),
  });
  const db = platform.db;
  const now = new Date();
  const email = `bench-${crypto.randomBytes(4).toString("hex")}@example.test`;
  const me = await createAccount(db, { email, name: "bench", password: crypto.randomBytes(12).toString("base64url") });
  const start = monthStart(now, -MONTHS).getTime();
  const step = (now.getTime() - start) / rows; // ms between records: oldest a year ago, newest now
  const t0 = performance.now();
  let written = 0;
  // Month by month, oldest first (so ids rise with time, as they do live): each month's table is filled
  // unindexed and unlogged, then attached, which builds its indexes in one sort. Bulk loading as a restore
  // would, not as the live path writes: that would take the 2-core machine hours at 100M rows.
  for (let i = MONTHS; i >= 0; i--) {
    const month = monthStart(now, -i);
    const name = sql.id(partitionName("audit_events", month));
    const lo = Math.max(1, Math.ceil((month.getTime() - start) / step));
    const hi = Math.min(rows, Math.ceil((monthStart(now, -i + 1).getTime() - start) / step) - 1);
    await sql`drop table if exists ${name}`.execute(db);
    await sql`create unlogged table ${name} (like audit_events including defaults)`.execute(db);
    for (let from = lo; from <= hi; from += CHUNK) {
      const to = Math.min(hi, from + CHUNK - 1);
      // Realistic columns: an op name among 50, a project on 1 in 7, an error on 1 in 97, a small input.
      await sql`insert into ${name}
          (request_id, at, account_id, token_prefix, operation, surface, project, outcome, duration_ms, client_ip,
           input)
        select 'req-' || g, to_timestamp((${start}::float8 + g * ${step}::float8) / 1000.0),
          case when g % 100 = 0 then ${me.id}::uuid else others.ids[g % 1000 + 1] end,
          'bsn_' || (g % 1000), 'op_' || ((g / 100) % 50), 'rest',
          case when g % 7 = 0 then 'proj-' || (g % 200) end,
          case when g % 97 = 0 then 'not_found' else 'ok' end, g % 40, '127.0.0.1', '{"limit": 50}'::jsonb
        from (select array_agg(gen_random_uuid()) as ids from generate_series(1, 1000)) others,
          generate_series(${from}::bigint, ${to}::bigint) g`.execute(db);
      written += to - from + 1;
      if (rows > CHUNK)
        process.stdout.write(
          `  ${label}: ${written.toLocaleString("en")} rows (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`,
        );
    }
    await sql`alter table audit_events attach partition ${name}
      for values from (${sql.lit(month.toISOString())}) to (${sql.lit(monthStart(now, -i + 1).toISOString())})`.execute(
      db,
    );
  }
  if (rows > CHUNK)
    process.stdout.write(`  ${label}: loaded and indexed in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  await sql`analyze audit_events`.execute(db);
  // The reader: a token of the account with audit:read, as a script would hold.
  const minter = { ...operatorPrincipal(me.id, email), account: { id: me.id, email, isOperator: false } };
  const { token } = await mintToken(db, minter, { name: "bench", scopes: ["audit:read"] });
  const principal = await platform.auth.principal(token, "cli", null);
  // A cursor halfway through the table: the page after it is read from the middle of the account's records.
  const mid = await sql<{ id: string }>`select ((min(id) + max(id)) / 2)::text as id from audit_events`.execute(db);
  return {
    platform,
    principal,
    cursor: mid.rows[0]!.id,
    close: async () => {
      await platform.close();
      await pgdb?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const CASES = {
  "newest page": () => ({ limit: 50 }),
  "filtered page (operation)": () => ({ limit: 50, operation: "op_7" }),
  "deep page (cursor)": (s: Side) => ({ limit: 50, cursor: s.cursor }),
};
type Case = keyof typeof CASES;

async function read(s: Side, c: Case): Promise<number> {
  const t = performance.now();
  const out = (await invoke(s.platform, "list_audit_events", CASES[c](s), s.principal)) as {
    events: unknown[];
  };
  if (!out.events.length) throw new Error(`${c}: no events`);
  return performance.now() - t;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export default async function main() {
  process.stdout.write(
    `Bosun bench: list_audit_events at ${ROWS.toLocaleString("en")} rows vs ${TINY.toLocaleString("en")}\n` +
      `  database: ${onPostgres ? "Postgres (fresh databases)" : "embedded PGlite"}; ${READS} reads per case in ${ROUNDS} interleaved rounds\n\n`,
  );
  const tiny = await side(TINY, "tiny");
  const big = await side(ROWS, "big");
  try {
    const times: Record<string, number[]> = {};
    for (const s of [tiny, big]) for (const c of Object.keys(CASES) as Case[]) await read(s, c); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of Object.keys(CASES) as Case[]) {
        for (const [name, s] of [
          ["tiny", tiny],
          ["big", big],
        ] as const) {
          const key = `${c}/${name}`;
          times[key] ??= [];
          for (let i = 0; i < READS / ROUNDS; i++) times[key].push(await read(s, c));
        }
      }
    }
    process.stdout.write(`  ${"case".padEnd(28)} ${"tiny ms".padStart(9)} ${"big ms".padStart(9)}  ratio  goal\n`);
    for (const c of Object.keys(CASES) as Case[]) {
      const t = median(times[`${c}/tiny`]!);
      const b = median(times[`${c}/big`]!);
      const ratio = t / b;
      process.stdout.write(
        `  ${c.padEnd(28)} ${t.toFixed(2).padStart(9)} ${b.toFixed(2).padStart(9)}  ${ratio.toFixed(2).padStart(5)}  ≥ ${READ_GOAL} ${ratio >= READ_GOAL ? "ok" : "MISSED"}\n`,
      );
    }

    // Retention: DELETE the oldest full month's rows in batches (the old way) vs DROP the next month.
    const db = big.platform.db;
    const now = new Date();
    const [deleted, dropped] = [monthStart(now, -MONTHS + 1), monthStart(now, -MONTHS + 2)].map((m) =>
      partitionName("audit_events", m),
    );
    const count = async (name: string) =>
      Number((await sql<{ n: string }>`select count(*) as n from ${sql.id(name)}`.execute(db)).rows[0]!.n);
    // Logged, as the live table is: a DELETE writes WAL for every row (the bulk load above wrote none).
    await sql`alter table ${sql.id(deleted!)} set logged`.execute(db);
    const deletedRows = await count(deleted!);
    const droppedRows = await count(dropped!);
    // By id ranges through the primary key: each batch its own statement, as the old sweeper ran them (a
    // `LIMIT 5000` batch would rescan the dead rows of the batches before it, quadratic on a big month).
    const range = (
      await sql<{ lo: string; hi: string }>`select min(id)::text as lo, max(id)::text as hi
      from ${sql.id(deleted!)}`.execute(db)
    ).rows[0]!;
    let t = performance.now();
    for (let from = BigInt(range.lo); from <= BigInt(range.hi); from += 5000n) {
      await sql`delete from ${sql.id(deleted!)} where id >= ${String(from)} and id < ${String(from + 5000n)}`.execute(
        db,
      );
    }
    const deleteMs = performance.now() - t;
    t = performance.now();
    await sql`drop table ${sql.id(dropped!)}`.execute(db);
    const dropMs = performance.now() - t;
    if ((await listPartitions(db, "audit_events")).includes(dropped!)) throw new Error("partition still there");
    const ratio = deleteMs / dropMs;
    process.stdout.write(
      `\n  retention of one month: DELETE in batches of 5,000: ${deletedRows.toLocaleString("en")} rows in ${(deleteMs / 1000).toFixed(2)} s; ` +
        `DROP partition: ${droppedRows.toLocaleString("en")} rows in ${dropMs.toFixed(1)} ms\n` +
        `  DELETE / DROP: ${ratio.toFixed(0)}  ≥ ${RETENTION_GOAL} ${ratio >= RETENTION_GOAL ? "ok" : "MISSED"}\n`,
    );
  } finally {
    await tiny.close();
    await big.close();
  }
}
