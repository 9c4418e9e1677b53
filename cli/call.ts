// `bosun call <operation> [--field value ...] [--json '{...}']`: every operation as a CLI command against a
// running server, with --help generated from its schema. Prints the JSON result on stdout.
import { toolJsonSchema } from "../core/kernel/json-schema.ts";
import type { Operation } from "../core/kernel/operation.ts";
import { OperationRegistry } from "../core/kernel/registry.ts";

type Prop = { type?: string; description?: string; enum?: unknown[]; anyOf?: { type?: string }[] };

function schemaOf(op: Operation) {
  return toolJsonSchema(op.input, "input") as { properties?: Record<string, Prop>; required?: string[] };
}

const typeOf = (p: Prop) => p.type ?? p.anyOf?.find((s) => s.type && s.type !== "null")?.type ?? "string";
const flag = (name: string) => `--${name.replace(/_/g, "-")}`;

function helpFor(op: Operation): string {
  const schema = schemaOf(op);
  const lines = Object.entries(schema.properties ?? {}).map(([name, p]) => {
    const req = schema.required?.includes(name) ? " (required)" : "";
    const values = p.enum ? ` one of ${p.enum.join(", ")}` : "";
    return `  ${flag(name).padEnd(24)} ${typeOf(p)}${req}${values}${p.description ? ` — ${p.description}` : ""}`;
  });
  return [
    `bosun call ${op.id} — ${op.summary}`,
    op.description ? `\n${op.description}` : "",
    `\n${op.public ? "public" : `scope: ${op.scope}`} · ${op.effect} · ${op.http.method.toUpperCase()} /v1${op.http.path}`,
    "\nOptions:",
    ...(lines.length ? lines : ["  (none)"]),
    `  ${"--json".padEnd(24)} the whole input as a JSON object`,
    `  ${"--idempotency-key".padEnd(24)} retry safely`,
  ].join("\n");
}

export function parseCallArgs(
  op: Operation,
  args: string[],
): { input: Record<string, unknown>; idempotencyKey?: string } {
  const props = schemaOf(op).properties ?? {};
  let input: Record<string, unknown> = {};
  let idempotencyKey: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) throw new Error(`unexpected argument '${arg}'; options look like --field value`);
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const takeValue = () => {
      if (value !== undefined) return value;
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) throw new Error(`${arg} needs a value`);
      i++;
      return next;
    };
    if (name === "json") {
      input = { ...input, ...JSON.parse(takeValue()) };
      continue;
    }
    if (name === "idempotency-key") {
      idempotencyKey = takeValue();
      continue;
    }
    const field = name.replace(/-/g, "_");
    const prop = props[field];
    if (!prop) throw new Error(`unknown option ${arg}; see bosun call ${op.id} --help`);
    const type = typeOf(prop);
    if (type === "boolean") {
      const next = args[i + 1];
      if (value === undefined && (next === "true" || next === "false")) value = args[++i];
      input[field] = value === undefined ? true : value === "true";
    } else {
      value = takeValue();
      if (type === "number" || type === "integer") input[field] = Number(value);
      else if (type === "array")
        input[field] = value
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
      else if (type === "object") input[field] = JSON.parse(value);
      else input[field] = value;
    }
  }
  return { input, idempotencyKey };
}

/** Builds the REST request for an operation's input: path params into the URL, the rest as query or body. */
export function restRequest(op: Operation, base: string, input: Record<string, unknown>) {
  const rest = { ...input };
  const path = op.http.path.replace(/\{(\w+)\}/g, (_, p: string) => {
    const v = rest[p];
    delete rest[p];
    if (v === undefined) throw new Error(`${flag(p)} is required`);
    return encodeURIComponent(String(v));
  });
  const url = new URL(`/v1${path}`, base);
  const readsBody = op.http.method !== "get" && op.http.method !== "delete";
  if (!readsBody) {
    for (const [k, v] of Object.entries(rest)) url.searchParams.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  return { url, method: op.http.method.toUpperCase(), body: readsBody ? JSON.stringify(rest) : undefined };
}

export async function callCommand(operation: string | undefined, args: string[]) {
  const registry = OperationRegistry.default();
  const ops = registry.operations.filter((op) => !op.surfaces || op.surfaces.includes("cli"));
  if (!operation || operation === "--help" || operation === "-h") {
    process.stdout.write(`bosun call <operation> [--field value ...] [--json '{...}']\n\nOperations:\n`);
    for (const op of ops) process.stdout.write(`  ${op.id.padEnd(24)} ${op.summary}\n`);
    return;
  }
  const op = ops.find((o) => o.id === operation);
  if (!op) throw new Error(`no operation '${operation}'; run 'bosun call' to list them`);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${helpFor(op)}\n`);
    return;
  }
  const base = process.env.BOSUN_URL ?? "http://127.0.0.1:8787";
  const { input, idempotencyKey } = parseCallArgs(op, args);
  const req = restRequest(op, base, input);
  const headers: Record<string, string> = { "X-Bosun-Client": "cli" };
  if (process.env.BOSUN_TOKEN) headers.Authorization = `Bearer ${process.env.BOSUN_TOKEN}`;
  if (req.body !== undefined) headers["Content-Type"] = "application/json";
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const res = await fetch(req.url, { method: req.method, headers, body: req.body }).catch(
    (err: Error & { cause?: { code?: string } }) => {
      throw new Error(
        `cannot reach Bosun at ${base} (${err.cause?.code ?? err.message}); is \`bosun serve\` running, and is BOSUN_URL right?`,
      );
    },
  );
  const text = await res.text();
  let out: unknown = text;
  try {
    out = JSON.parse(text);
  } catch {
    /* not JSON: print as is */
  }
  process.stdout.write(`${typeof out === "string" ? out : JSON.stringify(out, null, 2)}\n`);
  if (!res.ok) process.exitCode = 1;
}
