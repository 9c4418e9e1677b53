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
