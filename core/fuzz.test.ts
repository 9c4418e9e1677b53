// Fuzzing every operation over REST with malformed requests: the answer is always a 4xx with
// { error: { code, message } } (never a 5xx), a validation error names the offending field, and nothing is
// written. Deterministic: cases are drawn from a seeded generator, a fixed number per operation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Operation } from "./operation.ts";
import { ADMIN_SCOPE } from "./scopes.ts";
import { startTestPlatform, type TestAccount, type TestPlatform, type TestResponse } from "../testkit/harness.ts";
import { callRest, concrete, dbSnapshot, inputSchema, pathParams, readsBody, sampleInput, type JsonSchema } from "../testkit/operation-inputs.ts";

const SEED = 0xb05e;
const RANDOM_CASES = 24;
const HUGE = "x".repeat(100_000);

/** These walk every operation in the registry: their time grows with it (bounded, not a speed check). */
const EVERY_OPERATION_TIMEOUT = 300_000;
let t: TestPlatform;
let token: string;
let member: TestAccount;

beforeAll(async () => {
  t = await startTestPlatform();
  token = await t.operator.token(["*", ADMIN_SCOPE]);
  expect((await t.request("POST", "/v1/projects", { token, body: { slug: "fuzz-proj", name: "Fuzz", kind: "site" } })).status).toBe(201);
  member = await t.account();
  await t.addMember("fuzz-proj", token, member, "developer");
});
afterAll(() => t?.close());

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const seedOf = (s: string) => [...s].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, SEED ^ 2166136261);

/** Values no field should choke on; those a field's schema happens to accept are skipped for that field. */
const POOL: unknown[] = [
  123, -1, 1.5, 1e308, 0, true, false, null, {}, { $gt: "" }, [], ["x"], [1, 2], "", " ", HUGE, "🚢".repeat(50),
  "' OR 1=1 --", "../../etc/passwd", "9".repeat(40), "not-a-uuid", "Bad_Slug", "-lead", "a/b", "%E0%A4%A",
];
const NUL = "a\u0000b";
const UNKNOWN_NAMES = ["is_operator", "admin", "__proto__", "constructor", "owner_account_id", "zz_extra"];

interface Case {
  label: string;
  method: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Expected status; any 4xx when unset. */
  status?: number;
  /** A field the validation error must name in issues[].path. */
  field?: string;
  /** Text the error message must contain. */
  message?: string;
}

/** How the REST surface reads a query or path value for a field (mirrors openapi/request.ts). */
function asSeen(schema: JsonSchema, raw: string, inQuery: boolean): unknown {
  if (!inQuery) return raw;
  const type = concrete(schema).type;
  if ((type === "number" || type === "integer") && raw.trim() !== "" && !Number.isNaN(Number(raw))) return Number(raw);
  if (type === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
  if (type === "array") return raw.split(",").filter(Boolean);
  return raw;
}

const wire = (v: unknown) => (typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : JSON.stringify(v));

function casesFor(op: Operation, base: Record<string, unknown>): Case[] {
  const schema = inputSchema(op);
  const props = schema.properties ?? {};
  const params = pathParams(op);
  const body = readsBody(op);
  const method = op.http.method.toUpperCase();
  const random = rng(seedOf(op.id));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;

  /** A request carrying `input`; `rawPath` overrides one path param without encoding it. */
  const build = (input: Record<string, unknown>, rawPath: Record<string, string> = {}): Pick<Case, "path" | "body"> => {
    const rest = { ...input };
    const path = op.http.path.replace(/\{(\w+)\}/g, (_, n: string) => {
      const v = rest[n];
      delete rest[n];
      return rawPath[n] ?? encodeURIComponent(wire(v));
    });
    if (body) return { path: `/v1${path}`, body: JSON.stringify(rest) };
    const qs = Object.entries(rest)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(wire(v))}`)
      .join("&");
    return { path: `/v1${path}${qs ? `?${qs}` : ""}` };
  };
  /** Whether the schema refuses the field's value as the server will see it. */
  const refused = (field: string, value: unknown) => {
    if (params.includes(field) && wire(value) === "") return false; // an empty segment is another route, not a bad value
    const inUrl = params.includes(field) || !body;
    const seen = inUrl ? asSeen(props[field]!, wire(value), !params.includes(field)) : value;
    return !op.input.safeParse({ ...base, [field]: seen }).success;
  };

  const cases: Case[] = [];
  const add = (c: Omit<Case, "method">) => cases.push({ method, ...c });

  // Fixed cases.
  if (body) {
    for (const raw of ["{", "not json", "[]", JSON.stringify([base]), "null", '"text"', "42"]) {
      add({ label: `body ${raw.slice(0, 20)}`, path: build(base).path, body: raw, status: 400 });
    }
    add({ label: "text/plain body", ...build(base), headers: { "Content-Type": "text/plain" }, status: 415 });
    add({ label: "2 MB body", path: build(base).path, body: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }), status: 413 });
  }
  for (const field of schema.required ?? []) {
    if (params.includes(field)) continue;
    const { [field]: _drop, ...rest } = base;
    add({ label: `missing ${field}`, ...build(rest), status: 400, field });
  }
  if (op.effect !== "read") {
    add({ label: "bad Idempotency-Key", ...build(base), headers: { "Idempotency-Key": "k".repeat(300) }, status: 400, field: "Idempotency-Key" });
  }
  add({ label: "malformed Authorization", ...build(base), headers: { Authorization: "Basic Zm9vOmJhcg==" }, status: 401 });
  for (const param of params) {
    add({ label: `${param} malformed %-encoding`, ...build(base, { [param]: "%E0%A4%A" }), status: 400, field: param });
    add({ label: `${param} NUL`, ...build({ ...base, [param]: NUL }), status: 400, field: param });
  }
  for (const field of Object.keys(props)) {
    if (concrete(props[field]!).type === "string" && !params.includes(field)) {
      const valid = typeof base[field] === "string" ? (base[field] as string) : "abc";
      add({ label: `${field} with NUL`, ...build({ ...base, [field]: `${valid}\u0000` }), status: 400, field });
    }
  }

  const unknownField = (name: string, value: unknown) => {
    if (body) {
      // Written out by hand so "__proto__" arrives as a key, not as a prototype.
      const entries = [...Object.entries(JSON.parse(build(base).body!)), [name, value]];
      const raw = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v ?? null)}`).join(",")}}`;
      add({ label: `unknown ${name}`, path: build(base).path, body: raw, status: 400, message: name });
    } else {
      const { path } = build(base);
      add({ label: `unknown ${name}`, path: `${path}${path.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(wire(value))}`, status: 400, message: name });
    }
  };
  unknownField("__proto__", "x");

  // Seeded cases: a wrong value for one field, or an unknown field.
  const fields = Object.keys(props);
  for (let n = 0, tries = 0; n < RANDOM_CASES && tries < 1000; tries++) {
    if (fields.length && random() < 0.75) {
      const field = pick(fields);
      const value = pick(POOL);
      if (!refused(field, value)) continue;
      add({ label: `${field}=${wire(value).slice(0, 24)}`, ...build({ ...base, [field]: value }), status: 400, field });
    } else {
      unknownField(pick(UNKNOWN_NAMES.filter((u) => !(u in props))), pick(POOL));
    }
    n++;
  }
  return cases;
}

async function send(c: Case): Promise<TestResponse> {
  const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...c.headers };
  if (c.body !== undefined) headers["Content-Type"] ??= "application/json";
  const res = await t.app.request(c.path, { method: c.method, headers, body: c.body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* asserted below */
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

describe("fuzzing every operation over REST", () => {
  it("answers malformed requests with a 4xx error naming the field, and writes nothing", async () => {
    const ops = t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("rest"));
    expect(ops.length).toBeGreaterThan(10);
    const hints = { project: "fuzz-proj", account_id: member.id, email: member.email };
    const start = await dbSnapshot(t.platform.db, ["audit_events"]);
    let total = 0;
    for (const op of ops) {
      const cases = casesFor(op, sampleInput(op, hints));
      expect(cases.length, op.id).toBeGreaterThanOrEqual(RANDOM_CASES);
      const before = await dbSnapshot(t.platform.db, ["audit_events"]);
      for (const c of cases) {
        const where = `${op.id}: ${c.label}`;
        const res = await send(c);
        total++;
        expect.soft(res.status, where).toBeGreaterThanOrEqual(400);
        expect.soft(res.status, where).toBeLessThan(500);
        if (c.status) expect.soft(res.status, where).toBe(c.status);
        const error = (res.body as { error?: { code?: unknown; message?: unknown; issues?: { path: string }[] } })?.error;
        expect.soft(typeof error?.code, where).toBe("string");
        expect.soft(typeof error?.message === "string" && error.message.length > 0, where).toBe(true);
        if (c.field) {
          expect.soft(error?.code, where).toBe("validation_error");
          const paths = (error?.issues ?? []).map((i) => i.path);
          expect.soft(paths.some((p) => p === c.field || p.startsWith(`${c.field}.`)), `${where}: issues ${JSON.stringify(paths)}`).toBe(true);
        }
        if (c.message) expect.soft(String(error?.message), where).toContain(c.message);
      }
      expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);
    }
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(start);
    expect(total).toBeGreaterThan(ops.length * RANDOM_CASES);
  }, EVERY_OPERATION_TIMEOUT);
});

describe("the smallest valid input", () => {
  it("never gets a 5xx from any operation", async () => {
    const ops = t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("rest"));
    for (const op of ops) {
      // Only the required fields: optional ones left out must be as harmless as ones given.
      const input = sampleInput(op, { project: "fuzz-proj", account_id: member.id, email: member.email });
      const res = await callRest(t, op, input, { token });
      expect.soft(res.status, `${op.id} ${JSON.stringify(input)}: ${JSON.stringify(res.body)}`).toBeLessThan(500);
    }
  }, EVERY_OPERATION_TIMEOUT);
});
