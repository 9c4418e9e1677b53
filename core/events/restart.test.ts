// A restart of Bosun in the middle of a retry loses nothing: the delivery and its retry job are rows, so the
// next process (here: a new platform on the same database) picks them up — even one a crashed worker held.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { Webhook } from "standardwebhooks";
import { afterAll, expect, it } from "vitest";
import { isPostgresUrl } from "../../schema/open-database.ts";
import { freshPostgresDatabase } from "../../testkit/harness.ts";
import { receiver, until } from "../../testkit/webhook-receiver.ts";
import { createAccount } from "../identity/accounts.ts";
import { lease } from "../jobs/queue.ts";
import { createPlatform, type Platform } from "../platform.ts";
import { EVENTS_QUEUE, publishEvent } from "./publish.ts";
import { EventWorkers, sweepFinishedJobs } from "./worker.ts";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-events-restart-"));
let drop: (() => Promise<void>) | undefined;
afterAll(async () => {
  await drop?.();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

it("a delivery waiting for its retry survives a restart, and a crashed worker's lease, with one webhook-id", async () => {
  const envUrl = process.env.DATABASE_URL;
  const pgdb = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  drop = pgdb?.drop;
  const open = () =>
    createPlatform({
      databaseUrl: pgdb?.url,
      config: {
        dataDir,
        databaseUrl: pgdb?.url,
        egressAllowPrivate: true,
        events: { workers: 0, retryBaseMs: 400, maxAttempts: 5, timeoutMs: 2000 },
      },
      log: pino({ level: "silent" }),
    });
  const rx = await receiver((n) => (n <= 1 ? 500 : 200));
  const secret = `whsec_${crypto.randomBytes(32).toString("base64")}`;

  let platform: Platform = await open();
  const account = await createAccount(platform.db, {
    email: "restart@example.test",
    name: "r",
    password: "pw-restart-1234",
  });
  await platform.db
    .insertInto("webhook_endpoints")
    .values({
      id: crypto.randomUUID(),
      account_id: account.id,
      url: rx.url,
      event_types: ["balance.low"],
      secret_enc: platform.secrets.encrypt(secret),
    })
    .execute();
  let workers = new EventWorkers(platform, { concurrency: 1, pollMs: 20 }).start();
  await publishEvent(platform.db, {
    type: "balance.low",
    account: account.id,
    data: { pool: "ai", spendable_micros: 1, threshold_micros: 2 },
  });
  await until(() => rx.got.length === 1);
  // The first attempt failed; its retry is due in ~400 ms. Stop this "process" now.
  await workers.stop();
  await platform.close();

  platform = await open();
  // A worker of the new process leases the retry and dies holding it (no heartbeat, no finish).
  await until(async () => (await lease(platform.db, EVENTS_QUEUE, "crashed-worker", 500)) ?? false, 5_000);
  workers = new EventWorkers(platform, { concurrency: 1, pollMs: 20 }).start();
  try {
    await until(() => rx.got.length === 2, 10_000);
    const ids = new Set(rx.got.map((g) => g.headers["webhook-id"]));
    expect(ids.size).toBe(1);
    const body = new Webhook(secret).verify(rx.got[1]!.body, rx.got[1]!.headers as Record<string, string>) as {
      type: string;
    };
    expect(body.type).toBe("balance.low");
    const rows = await until(async () => {
      const r = await platform.db.selectFrom("webhook_deliveries").selectAll().execute();
      return r[0]?.status === "succeeded" && r;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.attempts).toBe(2);
    // Finished jobs are swept; the delivery log stays.
    expect(await sweepFinishedJobs(platform.db, 0)).toBeGreaterThan(0);
    const left = await platform.db.selectFrom("jobs").select("state").where("queue", "=", EVENTS_QUEUE).execute();
    expect(left.filter((j) => j.state === "done")).toEqual([]);
    expect(await platform.db.selectFrom("webhook_deliveries").select("id").execute()).toHaveLength(1);
  } finally {
    await workers.stop();
    await platform.close();
    await rx.close();
  }
});
