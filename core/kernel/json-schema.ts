// JSON Schemas of operations' zod types, as tool surfaces (MCP, the agent's model) need them.
import { z } from "zod";
import { present } from "./errors.ts";

/** A tool schema must be an object schema at its root: a named (meta id) root is emitted as a $ref, so inline it. */
export function toolJsonSchema(schema: z.ZodType, io: "input" | "output"): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Record<string, unknown>;
  const ref = typeof rest.$ref === "string" ? /^#\/\$defs\/(.+)$/.exec(rest.$ref)?.[1] : undefined;
  if (!ref) return rest;
  const defs = { ...(rest.$defs as Record<string, Record<string, unknown>>) };
  const root = present(defs[ref], `the root schema $defs/${ref}`);
  delete defs[ref];
  return Object.keys(defs).length ? { ...root, $defs: defs } : root;
}

/** The schema without some properties: those a pinned caller does not choose (project, instance). */
export function withoutFields(schema: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const properties = Object.fromEntries(
    Object.entries((schema.properties ?? {}) as Record<string, unknown>).filter(([k]) => !fields.includes(k)),
  );
  const required = ((schema.required ?? []) as string[]).filter((r) => !fields.includes(r));
  return { ...schema, properties, required };
}

/** Validation detail the server enforces anyway (the invoker answers a 400 naming the field); a model rarely needs it. */
const LEAN_DROP = new Set([
  "example",
  "examples",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minItems",
  "maxItems",
  "propertyNames",
]);

/**
 * A tool schema as a model reads it: names, types, enums, defaults, required fields and descriptions, without
 * the bounds and patterns the invoker checks on every call. Tool lists are model context every conversation
 * pays for; this roughly halves an input schema.
 */
export function leanJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(leanJsonSchema);
  if (!schema || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (LEAN_DROP.has(key)) continue;
    // additionalProperties: false (the invoker refuses unknown fields anyway) says nothing a model needs.
    if (key === "additionalProperties" && value === false) continue;
    // `properties` maps field names to schemas: its keys are names, never keywords to drop.
    out[key] =
      key === "properties" || key === "$defs"
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, leanJsonSchema(v)]))
        : leanJsonSchema(value);
  }
  return out;
}
