// `npm run bench sites`: the two numbers issue 3 promises, as ratios in one run.
//   (a) publish_site on a 5,000-file site with one changed file, against the same on a 50-file site
//       (goal ≤ 3: releases are a temporal table and publishing copies no file bodies);
//   (b) requests per second for a published 10 KB page on the sites listener, against a bare node:http
//       server sending the same bytes from memory (goal ≥ 0.8).
//   (c) `bosun sites push` of a 1,000-file folder with one file changed, against the full upload of it
//       (goal ≤ 0.05 of the bytes sent and ≤ 0.2 of the time);
//   (d) deploy_site_archive of a 5,000-file tar.gz and zip over REST (MB/s of unpacked bytes; no goal).
// Real servers on 127.0.0.1 ephemeral ports, the same closed-loop load worker as bench/index.ts. On the
// Postgres of DATABASE_URL (a fresh database, dropped afterwards), or embedded PGlite otherwise.
// Env: BENCH_SECONDS (5), BENCH_WARMUP_SECONDS (1.5), BENCH_CONCURRENCY (16), BENCH_ROUNDS (5),
// BENCH_PUBLISHES (15 per site size).
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { sql } from "kysely";
import pino from "pino";
import { pushFolder } from "../cli/sites.ts";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { invoke } from "../core/kernel/invoker.ts";
import type { Principal } from "../core/kernel/operation.ts";
import { createPlatform, type Platform } from "../core/platform.ts";
import { sha256Hex } from "../core/sites/blobs.ts";
import { createApp } from "../http/app.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { createSitesApp } from "../sites-server/app.ts";
import { makeTarGz, makeZip } from "../testkit/archives.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";
import { Load } from "./load.ts";

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 1.5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const publishes = Number(process.env.BENCH_PUBLISHES ?? 15);
const GOALS = { publishRatio: 3, serveRatio: 0.8, pushBytes: 0.05, pushTime: 0.2 }; // serving: issue 19; push: issue 16

function listen(
  handler: http.RequestListener | ((req: Request) => Response | Promise<Response>),
  node: boolean,
): Promise<{ server: ServerType | http.Server; url: string }> {
  return new Promise((resolve) => {
    if (node) {
      const server = http.createServer(handler as http.RequestListener);
      server.listen(0, "127.0.0.1", () =>
        resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }),
      );
    } else {
      const server = serve({ fetch: handler as (req: Request) => Response, port: 0, hostname: "127.0.0.1" }, (info) =>
        resolve({ server, url: `http://127.0.0.1:${info.port}` }),
      );
    }
  });
}

/** A site of `count` files, bulk-loaded into its draft (setup, not measured), then published once. */
async function seedSite(platform: Platform, principal: Principal, slug: string, count: number) {
  await invoke(platform, "create_project", { slug, name: slug, kind: "site" }, principal);
  const project = await platform.db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", slug)
    .executeTakeFirstOrThrow();
  await platform.db.insertInto("sites").values({ project_id: project.id }).execute();
  for (let i = 0; i < count; i += 500) {
    const files = Array.from({ length: Math.min(500, count - i) }, (_, k) => {
      const data = Buffer.from(`<!doctype html><title>Page ${i + k}</title><p>${slug} page ${i + k}</p>`);
      return { path: `pages/p${String(i + k).padStart(5, "0")}.html`, data, sha256: sha256Hex(data) };
    });
    await platform.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("site_blobs")
        .values(files.map((f) => ({ sha256: f.sha256, data: f.data, bytes: f.data.length })))
        .onConflict((oc) => oc.doNothing())
        .execute();
      await trx
        .insertInto("site_draft_files")
        .values(files.map((f) => ({ project_id: project.id, path: f.path, sha256: f.sha256, bytes: f.data.length })))
        .execute();
      await trx
        .insertInto("site_dirty_paths")
        .values(files.map((f) => ({ project_id: project.id, path: f.path })))
        .execute();
    });
  }
  await invoke(platform, "publish_site", { project: slug }, principal);
}

/** Median publish time with one changed file (the write is not timed). */
async function timePublishes(platform: Platform, principal: Principal, slug: string, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    await invoke(
      platform,
      "write_file",
      { project: slug, path: "pages/p00001.html", content: `<title>edit ${i}</title><p>${crypto.randomUUID()}</p>` },
      principal,
    );
    const start = performance.now();
    await invoke(platform, "publish_site", { project: slug }, principal);
    times.push(performance.now() - start);
  }
  return times;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

export default async function main() {
  const pgUrl = process.env.DATABASE_URL;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-sites-"));
  let dbUrl: string | undefined;
  let drop = async () => {};
  if (isPostgresUrl(pgUrl)) {
    const fresh = await freshPostgresDatabase(pgUrl!);
    dbUrl = fresh.url;
    drop = fresh.drop;
  }
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const platform = await createPlatform({
      databaseUrl: dbUrl,
      config: { dataDir, databaseUrl: dbUrl, rateLimitPerMinute: 1_000_000_000, sitesPathMode: true }, // load generator fetches `/s/{slug}/`
      log: pino({ level: "warn" }),
    });
    closers.push(() => platform.close());
    const email = `bench-${crypto.randomBytes(3).toString("hex")}@example.test`;
    const row = await createAccount(platform.db, {
      email,
      name: "bench",
      password: crypto.randomBytes(12).toString("base64url"),
    });
    const minter = {
      ...operatorPrincipal(row.id, email),
      account: { id: row.id, email, isOperator: false },
      scopes: ["*"],
    };
    const { token } = await mintToken(platform.db, minter, { name: "bench", scopes: ["*"] });
    const principal = await platform.auth.principal(token, "cli", null);

    process.stdout.write(
      `Bosun sites bench\n  database: ${dbUrl ? "Postgres (fresh database)" : "embedded PGlite (in this process)"}\n` +
        `  machine:  ${os.cpus().length} CPU(s), Node ${process.version}\n\n`,
    );

    // (a) Publishing.
    process.stderr.write("seeding a 50-file and a 5,000-file site…\n");
    await seedSite(platform, principal, "bench-small", 50);
    await seedSite(platform, principal, "bench-large", 5000);
    // As autovacuum would after a bulk load: planner statistics for the freshly filled tables.
    await sql`analyze`.execute(platform.db);
    // Interleaved batches, so a noisy neighbour slows both sizes alike.
    const small: number[] = [];
    const large: number[] = [];
    await timePublishes(platform, principal, "bench-small", 3); // warm-up
    await timePublishes(platform, principal, "bench-large", 3);
    for (let i = 0; i < 5; i++) {
      small.push(...(await timePublishes(platform, principal, "bench-small", Math.ceil(publishes / 5))));
      large.push(...(await timePublishes(platform, principal, "bench-large", Math.ceil(publishes / 5))));
    }
    const publishRatio = median(large) / median(small);

    // (b) Serving a published 10 KB page.
    const page = Buffer.from(
      `<!doctype html><title>10 KB</title>\n${"<p>Bosun serves this page from its sites listener.</p>\n".repeat(190)}`.slice(
        0,
        10 * 1024,
      ),
    );
    await invoke(platform, "create_project", { slug: "bench-serve", name: "serve", kind: "site" }, principal);
    await invoke(
      platform,
      "write_file",
      { project: "bench-serve", path: "index.html", content: page.toString("utf8") },
      principal,
    );
    await invoke(platform, "publish_site", { project: "bench-serve" }, principal);
    const bare = await listen((_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": page.length });
      res.end(page);
    }, true);
    closers.unshift(() => new Promise((r) => bare.server.close(r)));
    const sites = await listen(createSitesApp(platform).fetch, false);
    closers.unshift(() => new Promise((r) => sites.server.close(r)));
    const pageLoad = (url: string) => new Load({ url, method: "GET", headers: {}, expect: ["10 KB"] }, concurrency);
    const loads = { baseline: pageLoad(`${bare.url}/`), sites: pageLoad(`${sites.url}/s/bench-serve/`) };
    closers.unshift(async () => Promise.all(Object.values(loads).map((l) => l.stop())));
    process.stderr.write("serving…\n");
    for (const l of Object.values(loads)) await l.run(warmupSeconds * 1000, false);
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [loads.sites, loads.baseline] : [loads.baseline, loads.sites];
      for (const l of order) await l.run((seconds * 1000) / rounds, true);
    }
    const serveRatio = loads.sites.result().rps / loads.baseline.result().rps;

    // (c) Folder push: a full upload into an empty draft, against a push with one file changed.
    process.stderr.write("folder sync…\n");
    const api = await listen(createApp(platform).fetch, false);
    closers.unshift(() => new Promise((r) => api.server.close(r)));
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-push-"));
    closers.push(async () => fs.rmSync(folder, { recursive: true, force: true }));
    for (let i = 0; i < 1000; i++) {
      const file = path.join(folder, `section-${i % 10}`, `page-${i}.html`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `<h1>Page ${i}</h1>\n${crypto.randomBytes(1536).toString("base64")}\n`);
    }
    const quiet = { out: () => {}, progress: { write: () => true, isTTY: false }, base: api.url, token };
    const fullRuns: { ms: number; bytes: number }[] = [];
    const oneRuns: { ms: number; bytes: number }[] = [];
    for (let r = 0; r < 3; r++) {
      const slug = `bench-push-${r}`;
      await invoke(platform, "create_project", { slug, name: slug, kind: "site" }, principal);
      let start = performance.now();
      const full = await pushFolder(folder, { ...quiet, project: slug });
      fullRuns.push({ ms: performance.now() - start, bytes: full.bytes });
      for (let k = 0; k < 3; k++) {
        fs.writeFileSync(
          path.join(folder, "section-5", "page-505.html"),
          `<h1>edit ${r}.${k}</h1>${crypto.randomUUID()}`,
        );
        start = performance.now();
        const one = await pushFolder(folder, { ...quiet, project: slug });
        oneRuns.push({ ms: performance.now() - start, bytes: one.bytes });
        if (one.modified.length !== 1) throw new Error(`expected one modified file, got ${one.modified.length}`);
      }
    }
    const fullMs = median(fullRuns.map((x) => x.ms));
    const oneMs = median(oneRuns.map((x) => x.ms));
    const fullBytes = median(fullRuns.map((x) => x.bytes));
    const oneBytes = median(oneRuns.map((x) => x.bytes));

    // (d) Archive deploys of 5,000 files, through REST with the archive as the raw body.
    process.stderr.write("archive deploys…\n");
    const entries = Array.from({ length: 5000 }, (_, i) => ({
      path: `docs/${Math.floor(i / 100)}/p${i}.html`,
      data: `<h1>Doc ${i}</h1>\n${crypto.randomBytes(1536).toString("base64")}\n`,
    }));
    const unpackedMb = entries.reduce((n, e) => n + Buffer.byteLength(e.data), 0) / 1024 / 1024;
    const archives = { "tar.gz": makeTarGz(entries), zip: await makeZip(entries) };
    const archiveRates: Record<string, { mbps: number; ms: number; packedMb: number }> = {};
    for (const [format, body] of Object.entries(archives)) {
      const times: number[] = [];
      for (let r = 0; r < 3; r++) {
        const slug = `bench-arch-${format.replace(".", "")}-${r}`;
        await invoke(platform, "create_project", { slug, name: slug, kind: "site" }, principal);
        const start = performance.now();
        const res = await fetch(`${api.url}/v1/projects/${slug}/draft/archive?mode=replace`, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${token}`,
            "Content-Type": format === "zip" ? "application/zip" : "application/gzip",
          },
          body: new Uint8Array(body),
        });
        const out = (await res.json()) as { files?: number };
        if (res.status !== 200 || out.files !== 5000)
          throw new Error(`archive deploy: ${res.status} ${JSON.stringify(out)}`);
        times.push(performance.now() - start);
      }
      const ms = median(times);
      archiveRates[format] = { ms, mbps: unpackedMb / (ms / 1000), packedMb: body.length / 1024 / 1024 };
    }

    const pushBytesRatio = oneBytes / fullBytes;
    const pushTimeRatio = oneMs / fullMs;
    const rows = [
      ["case", "value", "ratio", "goal", ""],
      ["publish, 50 files, 1 changed (median ms)", fmt(median(small), 2), "", "", ""],
      [
        "publish, 5,000 files, 1 changed (median ms)",
        fmt(median(large), 2),
        fmt(publishRatio, 2),
        `≤ ${GOALS.publishRatio}`,
        publishRatio <= GOALS.publishRatio ? "ok" : "MISSED",
      ],
      ["bare node:http, 10 KB from memory (req/s)", fmt(loads.baseline.result().rps), "", "", ""],
      [
        "sites listener, published 10 KB page (req/s)",
        fmt(loads.sites.result().rps),
        fmt(serveRatio, 2),
        `≥ ${GOALS.serveRatio}`,
        serveRatio >= GOALS.serveRatio ? "ok" : "MISSED",
      ],
      ["push, 1,000-file folder, full upload (median ms)", fmt(fullMs), "", "", ""],
      ["push, 1,000-file folder, full upload (bytes sent)", fmt(fullBytes), "", "", ""],
      [
        "push, 1 of 1,000 changed (bytes sent)",
        fmt(oneBytes),
        fmt(pushBytesRatio, 4),
        `≤ ${GOALS.pushBytes}`,
        pushBytesRatio <= GOALS.pushBytes ? "ok" : "MISSED",
      ],
      [
        "push, 1 of 1,000 changed (median ms)",
        fmt(oneMs),
        fmt(pushTimeRatio, 2),
        `≤ ${GOALS.pushTime}`,
        pushTimeRatio <= GOALS.pushTime ? "ok" : "MISSED",
      ],
      ...Object.entries(archiveRates).map(([format, r]) => [
        `archive deploy, 5,000 files, ${fmt(unpackedMb, 1)} MB unpacked (${format}, ${fmt(r.packedMb, 1)} MB; median ms)`,
        fmt(r.ms),
        "",
        "",
        `${fmt(r.mbps, 1)} MB/s`,
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        `${r
          .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
          .join("  ")
          .trimEnd()}\n`,
      );
    for (const [name, l] of Object.entries(loads)) {
      const r = l.result();
      if (r.failures) {
        process.stdout.write(`\n${name}: ${r.failures} wrong answers, e.g. ${r.failureSample}\n`);
        process.exitCode = 1;
      }
    }
  } finally {
    for (const close of closers) await close().catch((err) => process.stderr.write(`cleanup failed: ${err.stack}\n`));
    await drop().catch((err) => process.stderr.write(`could not drop the bench database: ${err.message}\n`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
