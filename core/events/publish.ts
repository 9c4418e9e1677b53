// Publishing an event: one row in `events` and one fan-out job, written with the caller's db handle — inside
// its transaction when it has one (outbox style), so the event exists exactly when the change that caused it
// does, and a crash between the two cannot lose it. The fan-out (core/events/worker.ts) runs later, anywhere.
import crypto from "node:crypto";
import { enqueue } from "../jobs/queue.ts";
import type { DB } from "../kernel/operation.ts";
import { CATALOG_VERSION, eventKind } from "./catalog.ts";

export const EVENTS_QUEUE = "events";

export interface NewEvent {
  type: string;
  /** The account the event concerns: whose account endpoints receive it and who is notified. */
  account: string | null;
  /** The project it happened in; project endpoints of that project receive it. */
  project?: { id: string; slug: string } | null;
  /** The event's payload without `project` (added here), as the catalog's schema for `type` says. */
  data: Record<string, unknown>;
}

/** Records an event and schedules its deliveries; returns the event's id. Refuses data the catalog does not describe. */
export async function publishEvent(db: DB, event: NewEvent): Promise<string> {
  const data = eventKind(event.type).data.parse({ ...event.data, project: event.project?.slug ?? null });
  const id = crypto.randomUUID();
  await db
    .insertInto("events")
    .values({
      id,
      type: event.type,
      version: CATALOG_VERSION,
      account_id: event.account,
      project_id: event.project?.id ?? null,
      data: JSON.stringify(data),
    })
    .execute();
  await enqueue(db, EVENTS_QUEUE, `fanout:${id}`, { kind: "fanout", event_id: id });
  return id;
}

/** Runs `fn` in a transaction: the caller's, when `db` already is one, or a new one. */
export function inTransaction<T>(db: DB, fn: (trx: DB) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
