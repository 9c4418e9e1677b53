// Audit records: one per invocation. Changes are written before the response goes out; reads are
// batched (flushed every 250 ms or 200 records), which keeps a read's cost off the request path.
import { sql } from "kysely";
import type { Logger } from "pino";
import type { NewAuditEvent } from "../../schema/database.ts";
import type { DB } from "../kernel/operation.ts";

const SECRET_KEY = /pass(word)?|secret|token|code|key|otp|credential|private/i;
const MAX_STRING = 200;

/** Input as the audit keeps it: secret-looking fields redacted, long strings cut. */
export function redactInput(input: unknown, depth = 0): unknown {
  if (typeof input === "string")
    return input.length > MAX_STRING ? `${input.slice(0, MAX_STRING)}…(${input.length} chars)` : input;
  if (Array.isArray(input)) return depth > 3 ? "[…]" : input.slice(0, 20).map((v) => redactInput(v, depth + 1));
  if (input && typeof input === "object") {
    if (depth > 3) return "{…}";
    // A loop, not entries → map → fromEntries: this runs on every call's input. Defined, not assigned, so a
    // field named `__proto__` stays a field.
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(input)) {
      const v = SECRET_KEY.test(k) ? "[redacted]" : redactInput((input as Record<string, unknown>)[k], depth + 1);
      if (k === "__proto__")
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    return out;
  }
  return input;
}

const column = <T>(events: NewAuditEvent[], pick: (e: NewAuditEvent) => T) => events.map(pick);
const timeText = (at: Date | string) => (typeof at === "string" ? at : at.toISOString());

/**
 * One statement of constant text whatever the batch's size: a column per array, unnested. A multi-row VALUES
 * costs Kysely a node per value and Postgres a fresh parse of 11 parameters per row (a 200-row batch had 2,200).
 */
export function insertAuditEvents(db: DB, events: NewAuditEvent[]) {
  return sql`insert into audit_events
    (request_id, at, account_id, token_prefix, operation, surface, project, outcome, duration_ms, client_ip, input)
    select * from unnest(
      ${column(events, (e) => e.request_id)}::text[],
      ${column(events, (e) => timeText(e.at))}::timestamptz[],
      ${column(events, (e) => e.account_id ?? null)}::uuid[],
      ${column(events, (e) => e.token_prefix ?? null)}::text[],
      ${column(events, (e) => e.operation)}::text[],
      ${column(events, (e) => e.surface)}::text[],
      ${column(events, (e) => e.project ?? null)}::text[],
      ${column(events, (e) => e.outcome)}::text[],
      ${column(events, (e) => e.duration_ms)}::integer[],
      ${column(events, (e) => e.client_ip ?? null)}::text[],
      ${column(events, (e) => e.input ?? null)}::jsonb[])`.execute(db);
}

export class AuditWriter {
  private buffer: NewAuditEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
  ) {}

  async record(event: NewAuditEvent, durable: boolean): Promise<void> {
    if (durable) {
      await this.insert([event]);
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length >= 200) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), 250);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = this.flushing.then(() => (batch.length ? this.insert(batch) : undefined));
    return this.flushing;
  }

  private async insert(events: NewAuditEvent[]): Promise<void> {
    try {
      await insertAuditEvents(this.db, events);
    } catch (err) {
      this.log.error({ err, count: events.length }, "audit write failed");
    }
  }
}
