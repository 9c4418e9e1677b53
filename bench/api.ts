// `npm run bench api`: what Bosun's surfaces cost over a bare route doing the same query, as req/s ratios:
//   baseline  a bare Hono route (@hono/node-server) running list_projects' SELECT with `pg`, nothing else
//   REST      GET /v1/projects with a bearer token (auth, rate limit, scope, validation, audit, ...)
//   MCP       POST /mcp, a stateless JSON-RPC tools/call of list_projects per request
// then the size of MCP's tools/list for a full token, in cl100k_base tokens (the context a model pays for it).
// plus a static JSON route, the ceiling of the load generator itself (if the baseline came near it, the
// ratios would flatter Bosun). Real HTTP servers on 127.0.0.1 ephemeral ports (the baseline on its own, Bosun
// as `bosun serve` runs it: REST and MCP on one app), driven by a closed-loop load generator in a worker thread.
// On the Postgres of DATABASE_URL (a fresh database, dropped afterwards), or embedded PGlite otherwise.
// The measured time of each case is cut into rounds that take turns (in a rotating order), so a noisy
// neighbour on the machine slows every case alike instead of skewing one ratio.
// Env: BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1.5), BENCH_CONCURRENCY (16), BENCH_ROUNDS (5),
// BENCH_CASES (ceiling,baseline,rest,mcp; e.g. `mcp` to profile one: `BENCH_CASES=mcp node --cpu-prof bin/run-ts.js bench/index.ts api`),
// BENCH_CPU_PROFILE (a .cpuprofile path: the serving thread's profile over the measured rounds only, without
// start-up, seeding and the tool-list measurement that a whole-process --cpu-prof mixes in).
import crypto from "node:crypto";
import fs from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { Hono } from "hono";
import { CompiledQuery } from "kysely";
import pg from "pg";
import pino from "pino";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { createPlatform, type Platform } from "../core/platform.ts";
import { createApp } from "../http/app.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";
import { measureToolList, TOOL_LIST_GOALS } from "../testkit/tool-list-size.ts";
import { type CaseResult, Load, type LoadCase } from "./load.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const only = process.env.BENCH_CASES?.split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const PROJECTS = 10;
const GOALS = { rest: 0.7, mcp: 0.5 }; // issues 19 (REST) and 17 (MCP)

/**
 * list_projects' query for one account, first page, without its filters (Bosun's own statement carries them as
 * parameters that match everything when null: a little more work for the database than this one).
 */
const LIST_SQL =
  'select "projects".*, "project_members"."role" from "projects" ' +
  'inner join "project_members" on "project_members"."project_id" = "projects"."id" ' +
  'where "project_members"."account_id" = $1 order by "projects"."slug" limit $2';

function listen(
  fetch: (req: Request, env: unknown) => Response | Promise<Response>,
): Promise<{ server: ServerType; url: string; port: number }> {
  return new Promise((resolve) => {
    const server = serve({ fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
      resolve({ server, url: `http://127.0.0.1:${info.port}`, port: info.port }),
    );
  });
}

async function seed(platform: Platform) {
  const accounts = [];
  for (const who of ["bench", "other"]) {
    const email = `${who}-${crypto.randomBytes(3).toString("hex")}@example.test`;
    const row = await createAccount(platform.db, {
      email,
      name: who,
      password: crypto.randomBytes(12).toString("base64url"),
    });
    const minter = {
      ...operatorPrincipal(row.id, email),
      account: { id: row.id, email, isOperator: false },
      scopes: ["*"],
    };
    const { token } = await mintToken(platform.db, minter, {
      name: "bench",
      scopes: ["projects:read", "projects:write"],
    });
    const principal = await platform.auth.principal(token, "cli", null);
    for (let i = 0; i < PROJECTS; i++) {
      await invoke(
        platform,
        "create_project",
        { slug: `${who}-site-${i}`, name: `Site ${i}`, kind: "site" },
        principal,
      );
    }
    // Every scope the account can hold: the tool list a "full token" sees.
    const full = (await mintToken(platform.db, minter, { name: "bench-full", scopes: ["*"] })).token;
    accounts.push({ id: row.id, token, full });
  }
  return accounts[0]!;
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

export default async function main() {
  const pgUrl = process.env.DATABASE_URL;
  const onPostgres = isPostgresUrl(pgUrl);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-"));
  let benchDbUrl: string | undefined;
  let dropDatabase = async () => {};
  if (onPostgres) {
    const fresh = await freshPostgresDatabase(pgUrl!);
    benchDbUrl = fresh.url;
    dropDatabase = fresh.drop;
  }

  const closers: (() => Promise<unknown>)[] = [];
  try {
    // The limiter still runs on every call; its limit is lifted so the bench measures throughput, not 429s.
    const platform = await createPlatform({
      databaseUrl: benchDbUrl,
      config: { dataDir, databaseUrl: benchDbUrl, rateLimitPerMinute: 1_000_000_000 },
      log: pino({ level: "warn" }),
    });
    closers.push(() => platform.close());
    const account = await seed(platform);

    // Baseline: the same SELECT with pg. On Postgres its own pool (the size Bosun's pool has); on PGlite the
    // platform's own node-postgres pool (one connection to the same embedded database), via a precompiled query.
    let baselineDb: string;
    let select: (accountId: string) => Promise<unknown[]>;
    if (benchDbUrl) {
      const pool = new pg.Pool({ connectionString: benchDbUrl, max: 10 });
      pool.on("error", () => {}); // pool.end() resolves before its sockets close; dropping the database may cut them
      closers.unshift(() => pool.end());
      select = async (id) => (await pool.query(LIST_SQL, [id, 51])).rows;
      baselineDb = "pg.Pool (max 10) on the same Postgres database";
    } else {
      select = async (id) => (await platform.db.executeQuery(CompiledQuery.raw(LIST_SQL, [id, 51]))).rows;
      baselineDb = "the platform's node-postgres pool on the same PGlite (one connection)";
    }
    const bare = new Hono();
    bare.get("/projects", async (c) => c.json({ projects: await select(account.id), next_cursor: null }));
    bare.get("/static", (c) => c.json({ ok: true }));
    const baseline = await listen(bare.fetch);
    closers.unshift(() => new Promise((r) => baseline.server.close(r)));

    // Bosun as `bosun serve` runs it (loopback: MCP checks Host), on its own port.
    let bosunFetch: (req: Request, env: unknown) => Response | Promise<Response> = () =>
      new Response(null, { status: 503 });
    const bosun = await listen((req, env) => bosunFetch(req, env));
    closers.unshift(() => new Promise((r) => bosun.server.close(r)));
    const app = createApp(platform, { mcp: { allowedHosts: [`127.0.0.1:${bosun.port}`, `localhost:${bosun.port}`] } });
    bosunFetch = app.fetch;

    const auth = { Authorization: `Bearer ${account.token}` };
    const cases = {
      ceiling: { url: `${baseline.url}/static`, method: "GET", headers: {}, expect: ['"ok":true'] },
      baseline: { url: `${baseline.url}/projects`, method: "GET", headers: {}, expect: ['"slug":"bench-site-0"'] },
      rest: { url: `${bosun.url}/v1/projects`, method: "GET", headers: auth, expect: ['"slug":"bench-site-0"'] },
      mcp: {
        url: `${bosun.url}/mcp`,
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "list_projects", arguments: {} },
        }),
        expect: ['"structuredContent"', '"slug":"bench-site-0"'],
      },
    } satisfies Record<string, LoadCase>;

    const dbLabel = onPostgres
      ? `Postgres (${new URL(benchDbUrl!).host}, fresh database ${new URL(benchDbUrl!).pathname.slice(1)})`
      : `embedded PGlite (in this process, data dir ${dataDir})`;
    process.stdout.write(
      `Bosun bench: list_projects for an account with ${PROJECTS} projects\n` +
        `  database: ${dbLabel}\n` +
        `  baseline: bare Hono route + ${baselineDb}\n` +
        `  load:     ${concurrency} keep-alive clients in a worker thread, closed loop; ${warmupSeconds} s warm-up, then ${seconds} s per case in ${rounds} interleaved rounds\n` +
        `  machine:  ${os.cpus().length} CPU(s), Node ${process.version}\n\n`,
    );

    const selected = Object.entries(cases).filter(([name]) => !only || only.includes(name));
    const loads = new Map(selected.map(([name, c]) => [name, new Load(c, concurrency)]));
    closers.unshift(async () => {
      for (const l of loads.values()) await l.stop();
    });
    const names = [...loads.keys()];
    process.stderr.write(`warming up ${names.join(", ")}…\n`);
    for (const name of names) await loads.get(name)!.run(warmupSeconds * 1000, false);
    const profilePath = process.env.BENCH_CPU_PROFILE;
    const profiler = profilePath ? new Session() : undefined;
    if (profiler) {
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.start");
    }
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`round ${round + 1}/${rounds}…\n`);
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) await loads.get(name)!.run((seconds * 1000) / rounds, true);
    }
    if (profiler && profilePath) {
      const { profile } = await profiler.post("Profiler.stop");
      fs.writeFileSync(profilePath, JSON.stringify(profile));
      profiler.disconnect();
      process.stderr.write(`CPU profile of the measured rounds: ${profilePath}\n`);
    }
    const results: Record<string, CaseResult> = Object.fromEntries(names.map((n) => [n, loads.get(n)!.result()]));

    const rows: string[][] = [["case", "req/s", "p50 ms", "p99 ms", "vs baseline", "goal", ""]];
    const base = results.baseline?.rps ?? NaN;
    const row = (label: string, name: string, goal?: number) => {
      const r = results[name];
      if (!r) return;
      const ratio = r.rps / base;
      rows.push([
        label,
        fmt(r.rps),
        fmt(r.p50, 2),
        fmt(r.p99, 2),
        name === "ceiling" || Number.isNaN(ratio) ? "" : fmt(ratio, 2),
        goal === undefined ? "" : `≥ ${goal}`,
        goal === undefined || Number.isNaN(ratio) ? "" : ratio >= goal ? "ok" : "MISSED",
      ]);
    };
    row("client ceiling (static JSON)", "ceiling");
    row("baseline (Hono + pg SELECT)", "baseline");
    row("REST GET /v1/projects", "rest", GOALS.rest);
    row("MCP tools/call list_projects", "mcp", GOALS.mcp);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) {
      process.stdout.write(
        `${r
          .map((cell, i) => (i === 0 || i === r.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
          .join("  ")
          .trimEnd()}\n`,
      );
    }

    // What a tools/list costs a model's context, in cl100k_base tokens (the size test bounds the same figures).
    const sizes: string[][] = [["MCP tools/list, full token", "tools", "bytes", "tokens", "goal", ""]];
    for (const [label, query, goal] of [
      ["default", "", TOOL_LIST_GOALS.full],
      ["read_only=true", "read_only=true", TOOL_LIST_GOALS.readOnly],
      ["output_schema=true", "output_schema=true", undefined],
      ["mode=compact", "mode=compact", undefined],
    ] as const) {
      const size = await measureToolList(fetch, bosun.url, account.full, query);
      sizes.push([
        label,
        fmt(size.tools),
        fmt(size.bytes),
        fmt(size.tokens),
        goal === undefined ? "" : `≤ ${fmt(goal)}`,
        goal === undefined ? "" : size.tokens <= goal ? "ok" : "MISSED",
      ]);
    }
    process.stdout.write("\n");
    const sizeWidths = sizes[0]!.map((_, i) => Math.max(...sizes.map((r) => r[i]!.length)));
    for (const r of sizes) {
      process.stdout.write(
        `${r
          .map((cell, i) =>
            i === 0 || i === r.length - 1 ? cell.padEnd(sizeWidths[i]!) : cell.padStart(sizeWidths[i]!),
          )
          .join("  ")
          .trimEnd()}\n`,
      );
    }

    const failed = Object.entries(results).filter(([, r]) => r.failures > 0);
    for (const [name, r] of failed)
      process.stdout.write(`\n${name}: ${r.failures} of ${r.requests} answers were wrong, e.g. ${r.failureSample}\n`);
    if (failed.length) process.exitCode = 1;
  } finally {
    for (const close of closers) await close().catch((err) => process.stderr.write(`cleanup failed: ${err.stack}\n`));
    await dropDatabase().catch((err) => process.stderr.write(`could not drop the bench database: ${err.message}\n`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
