// `npm run bench events`: webhook fan-out with 100 subscribed endpoints, delivering to a local receiver.
//   publish    events published per second (publishEvent: the outbox row and its fan-out job)
//   delivered  deliveries per second end to end (fan-out, lease, sign, POST, log), and p99 time from an event's
//              timestamp to its arrival at the receiver, at that load
//   baseline   the same number of signed POSTs to the same receiver from a bare loop with the same concurrency:
//              no database, no queue. The ratio delivered/baseline is what the queue and the log cost.
// On the Postgres of DATABASE_URL (a fresh database, dropped afterwards), or embedded PGlite otherwise.
// Env: BENCH_EVENTS (50), BENCH_ENDPOINTS (100), BENCH_WORKERS (8).
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { attemptDelivery, signedHeaders } from "../core/events/deliver.ts";
import { publishEvent } from "../core/events/publish.ts";
import { EventWorkers } from "../core/events/worker.ts";
import { createAccount } from "../core/identity/accounts.ts";
import { createPlatform } from "../core/platform.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50);
const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 100);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 8);
const GOAL = 0.2;

const p99 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))] ?? 0;
};

export default async function bench() {
  const envUrl = process.env.DATABASE_URL;
  const pgdb = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-events-"));
  const arrivals: { at: number; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      arrivals.push({ at: Date.now(), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const platform = await createPlatform({
    databaseUrl: pgdb?.url ?? "memory://",
    config: {
      dataDir,
      egressAllowPrivate: true,
      events: { workers: 0, retryBaseMs: 1000, maxAttempts: 3, timeoutMs: 10_000 },
    },
    log: pino({ level: "silent" }),
  });
  try {
    const account = await createAccount(platform.db, {
      email: "bench@example.test",
      name: "b",
      password: "pw-bench-12345",
    });
    const secret = `whsec_${crypto.randomBytes(32).toString("base64")}`;
    for (let i = 0; i < ENDPOINTS; i++)
      await platform.db
        .insertInto("webhook_endpoints")
        .values({
          id: crypto.randomUUID(),
          account_id: account.id,
          url,
          event_types: ["balance.low"],
          secret_enc: platform.secrets.encrypt(secret),
        })
        .execute();
    // Notifications off for the kind, so the run measures webhooks alone.
    await platform.db
      .insertInto("notification_preferences")
      .values({ account_id: account.id, event_type: "balance.low", in_app: false, email: false, telegram: false })
      .execute();
    const total = EVENTS * ENDPOINTS;

    // Baseline: signed POSTs from a bare loop, WORKERS at a time.
    const body = JSON.stringify({ type: "balance.low", data: { pool: "ai" } });
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        while (next < total) {
          next++;
          const h = signedHeaders(secret, `msg_${next}`, new Date(), body);
          await attemptDelivery(url, h, body, { policy: { allowPrivate: true }, timeoutMs: 10_000 });
        }
      }),
    );
    const baselineRate = total / ((performance.now() - t0) / 1000);
    arrivals.length = 0;

    // Bosun: publish every event, then let the workers deliver.
    const workers = new EventWorkers(platform, { concurrency: WORKERS, pollMs: 10 }).start();
    const p0 = performance.now();
    for (let i = 0; i < EVENTS; i++)
      await publishEvent(platform.db, {
        type: "balance.low",
        account: account.id,
        data: { pool: "ai", spendable_micros: i, threshold_micros: 1 },
      });
    const publishRate = EVENTS / ((performance.now() - p0) / 1000);
    const deadline = Date.now() + 600_000;
    while (arrivals.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const deliveredRate = arrivals.length / ((performance.now() - p0) / 1000);
    await workers.stop();
    const latencies = arrivals.map((a) => a.at - Date.parse(JSON.parse(a.body).timestamp));
    const ratio = deliveredRate / baselineRate;
    process.stdout.write(
      [
        `publish: ${publishRate.toFixed(0)} events/s (publishEvent, ${ENDPOINTS} endpoints subscribed)`,
        `delivered: ${arrivals.length}/${total} in ${((performance.now() - p0) / 1000).toFixed(1)} s, ${deliveredRate.toFixed(0)} deliveries/s (${(deliveredRate / ENDPOINTS).toFixed(1)} events/s fully delivered), ${WORKERS} workers`,
        `event → delivery p99: ${p99(latencies)} ms (median ${[...latencies].sort((a, b) => a - b)[Math.floor(latencies.length / 2)]} ms)`,
        `baseline (bare signed POSTs, same concurrency): ${baselineRate.toFixed(0)}/s`,
        `ratio delivered/baseline: ${ratio.toFixed(2)} (goal ≥ ${GOAL})`,
        "",
      ].join("\n"),
    );
  } finally {
    await platform.close();
    server.close();
    await pgdb?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
