// `npm run bench workers`: the three numbers issue 14 promises, as ratios or times in one run.
//   (a) requests/s to a hello-world worker through Bosun's routing (the sites listener → proxy → workerd) against
//       the same worker on workerd directly (goal ≥ 0.7);
//   (b) deploy-to-live p50 for a 100 KB bundle: deploy_worker until the new version answers (goal ≤ 1 s);
//   (c) serving one worker with 50 deployed against with 1 (goal ≥ 0.8).
// Env: BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1.5), BENCH_CONCURRENCY (16), BENCH_DEPLOYS (10).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import pino from "pino";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { createPlatform } from "../core/platform.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { createSitesApp } from "../sites-server/app.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";
import { Load } from "./load.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const deploys = Number(process.env.BENCH_DEPLOYS ?? 10);
const GOALS = { routing: 0.7, deployMs: 1000, fifty: 0.8 };

const hello = (word: string, pad = 0) => ({
  modules: [
    {
      name: "index.js",
      content: `const pad = ${JSON.stringify("x".repeat(pad))};\nexport default { fetch() { return new Response("hello ${word} " + (pad.length > 0 ? "" : "")); } };`,
    },
  ],
  main_module: "index.js",
});

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export default async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-workers-"));
  const pgUrl = process.env.DATABASE_URL;
  let dbUrl: string | undefined;
  let drop: (() => Promise<void>) | undefined;
  if (isPostgresUrl(pgUrl)) {
    const fresh = await freshPostgresDatabase(pgUrl);
    dbUrl = fresh.url;
    drop = fresh.drop;
  }
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const platform = await createPlatform({
      databaseUrl: dbUrl ?? "memory://",
      config: { dataDir, rateLimitPerMinute: 1_000_000_000 },
      log: pino({ level: "warn" }),
    });
    closers.push(() => platform.close());
    const email = `bench-${crypto.randomBytes(3).toString("hex")}@example.test`;
    const row = await createAccount(platform.db, {
      email,
      name: "bench",
      password: crypto.randomBytes(12).toString("base64url"),
      isOperator: true,
    });
    const minter = { ...operatorPrincipal(row.id, email), scopes: ["*"] };
    const { token } = await mintToken(platform.db, minter, { name: "bench", scopes: ["*"] });
    const principal = await platform.auth.principal(token, "cli", null);
    await invoke(platform, "create_project", { slug: "bench", name: "bench", kind: "site" }, principal);
    process.stdout.write(
      `Bosun workers bench\n  database: ${dbUrl ? "Postgres (fresh database)" : "embedded PGlite"}\n  machine:  ${os.cpus().length} CPU(s), Node ${process.version}\n\n`,
    );

    const deploy = (worker: string, bundle: ReturnType<typeof hello>) =>
      invoke(platform, "deploy_worker", { project: "bench", worker, ...bundle }, principal);
    await deploy("hello", hello("one"));
    const sites = await new Promise<{ server: ServerType; url: string }>((resolve) => {
      const server = serve({ fetch: createSitesApp(platform).fetch, port: 0, hostname: "127.0.0.1" }, (info) =>
        resolve({ server, url: `http://127.0.0.1:${info.port}` }),
      );
    });
    closers.unshift(() => new Promise((r) => sites.server.close(r)));

    const measure = async (loads: Record<string, Load>) => {
      for (const l of Object.values(loads)) await l.run(warmupSeconds * 1000, false);
      const names = Object.keys(loads);
      for (let r = 0; r < 4; r++)
        for (const n of r % 2 ? [...names].reverse() : names) await loads[n]?.run((seconds * 1000) / 4, true);
      const out = Object.fromEntries(Object.entries(loads).map(([n, l]) => [n, l.result()]));
      await Promise.all(Object.values(loads).map((l) => l.stop()));
      return out;
    };
    const viaBosun = () =>
      new Load(
        { url: `${sites.url}/`, method: "GET", headers: { host: "hello.bench.localhost" }, expect: ["hello"] },
        concurrency,
      );

    // (a) routing overhead
    process.stderr.write("routing…\n");
    const direct = await platform.workers.direct("bench", "hello");
    if (!direct) throw new Error("the worker is not deployed");
    const a = await measure({
      direct: new Load({ url: direct.url, method: "GET", headers: direct.headers, expect: ["hello"] }, concurrency),
      bosun: viaBosun(),
    });
    const routing = (a.bosun?.rps ?? 0) / (a.direct?.rps ?? 1);

    // (b) deploy-to-live of a 100 KB bundle
    process.stderr.write("deploys…\n");
    const times: number[] = [];
    for (let i = 0; i < deploys; i++) {
      const word = `v${i}-${crypto.randomBytes(3).toString("hex")}`;
      const started = performance.now();
      await deploy("big", hello(word, 100_000));
      for (let k = 0; k < 1000; k++) {
        const res = await platform.workers.serve("bench", "big", new Request("http://big.bench.localhost/"));
        if ((await res.text()).includes(word)) break;
      }
      times.push(performance.now() - started);
    }
    const deployP50 = p50(times);

    // (c) one worker among 50
    process.stderr.write("50 workers…\n");
    const one = await measure({ one: viaBosun() });
    for (let i = 0; i < 48; i++) await deploy(`wk${i}`, hello(`wk${i}`));
    const fifty = await measure({ fifty: viaBosun() });
    const fiftyRatio = (fifty.fifty?.rps ?? 0) / (one.one?.rps ?? 1);

    const line = (label: string, value: string, goal: string, ok: boolean) =>
      process.stdout.write(`  ${label.padEnd(44)} ${value.padStart(12)}   goal ${goal} ${ok ? "✓" : "✗"}\n`);
    process.stdout.write(
      `  workerd direct: ${Math.round(a.direct?.rps ?? 0)} req/s; via Bosun: ${Math.round(a.bosun?.rps ?? 0)} req/s (p99 ${a.bosun?.p99.toFixed(1)} ms)\n`,
    );
    line("routing: via Bosun / workerd direct", routing.toFixed(2), `≥ ${GOALS.routing}`, routing >= GOALS.routing);
    line(
      "deploy-to-live p50, 100 KB bundle (ms)",
      deployP50.toFixed(0),
      `≤ ${GOALS.deployMs}`,
      deployP50 <= GOALS.deployMs,
    );
    line("serving with 50 workers / with 1", fiftyRatio.toFixed(2), `≥ ${GOALS.fifty}`, fiftyRatio >= GOALS.fifty);
  } finally {
    for (const c of closers) await c().catch(() => {});
    await drop?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
