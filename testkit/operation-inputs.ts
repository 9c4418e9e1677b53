// Inputs and REST calls for any operation, built from its input schema, so tests that sweep every operation
// (the gate matrix, the fuzzer) cover a new operation with no extra code. Also: a snapshot of every table,
// to prove a refused call wrote nothing.
import crypto from "node:crypto";
import { sql } from "kysely";
import { toolJsonSchema } from "../core/kernel/json-schema.ts";
import type { DB, Operation } from "../core/kernel/operation.ts";
import type { TestPlatform, TestResponse } from "./harness.ts";

export interface JsonSchema {
  type?: string;
  format?: string;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
}

export const inputSchema = (op: Operation): JsonSchema => toolJsonSchema(op.input, "input") as JsonSchema;

export const pathParams = (op: Operation): string[] => [...op.http.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);

/** GET and DELETE take their non-path fields from the query string; the others from a JSON body. */
export const readsBody = (op: Operation) => op.http.method !== "get" && op.http.method !== "delete";

/** The non-null branch of a nullable/union schema, or the schema itself. */
export function concrete(s: JsonSchema): JsonSchema {
  const branches = s.anyOf ?? s.oneOf;
  return branches?.find((b) => b.type !== "null") ?? s;
}

const STRING_CANDIDATES = ["other-proj", "sample value", "123456", "1", "x"];

/** A plausible value for one field. */
export function sampleValue(schema: JsonSchema): unknown {
  const s = concrete(schema);
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  switch (s.type) {
    case "string": {
      if (s.format === "email") return "someone@example.test";
      if (s.format === "uuid") return crypto.randomUUID();
      if (s.format === "date-time") return new Date().toISOString();
      if (s.format === "uri" || s.format === "url") return "https://example.test/";
      if (s.format === "hostname") return "www.example.test";
      const fits = (v: string) =>
        v.length >= (s.minLength ?? 0) &&
        v.length <= (s.maxLength ?? Infinity) &&
        (!s.pattern || new RegExp(s.pattern).test(v));
      const found = STRING_CANDIDATES.find(fits);
      if (found) return found;
      return "x".repeat(Math.max(s.minLength ?? 1, 1));
    }
    case "integer":
    case "number":
      return s.minimum !== undefined && s.minimum > 1 ? s.minimum : Math.min(1, s.maximum ?? 1);
    case "boolean":
      return false;
    case "array":
      return s.minItems ? Array.from({ length: s.minItems }, () => sampleValue(s.items ?? {})) : [];
    case "object":
      return sampleObject(s, {});
    default:
      return "x";
  }
}

function sampleObject(s: JsonSchema, hints: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(s.properties ?? {})) {
    if (name in hints) out[name] = hints[name];
    else if (s.required?.includes(name)) out[name] = sampleValue(prop);
  }
  return out;
}

/**
 * A valid input for `op`: every required field filled (hints win), plus any hinted optional field the
 * operation has. Throws when the result does not parse, so a new operation the generator cannot serve fails
 * loudly instead of being skipped.
 */
export function sampleInput(op: Operation, hints: Record<string, unknown> = {}): Record<string, unknown> {
  const input = sampleObject(inputSchema(op), hints);
  const parsed = op.input.safeParse(input);
  if (!parsed.success) {
    throw new Error(
      `cannot build a valid input for ${op.id} (${JSON.stringify(input)}): ${parsed.error.message}; add a hint`,
    );
  }
  return input;
}

export interface RestRequest {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

const queryValue = (v: unknown) =>
  Array.isArray(v) ? v.join(",") : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);

/** How the REST surface carries `input` for `op`: path params in the URL, the rest in the query or body. */
export function restRequest(op: Operation, input: Record<string, unknown>): RestRequest {
  const rest = { ...input };
  const path = op.http.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = rest[name];
    delete rest[name];
    return encodeURIComponent(String(v));
  });
  if (readsBody(op)) return { method: op.http.method.toUpperCase(), path: `/v1${path}`, body: rest };
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) query.set(k, queryValue(v));
  const qs = query.toString();
  return { method: op.http.method.toUpperCase(), path: `/v1${path}${qs ? `?${qs}` : ""}` };
}

export function callRest(
  t: TestPlatform,
  op: Operation,
  input: Record<string, unknown>,
  opts: { token?: string; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  const req = restRequest(op, input);
  return t.request(req.method, req.path, { ...opts, body: req.body });
}

/**
 * Every row of every table in the schema (except `except`), as sorted JSON lines per table: equal snapshots
 * mean nothing was inserted, deleted or changed. A token's last_used_at is left out (using a token sets it), and
 * so are the security limiter's counters (rate_limits).
 */
export async function dbSnapshot(db: DB, except: string[] = []): Promise<Record<string, string[]>> {
  // A partitioned table is read whole through its parent (its partitions are not listed on their own), so
  // `except` names the parent, and a row that moves between partitions is no change.
  const tables = await sql<{ table_name: string }>`
    select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(db);
  const snapshot: Record<string, string[]> = {};
  for (const { table_name: name } of tables.rows) {
    // A limiter's counters move on every counted attempt, refused or not: that is bookkeeping, not a change.
    if (except.includes(name) || name === "rate_limits") continue;
    const res = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(db);
    snapshot[name] = res.rows.map(({ last_used_at: _touched, ...row }) => JSON.stringify(row)).sort();
  }
  return snapshot;
}

/** The `{ error }` body of an MCP tool result with isError. */
export function toolError(result: object): { code: string; message: string; [k: string]: unknown } {
  const text = (result as { content?: { type: string; text: string }[] }).content?.[0]?.text ?? "{}";
  return JSON.parse(text).error ?? {};
}
