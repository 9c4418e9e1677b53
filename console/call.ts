// Calling operations from the console: the page's reads and the forms' changes, all through the invoker with the
// session's principal (surface `console`), so scopes, roles, audit, idempotency and rate limits apply as on REST.
import type { Context } from "hono";
import { invoke } from "../core/kernel/invoker.ts";
import { toolJsonSchema } from "../core/kernel/json-schema.ts";
import type { Operation } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";

export type Caller = <T = any>(op: string, input?: Record<string, unknown>) => Promise<T>;

export function callerFor(c: Context, platform: Platform, opts: { idempotencyKey?: string } = {}): Caller {
  return async (op, input = {}) =>
    (await invoke(platform, op, input, c.get("consolePrincipal"), {
      requestId: c.get("requestId"),
      signal: c.req.raw.signal,
      ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
    })) as any;
}

type Kind = "number" | "integer" | "boolean" | "array" | "object" | "other";
const kindsOf = new WeakMap<Operation, Map<string, Kind>>();

function kinds(op: Operation): Map<string, Kind> {
  let found = kindsOf.get(op);
  if (!found) {
    const schema = toolJsonSchema(op.input, "input") as {
      properties?: Record<string, { type?: string | string[]; anyOf?: { type?: string }[] }>;
    };
    found = new Map();
    for (const [name, prop] of Object.entries(schema.properties ?? {})) {
      const t = Array.isArray(prop.type) ? prop.type.find((x) => x !== "null") : prop.type;
      const type = t ?? prop.anyOf?.find((s) => s.type && s.type !== "null")?.type;
      found.set(
        name,
        (["number", "integer", "boolean", "array", "object"].includes(type ?? "") ? type : "other") as Kind,
      );
    }
    kindsOf.set(op, found);
  }
  return found;
}

/**
 * A form's fields as the operation's input: forms send text, the schema says which fields are numbers,
 * booleans, lists (repeated fields, or one per line) or objects (JSON text). Empty fields are left out, so
 * optional fields take their defaults. Fields starting with `_` belong to the console (_csrf, _then).
 */
export function inputFromForm(op: Operation, form: Record<string, string | File | (string | File)[]>) {
  const k = kinds(op);
  const out: Record<string, unknown> = Object.create(null);
  for (const [name, raw] of Object.entries(form)) {
    if (name.startsWith("_")) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === "string");
    const last = values[values.length - 1];
    if (last === undefined) continue;
    const kind = k.get(name);
    if (kind === "array") {
      const items = values.flatMap((v) => v.split(/[\n,]/)).map((v) => v.trim());
      out[name] = items.filter(Boolean);
      continue;
    }
    if (last === "" && kind !== "other") continue;
    if (last === "" && kind === "other" && !isRequired(op, name)) continue;
    if (kind === "number" || kind === "integer") out[name] = Number.isNaN(Number(last)) ? last : Number(last);
    else if (kind === "boolean") out[name] = last === "true" || last === "on";
    else if (kind === "object") {
      try {
        out[name] = JSON.parse(last);
      } catch {
        out[name] = last; // the invoker's validation names the field
      }
    } else out[name] = last;
  }
  return out;
}

function isRequired(op: Operation, name: string): boolean {
  const field = op.input.shape[name] as { isOptional?: () => boolean } | undefined;
  return !!field && !field.isOptional?.();
}
