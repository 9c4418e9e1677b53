// `npm run bench billing`: metered-work throughput — a hold then its settle (two transactions, a ledger row,
// alert checks) per unit of work — as a ratio to plain single-row UPDATEs of the balances table, with the same
// number of concurrent workers on the same database in the same run. Two shapes: 16 workers on 16 accounts
// (no contention), and 16 workers on one shared account (every transaction queues on one row).
// Env: BENCH_SECONDS (5 per case, cut into BENCH_ROUNDS interleaved rounds), BENCH_WORKERS (16).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pino from "pino";
import { placeHold, settleHold } from "../core/billing/holds.ts";
import { credit } from "../core/billing/ledger.ts";
import { createAccount } from "../core/identity/accounts.ts";
import { createPlatform } from "../core/platform.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const workers = Number(process.env.BENCH_WORKERS ?? 16);
// Issue 19's goals, as ratios to the plain UPDATE on the same accounts.
const GOALS: Record<string, number> = { "hold+settle, 16 accounts": 0.5, "hold+settle, 1 shared account": 0.3 };

type Work = (accountId: string) => Promise<unknown>;

export default async function main() {
  const envUrl = process.env.DATABASE_URL;
  const pgdb = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-billing-"));
  const platform = await createPlatform({
    databaseUrl: pgdb?.url ?? "memory://",
    config: { dataDir },
    log: pino({ level: "warn" }),
  });
  try {
    const { db } = platform;
    const accounts: string[] = [];
    for (let i = 0; i < workers; i++) {
      const row = await createAccount(db, {
        email: `bench-${i}@example.test`,
        name: `bench ${i}`,
        password: crypto.randomBytes(12).toString("base64url"),
      });
      await credit(db, { accountId: row.id, pool: "ai_credits", amount: 1e12, reason: "top_up" });
      accounts.push(row.id);
    }

    const update: Work = (id) =>
      sql`UPDATE balances SET balance = balance - 1 WHERE account_id = ${id} AND pool = 'ai_credits'`.execute(db);
    const holdAndSettle: Work = async (id) => {
      const hold = await placeHold(db, { accountId: id, pool: "ai_credits", amount: 100 });
      await settleHold(db, hold, { cost: 37, metadata: { model: "bench" } });
    };
    const cases: Record<string, { work: Work; account: (worker: number) => string; done: number; ms: number }> = {
      "UPDATE, 16 accounts": { work: update, account: (w) => accounts[w]!, done: 0, ms: 0 },
      "hold+settle, 16 accounts": { work: holdAndSettle, account: (w) => accounts[w]!, done: 0, ms: 0 },
      "UPDATE, 1 shared account": { work: update, account: () => accounts[0]!, done: 0, ms: 0 },
      "hold+settle, 1 shared account": { work: holdAndSettle, account: () => accounts[0]!, done: 0, ms: 0 },
    };

    const run = async (c: (typeof cases)[string], ms: number) => {
      const start = performance.now();
      const until = start + ms;
      let done = 0;
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          while (performance.now() < until) {
            await c.work(c.account(w));
            done++;
          }
        }),
      );
      return { done, ms: performance.now() - start };
    };

    process.stdout.write(
      `Bosun bench: holds+settles per second, ${workers} concurrent workers\n` +
        `  database: ${pgdb ? `Postgres (fresh database on ${new URL(pgdb.url).host})` : "embedded PGlite (one connection: workers queue)"}\n` +
        `  ${seconds} s per case in ${rounds} interleaved rounds, after a short warm-up\n\n`,
    );
    for (const c of Object.values(cases)) await run(c, 300);
    const names = Object.keys(cases);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < names.length; i++) {
        const c = cases[names[(i + r) % names.length]!]!;
        const { done, ms } = await run(c, (seconds * 1000) / rounds);
        c.done += done;
        c.ms += ms;
      }
    }
    const rate = (name: string) => (cases[name]!.done / cases[name]!.ms) * 1000;
    const rows = [
      ["case", "per second", "ratio to UPDATE", "goal", ""],
      ...names.map((name) => {
        const baseline = name.replace("hold+settle", "UPDATE");
        const ratio = rate(name) / rate(baseline);
        const goal = GOALS[name];
        return [
          name,
          Math.round(rate(name)).toLocaleString("en-US"),
          name === baseline ? "" : ratio.toFixed(2),
          goal === undefined ? "" : `≥ ${goal}`,
          goal === undefined ? "" : ratio >= goal ? "ok" : "MISSED",
        ];
      }),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
    for (const row of rows)
      process.stdout.write(
        `${row
          .map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
          .join("  ")
          .trimEnd()}\n`,
      );

    // The bench is also a check: every hold it placed was settled.
    const active = await db
      .selectFrom("holds")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("state", "=", "active")
      .executeTakeFirstOrThrow();
    if (Number(active.n) !== 0) throw new Error(`${active.n} holds were left active`);
  } finally {
    await platform.close();
    await pgdb?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
