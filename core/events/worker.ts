// Event workers: lease jobs from the `events` queue (core/jobs) in any process. Four kinds of job:
// - fanout:   an event → one delivery per matching webhook endpoint, and the notifications its account wants;
// - deliver:  one signed POST; a failure is retried with exponential backoff and jitter (the same delivery, the
//             same `webhook-id`), and after the last attempt the endpoint is disabled and its owner notified;
// - email, telegram: a notification's copy for a person.
// Every step's state is in Postgres before its job ends, so a restart mid-retry loses nothing.
import { sql } from "kysely";
import type { Logger } from "pino";
import { egressCa } from "../egress-http.ts";
import { finish, heartbeat, type Job, lease, workerId } from "../jobs/queue.ts";
import { present } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { eventKind } from "./catalog.ts";
import { attemptDelivery, backoffMs, signedHeaders } from "./deliver.ts";
import { channelsFor, notificationText } from "./preferences.ts";
import { EVENTS_QUEUE, publishEvent } from "./publish.ts";

export interface EventWorkerOptions {
  concurrency: number;
  pollMs?: number;
  leaseMs?: number;
}

export class EventWorkers {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  readonly id = workerId("events");
  private readonly log: Logger;

  constructor(
    private readonly platform: Platform,
    private readonly options: EventWorkerOptions,
  ) {
    this.log = platform.log.child({ component: "events" });
  }

  private sweeper: NodeJS.Timeout | null = null;

  start(): this {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop(`${this.id}#${i}`));
    // Every delivery leaves a finished job row; the delivery log keeps what matters, so the rows go after a day.
    this.sweeper = setInterval(() => {
      sweepFinishedJobs(this.platform.db).catch((err) => this.log.warn({ err }, "event job sweep failed"));
    }, 3600_000);
    this.sweeper.unref();
    return this;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.all(this.loops);
  }

  private async loop(owner: string): Promise<void> {
    const leaseMs = this.options.leaseMs ?? Math.max(30_000, this.platform.config.events.timeoutMs * 3);
    const pollMs = this.options.pollMs ?? 200;
    while (!this.stopping) {
      let job: Job | null = null;
      try {
        job = await lease(this.platform.db, EVENTS_QUEUE, owner, leaseMs);
      } catch (err) {
        this.log.warn({ err }, "leasing an event job failed");
      }
      if (!job) {
        await new Promise((r) => setTimeout(r, pollMs));
        continue;
      }
      const beat = setInterval(() => {
        heartbeat(this.platform.db, job, leaseMs).catch(() => {});
      }, leaseMs / 3);
      try {
        const outcome = await runJob(this.platform, job);
        await finish(this.platform.db, job, outcome);
      } catch (err) {
        this.log.warn({ err, key: job.key }, "event job failed");
        // Unexpected (a database hiccup): try again shortly rather than lose the work.
        await finish(this.platform.db, job, { state: "retry", afterMs: 5_000, error: String(err) }).catch(() => {});
      } finally {
        clearInterval(beat);
      }
    }
  }
}

/** Deletes the `events` queue's jobs that finished more than `olderThanMs` ago; returns how many. */
export async function sweepFinishedJobs(db: DB, olderThanMs = 86400_000): Promise<number> {
  const res = await db
    .deleteFrom("jobs")
    .where("queue", "=", EVENTS_QUEUE)
    .where("state", "in", ["done", "failed"])
    .where("updated_at", "<", new Date(Date.now() - olderThanMs))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Starts this process's event workers, or says why not. */
export function startEventWorkers(platform: Platform): { workers: EventWorkers | null; note: string } {
  const n = platform.config.events.workers;
  if (n === 0) return { workers: null, note: "events: no workers in this process (BOSUN_EVENT_WORKERS=0)" };
  return { workers: new EventWorkers(platform, { concurrency: n }).start(), note: `events: ${n} workers` };
}

type Outcome = Parameters<typeof finish>[2];
const MAX_NOTIFY_ATTEMPTS = 10;

export async function runJob(platform: Platform, job: Job): Promise<Outcome> {
  const p = job.payload as Record<string, string | undefined>;
  const key = (name: string) => present(p[name], `event job ${p.kind}'s ${name}`);
  switch (p.kind) {
    case "fanout":
      await fanOut(platform.db, key("event_id"));
      return { state: "done" };
    case "deliver":
      return deliver(platform, key("delivery_id"));
    case "email":
    case "telegram": {
      // A person's copy is worth a few retries (a mail server down for a while), not a day of them.
      if (job.attempts > MAX_NOTIFY_ATTEMPTS) return { state: "failed", error: "gave up after repeated failures" };
      return p.kind === "email"
        ? sendEmail(platform, key("account_id"), key("event_id"))
        : sendTelegram(platform, key("chat_id"), key("event_id"));
    }
    default:
      return { state: "failed", error: `unknown event job '${p.kind}'` };
  }
}

/**
 * The endpoints an event goes to: the account's own endpoints (no project), and the endpoints of its project
 * whose owner is still a member of it — a person removed from a project stops receiving its events.
 */
async function fanOut(db: DB, eventId: string): Promise<void> {
  const event = await db.selectFrom("events").selectAll().where("id", "=", eventId).executeTakeFirst();
  if (!event) return;
  await db.transaction().execute(async (trx) => {
    // A test event goes only to the endpoint it was sent to (send_test_event creates that delivery itself).
    if (event.type !== "webhook.test") {
      const endpoints = await trx
        .selectFrom("webhook_endpoints as w")
        .select("w.id")
        .where("w.enabled", "=", true)
        .where((eb) =>
          eb.or([
            event.account_id
              ? eb.and([eb("w.project_id", "is", null), eb("w.account_id", "=", event.account_id)])
              : eb.val(false),
            event.project_id
              ? eb.and([
                  eb("w.project_id", "=", event.project_id),
                  eb.exists(
                    eb
                      .selectFrom("project_members as m")
                      .select("m.account_id")
                      .whereRef("m.project_id", "=", "w.project_id")
                      .whereRef("m.account_id", "=", "w.account_id"),
                  ),
                ])
              : eb.val(false),
          ]),
        )
        .where((eb) =>
          eb.or([
            eb(sql`cardinality(w.event_types)`, "=", 0),
            eb(sql.val(event.type), "=", eb.fn.any("w.event_types")),
          ]),
        )
        .execute();
      // One statement for the deliveries and one for their jobs, however many endpoints subscribe.
      if (endpoints.length) {
        const made = await trx
          .insertInto("webhook_deliveries")
          .values(
            endpoints.map((e) => ({
              id: crypto.randomUUID(),
              endpoint_id: e.id,
              event_id: event.id,
              next_attempt_at: new Date(),
            })),
          )
          .onConflict((oc) => oc.columns(["endpoint_id", "event_id"]).doNothing())
          .returning("id")
          .execute();
        if (made.length)
          await trx
            .insertInto("jobs")
            .values(
              made.map((d) => ({
                queue: EVENTS_QUEUE,
                key: `deliver:${d.id}`,
                payload: JSON.stringify({ kind: "deliver", delivery_id: d.id }),
              })),
            )
            .onConflict((oc) => oc.columns(["queue", "key"]).where("state", "in", ["ready", "leased"]).doNothing())
            .execute();
      }
    }
    if (event.account_id && event.type !== "webhook.test") {
      const kind = eventKind(event.type);
      const channels = await channelsFor(trx, event.account_id, kind);
      const text = notificationText(kind, event.data);
      if (channels.in_app) {
        await trx
          .insertInto("notifications")
          .values({
            id: crypto.randomUUID(),
            account_id: event.account_id,
            event_id: event.id,
            type: event.type,
            project_id: event.project_id,
            title: text.title,
            body: text.body,
          })
          .onConflict((oc) => oc.columns(["account_id", "event_id"]).doNothing())
          .execute();
      }
      if (channels.email)
        await enqueueJob(trx, `email:${event.id}`, { kind: "email", account_id: event.account_id, event_id: event.id });
      if (channels.telegram) {
        let chats = trx
          .selectFrom("telegram_links")
          .select("chat_id")
          .distinct()
          .where("account_id", "=", event.account_id);
        if (event.project_id) chats = chats.where("project_id", "=", event.project_id);
        // The chat whose conversation made a proposal already shows it, with Apply / Discard (telegram/relay.ts).
        const conv = (event.data as { conversation_id?: unknown } | null)?.conversation_id;
        if (event.type === "proposal.created" && typeof conv === "string")
          chats = chats.where((eb) => eb.or([eb("conversation_id", "is", null), eb("conversation_id", "!=", conv)]));
        for (const c of await chats.execute())
          await enqueueJob(trx, `telegram:${event.id}:${c.chat_id}`, {
            kind: "telegram",
            chat_id: String(c.chat_id),
            event_id: event.id,
          });
      }
    }
  });
}

async function enqueueJob(db: DB, key: string, payload: Record<string, string>) {
  await sql`INSERT INTO jobs (queue, key, payload) VALUES (${EVENTS_QUEUE}, ${key}, ${JSON.stringify(payload)}::jsonb)
    ON CONFLICT (queue, key) WHERE state in ('ready', 'leased') DO NOTHING`.execute(db);
}

/** One delivery of `eventId` to `endpointId` (none if it exists already), and its job. */
export async function createDelivery(db: DB, endpointId: string, eventId: string): Promise<string> {
  const row = await db
    .insertInto("webhook_deliveries")
    .values({ id: crypto.randomUUID(), endpoint_id: endpointId, event_id: eventId, next_attempt_at: new Date() })
    .onConflict((oc) => oc.columns(["endpoint_id", "event_id"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (!row) {
    const existing = await db
      .selectFrom("webhook_deliveries")
      .select("id")
      .where("endpoint_id", "=", endpointId)
      .where("event_id", "=", eventId)
      .executeTakeFirstOrThrow();
    return existing.id;
  }
  await enqueueJob(db, `deliver:${row.id}`, { kind: "deliver", delivery_id: row.id });
  return row.id;
}

/** The body every delivery of an event carries: the same bytes on every attempt. */
export function deliveryBody(event: { id: string; type: string; version: number; created_at: Date; data: unknown }) {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    version: event.version,
    timestamp: event.created_at.toISOString(),
    data: event.data,
  });
}

async function deliver(platform: Platform, deliveryId: string): Promise<Outcome> {
  const { db, config, secrets } = platform;
  const row = await db
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_endpoints as w", "w.id", "d.endpoint_id")
    .innerJoin("events as e", "e.id", "d.event_id")
    .select([
      "d.id",
      "d.attempts",
      "d.status",
      "w.id as endpoint_id",
      "w.url",
      "w.enabled",
      "w.secret_enc",
      "w.account_id",
      "w.project_id",
      "e.id as event_id",
      "e.type",
      "e.version",
      "e.created_at",
      "e.data",
    ])
    .where("d.id", "=", deliveryId)
    .executeTakeFirst();
  if (!row || row.status !== "pending") return { state: "done" };
  if (!row.enabled) {
    await db
      .updateTable("webhook_deliveries")
      .set({ status: "failed", error: "the endpoint is disabled", next_attempt_at: null, updated_at: new Date() })
      .where("id", "=", row.id)
      .execute();
    return { state: "done" };
  }
  const body = deliveryBody({
    id: row.event_id,
    type: row.type,
    version: row.version,
    created_at: row.created_at,
    data: row.data,
  });
  const msgId = `msg_${row.id}`;
  const headers = signedHeaders(secrets.decrypt(row.secret_enc), msgId, new Date(), body);
  const result = await attemptDelivery(row.url, headers, body, {
    policy: { allowPrivate: config.egressAllowPrivate },
    timeoutMs: config.events.timeoutMs,
    ca: egressCa(config.egressCaFile),
  });
  const attempt = row.attempts + 1;
  const last = !result.ok && attempt >= config.events.maxAttempts;
  const delay = result.ok || last ? null : backoffMs(attempt, config.events.retryBaseMs);
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("webhook_attempts")
      .values({
        delivery_id: row.id,
        attempt,
        response_status: result.status,
        latency_ms: result.latencyMs,
        error: result.error,
      })
      .execute();
    await trx
      .updateTable("webhook_deliveries")
      .set({
        attempts: attempt,
        status: result.ok ? "succeeded" : last ? "failed" : "pending",
        response_status: result.status,
        latency_ms: result.latencyMs,
        response_excerpt: result.excerpt,
        error: result.error,
        next_attempt_at: delay === null ? null : new Date(Date.now() + delay),
        updated_at: new Date(),
      })
      .where("id", "=", row.id)
      .execute();
    if (last) await disableEndpoint(trx, row, `${attempt} attempts failed; the last: ${result.error}`);
  });
  if (result.ok || last || delay === null) return { state: "done" };
  return { state: "retry", afterMs: delay, error: result.error ?? undefined };
}

/** Turns a persistently failing endpoint off and tells its owner (in the same transaction). */
async function disableEndpoint(
  trx: DB,
  row: { endpoint_id: string; url: string; account_id: string; project_id: string | null },
  reason: string,
) {
  const changed = await trx
    .updateTable("webhook_endpoints")
    .set({ enabled: false, disabled_reason: reason, updated_at: new Date() })
    .where("id", "=", row.endpoint_id)
    .where("enabled", "=", true)
    .executeTakeFirst();
  if (Number(changed.numUpdatedRows) === 0) return;
  const project = row.project_id
    ? await trx.selectFrom("projects").select(["id", "slug"]).where("id", "=", row.project_id).executeTakeFirst()
    : null;
  await publishEvent(trx, {
    type: "webhook_endpoint.disabled",
    account: row.account_id,
    project: project ?? null,
    data: { endpoint_id: row.endpoint_id, url: row.url, reason },
  });
}

async function sendEmail(platform: Platform, accountId: string, eventId: string): Promise<Outcome> {
  if (!platform.mail.configured) return { state: "done" }; // nowhere to send: the in-app copy stands
  const ev = await platform.db
    .selectFrom("events")
    .innerJoin("accounts", "accounts.id", "events.account_id")
    .select(["events.type", "events.data", "accounts.email"])
    .where("events.id", "=", eventId)
    .where("accounts.id", "=", accountId)
    .executeTakeFirst();
  if (!ev) return { state: "done" };
  const text = notificationText(eventKind(ev.type), ev.data);
  try {
    await platform.mail.send({ to: ev.email, subject: text.title, text: text.body + footer(platform) });
    return { state: "done" };
  } catch (err) {
    return retryOrFail(err);
  }
}

async function sendTelegram(platform: Platform, chatId: string, eventId: string): Promise<Outcome> {
  const { botToken, apiRoot } = platform.config.telegram;
  if (!botToken) return { state: "done" };
  const ev = await platform.db
    .selectFrom("events")
    .select(["type", "data"])
    .where("id", "=", eventId)
    .executeTakeFirst();
  if (!ev) return { state: "done" };
  const text = notificationText(eventKind(ev.type), ev.data);
  // Plain text, no parse_mode: the data may hold attacker-written words, which must not become markup.
  try {
    const res = await fetch(`${apiRoot}/bot${botToken}/sendMessage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ chat_id: chatId, text: `${text.title}\n\n${text.body}`.slice(0, 4000) }),
      signal: AbortSignal.timeout(platform.config.events.timeoutMs),
    });
    if (res.ok || (res.status >= 400 && res.status < 500 && res.status !== 429)) return { state: "done" };
    return { state: "retry", afterMs: 30_000, error: `telegram answered ${res.status}` };
  } catch (err) {
    return retryOrFail(err);
  }
}

const retryOrFail = (err: unknown): Outcome => ({
  state: "retry",
  afterMs: 60_000,
  error: String((err as Error).message),
});

const footer = (platform: Platform) =>
  `\n\n-- \nChoose which notifications you get: set_notification_preference${platform.config.publicUrl ? ` (${platform.config.publicUrl}/docs)` : ""}`;
