// Fuzzing every operation over REST with malformed requests: the answer is always a 4xx with
// { error: { code, message } } (never a 5xx), a validation error names the offending field, and nothing is
// written. Deterministic: cases are drawn from a seeded generator, a fixed number per operation.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestAccount, type TestPlatform, type TestResponse } from "../../testkit/harness.ts";
import { connectMcp, everyToolset } from "../../testkit/mcp-client.ts";
import {
  callRest,
  concrete,
  dbSnapshot,
  inputSchema,
  type JsonSchema,
  pathParams,
  readsBody,
  sampleInput,
  toolError,
} from "../../testkit/operation-inputs.ts";
import { loadConfig } from "../config.ts";
import { type ErrorCode, errorStatus } from "./errors.ts";
import { MAX_INPUT_DEPTH } from "./input-guard.ts";
import type { Operation } from "./operation.ts";
import { ADMIN_SCOPE } from "./scopes.ts";

const SEED = 0xb05e;
const RANDOM_CASES = 24;
const HUGE = "x".repeat(100_000);

/** These walk every operation in the registry: their time grows with it (bounded, not a speed check). */
const EVERY_OPERATION_TIMEOUT = 300_000;
let t: TestPlatform;
let token: string;
let member: TestAccount;

beforeAll(async () => {
  // A model key, so agent operations record and enqueue (no worker runs here) instead of answering 503
  // not_configured: a fuzzer must reach their input handling.
  t = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: "fuzz-not-a-real-key" } } });
  token = await t.operator.token(["*", ADMIN_SCOPE]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "fuzz-proj", name: "Fuzz", kind: "site" } }))
      .status,
  ).toBe(201);
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
const seedOf = (s: string) =>
  [...s].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, SEED ^ 2166136261);

/** Values no field should choke on; those a field's schema happens to accept are skipped for that field. */
const POOL: unknown[] = [
  123,
  -1,
  1.5,
  1e308,
  0,
  true,
  false,
  null,
  {},
  { $gt: "" },
  [],
  ["x"],
  [1, 2],
  "",
  " ",
  HUGE,
  "🚢".repeat(50),
  "' OR 1=1 --",
  "../../etc/passwd",
  "9".repeat(40),
  "not-a-uuid",
  "Bad_Slug",
  "-lead",
  "a/b",
  "%E0%A4%A",
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

/** How the REST surface reads a query or path value for a field (mirrors http/request.ts). */
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
    add({
      label: "2 MB body",
      path: build(base).path,
      body: JSON.stringify({ pad: "x".repeat(2 * 1024 * 1024) }),
      status: 413,
    });
  }
  for (const field of schema.required ?? []) {
    if (params.includes(field)) continue;
    const { [field]: _drop, ...rest } = base;
    add({ label: `missing ${field}`, ...build(rest), status: 400, field });
  }
  if (op.effect !== "read") {
    add({
      label: "bad Idempotency-Key",
      ...build(base),
      headers: { "Idempotency-Key": "k".repeat(300) },
      status: 400,
      field: "Idempotency-Key",
    });
  }
  add({
    label: "malformed Authorization",
    ...build(base),
    headers: { Authorization: "Basic Zm9vOmJhcg==" },
    status: 401,
  });
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
      add({
        label: `unknown ${name}`,
        path: `${path}${path.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(wire(value))}`,
        status: 400,
        message: name,
      });
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
  it(
    "answers malformed requests with a 4xx error naming the field, and writes nothing",
    async () => {
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
          const error = (res.body as { error?: { code?: unknown; message?: unknown; issues?: { path: string }[] } })
            ?.error;
          expect.soft(typeof error?.code, where).toBe("string");
          expect.soft(typeof error?.message === "string" && error.message.length > 0, where).toBe(true);
          if (c.field) {
            expect.soft(error?.code, where).toBe("validation_error");
            const paths = (error?.issues ?? []).map((i) => i.path);
            expect
              .soft(
                paths.some((p) => p === c.field || p.startsWith(`${c.field}.`)),
                `${where}: issues ${JSON.stringify(paths)}`,
              )
              .toBe(true);
          }
          if (c.message) expect.soft(String(error?.message), where).toContain(c.message);
        }
        expect.soft(await dbSnapshot(t.platform.db, ["audit_events"]), op.id).toEqual(before);
      }
      expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(start);
      expect(total).toBeGreaterThan(ops.length * RANDOM_CASES);
    },
    EVERY_OPERATION_TIMEOUT,
  );
});

describe("the smallest valid input", () => {
  it(
    "never gets a 5xx from any operation",
    async () => {
      const ops = t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("rest"));
      for (const op of ops) {
        // Only the required fields: optional ones left out must be as harmless as ones given.
        const input = sampleInput(op, { project: "fuzz-proj", account_id: member.id, email: member.email });
        const res = await callRest(t, op, input, { token });
        expect.soft(res.status, `${op.id} ${JSON.stringify(input)}: ${JSON.stringify(res.body)}`).toBeLessThan(500);
      }
    },
    EVERY_OPERATION_TIMEOUT,
  );
});

// ---------------------------------------------------------------------------------------------------------
// Property-based (fast-check) over every operation's input schema, on REST and MCP: a valid input with one
// field (or an extra key) replaced by something hostile. Inputs the invoker's guard must refuse — nesting past
// MAX_INPUT_DEPTH, control characters in a field name, NUL or a lone surrogate in a string — answer 400 and
// change nothing; anything else (huge numbers, oversized strings) may be accepted or refused, but never answers
// a 5xx, and every accepted write leaves its audit record.

const FC_SEED = 0xb05e;
const GUARD_RUNS = 6;
const FREE_RUNS = 6;

function nest(kind: "array" | "object", depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = kind === "array" ? [v] : { a: v };
  return v;
}

/** Refused by the invoker's guard wherever they appear. */
const guardValue = fc.oneof(
  fc
    .tuple(fc.constantFrom("array" as const, "object" as const), fc.integer({ min: MAX_INPUT_DEPTH + 1, max: 3000 }))
    .map(([k, d]) => nest(k, d)),
  fc
    .tuple(
      fc.string({ maxLength: 8 }),
      fc.constantFrom("\u0000", "\u0001", "\n", "\u001f", "\u007f", "\u009b"),
      fc.string({ maxLength: 8 }),
    )
    .map(([a, c, b]) => ({ [`${a}${c}${b}`]: "x" })),
  fc
    .tuple(fc.string({ maxLength: 20 }), fc.constantFrom("\ud800", "\udbff", "\udc00", "\udfff"))
    .map(([s, lone]) => `${s}${lone}`),
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })).map(([a, b]) => `${a}\u0000${b}`),
);

/** May be valid for some field; must never break anything. */
const freeValue = fc.oneof(
  fc.constantFrom(
    1e308,
    -1e308,
    2 ** 53,
    2 ** 53 + 2,
    -(2 ** 63),
    1e21,
    Number.MAX_SAFE_INTEGER * 10,
    Number.MIN_VALUE,
    0.1,
    -0,
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => Number(n)),
  fc.integer({ min: 5_000, max: 600_000 }).map((n) => "x".repeat(n)),
  fc.integer({ min: 1_000, max: 100_000 }).map((n) => "🚢".repeat(n)),
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 5_000 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 20 }),
);

/** Where the hostile value goes: a field of the schema, a new top-level key, or inside an object field. */
function placed(
  op: Operation,
  base: Record<string, unknown>,
  fields: string[],
  value: fc.Arbitrary<unknown>,
  allowNested: boolean,
) {
  return fc
    .tuple(fc.constantFrom(...(fields.length ? fields : ["zz_extra"])), value, fc.boolean())
    .map(([field, v, nested]) => {
      const input: Record<string, unknown> = { ...base };
      const current = input[field];
      if (allowNested && nested && current && typeof current === "object" && !Array.isArray(current))
        input[field] = { ...current, zz: v };
      else input[field] = v;
      return { field, input };
    });
}

const isGet = (op: Operation) => !readsBody(op);

/** A REST request for `input`; GET/DELETE carry fields in the query, values that are not text as JSON text. */
function restFor(op: Operation, base: Record<string, unknown>, input: Record<string, unknown>) {
  const params = pathParams(op);
  const path = op.http.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(wire(base[n])));
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !params.includes(k)));
  if (readsBody(op)) return { path: `/v1${path}`, body: JSON.stringify(rest) };
  const qs = new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, wire(v)])).toString();
  return { path: `/v1${path}${qs ? `?${qs}` : ""}` };
}

async function auditOk(requestId: string | null, opId: string, surface: string) {
  let q = t.platform.db
    .selectFrom("audit_events")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("operation", "=", opId)
    .where("surface", "=", surface)
    .where("outcome", "=", "ok");
  if (requestId) q = q.where("request_id", "=", requestId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

describe("fast-check over every operation's input schema", () => {
  let mcp: Client;
  beforeAll(async () => {
    // Every tool, account security (opt-in over MCP) included.
    mcp = await connectMcp(t.app, token, everyToolset(t.platform.operations.operations));
  });
  afterAll(() => mcp?.close());

  const hints = () => ({ project: "fuzz-proj", account_id: member.id, email: member.email });

  it(
    "REST: hostile values are refused with a 400 naming the field, changing nothing; nothing answers a 5xx; accepted writes are audited",
    async () => {
      const ops = t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("rest"));
      let calls = 0;
      for (const op of ops) {
        const base = sampleInput(op, hints());
        const params = pathParams(op);
        const fields = Object.keys(inputSchema(op).properties ?? {}).filter((f) => !params.includes(f));
        const send = async (input: Record<string, unknown>) => {
          const req = restFor(op, base, input);
          const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
          if (req.body !== undefined) headers["Content-Type"] = "application/json";
          const res = await t.app.request(req.path, { method: op.http.method.toUpperCase(), headers, body: req.body });
          calls++;
          const text = await res.text();
          return { status: res.status, requestId: res.headers.get("x-request-id"), text };
        };

        // Query strings carry text only: there, a control character in a field name is what reaches the guard.
        const guard = isGet(op)
          ? fc
              .tuple(fc.string({ maxLength: 6 }), fc.constantFrom("\u0000", "\u0001", "\n", "\u007f"))
              .map(([a, c]) => ({ field: `${a}${c}`, input: { ...base, [`${a}${c}`]: "x" } }))
          : placed(op, base, fields, guardValue, true);
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);
        await fc.assert(
          fc.asyncProperty(guard, async ({ field, input }) => {
            const res = await send(input);
            const where = `${op.id} ${field}: ${res.text.slice(0, 300)}`;
            expect(res.status, where).toBe(400);
            const error = JSON.parse(res.text).error;
            expect(error.code, where).toBe("validation_error");
            const paths: string[] = error.issues.map((i: { path: string }) => i.path);
            const named = JSON.stringify(field).slice(1, -1);
            expect(
              paths.some((p) => p === field || p === named || p.startsWith(`${field}.`) || p.startsWith(`${named}.`)),
              `${where} ${JSON.stringify(paths)}`,
            ).toBe(true);
          }),
          { seed: FC_SEED ^ seedOf(op.id), numRuns: GUARD_RUNS, endOnFailure: true },
        );
        expect
          .soft(await dbSnapshot(t.platform.db, ["audit_events"]), `${op.id}: a refused input changed something`)
          .toEqual(before);

        await fc.assert(
          fc.asyncProperty(placed(op, base, fields, freeValue, !isGet(op)), async ({ field, input }) => {
            const res = await send(input);
            const where = `${op.id} ${field}: ${res.text.slice(0, 300)}`;
            expect(res.status, where).toBeLessThan(500);
            if (res.status < 300 && op.effect !== "read")
              expect(await auditOk(res.requestId, op.id, "rest"), where).toBe(1);
          }),
          { seed: FC_SEED ^ seedOf(op.id), numRuns: FREE_RUNS, endOnFailure: true },
        );
      }
      expect(calls).toBeGreaterThanOrEqual(ops.length * (GUARD_RUNS + FREE_RUNS));
    },
    EVERY_OPERATION_TIMEOUT,
  );

  it(
    "MCP: the same, for every tool",
    async () => {
      const ops = t.platform.operations.operations.filter((op) => !op.surfaces || op.surfaces.includes("mcp"));
      for (const op of ops) {
        const base = sampleInput(op, hints());
        const fields = Object.keys(inputSchema(op).properties ?? {});
        const call = async (input: Record<string, unknown>) => {
          const before = op.effect === "read" ? 0 : await auditOk(null, op.id, "mcp");
          const result = (await mcp.callTool({ name: op.id, arguments: input })) as { isError?: boolean };
          const after = op.effect === "read" ? 0 : await auditOk(null, op.id, "mcp");
          return { result, error: result.isError ? toolError(result) : null, audited: after - before };
        };
        const before = await dbSnapshot(t.platform.db, ["audit_events"]);
        await fc.assert(
          fc.asyncProperty(placed(op, base, fields, guardValue, true), async ({ field, input }) => {
            const { error } = await call(input);
            const where = `${op.id} ${field}: ${JSON.stringify(error).slice(0, 300)}`;
            expect(error?.code, where).toBe("validation_error");
            const paths = ((error?.issues ?? []) as { path: string }[]).map((i) => i.path);
            expect(
              paths.some((p) => p === field || p.startsWith(`${field}.`)),
              `${where} ${JSON.stringify(paths)}`,
            ).toBe(true);
          }),
          { seed: FC_SEED ^ seedOf(op.id), numRuns: GUARD_RUNS, endOnFailure: true },
        );
        expect
          .soft(await dbSnapshot(t.platform.db, ["audit_events"]), `${op.id}: a refused input changed something`)
          .toEqual(before);

        await fc.assert(
          fc.asyncProperty(placed(op, base, fields, freeValue, true), async ({ field, input }) => {
            const { error, audited } = await call(input);
            const where = `${op.id} ${field}: ${JSON.stringify(error).slice(0, 300)}`;
            if (error) expect(errorStatus[error.code as ErrorCode] ?? 500, where).toBeLessThan(500);
            else if (op.effect !== "read") expect(audited, where).toBe(1);
          }),
          { seed: FC_SEED ^ seedOf(op.id), numRuns: FREE_RUNS, endOnFailure: true },
        );
      }
    },
    EVERY_OPERATION_TIMEOUT,
  );
});

describe("deep nesting as raw JSON text", () => {
  it("answers 400 naming the field, never 500, anonymously on a public form post and with a token anywhere", async () => {
    const depth = 200_000; // far past any stack a recursive walk could use
    const deep = `{"data":{"name":${"[".repeat(depth)}${"]".repeat(depth)}}}`;
    const anon = await t.app.request("/v1/sites/no-such-site/forms/contact/submissions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: deep,
    });
    const body = await anon.json();
    expect(anon.status, JSON.stringify(body).slice(0, 300)).toBe(400);
    expect(body.error.issues[0].path).toMatch(/^data\.name\.0\.0/);
    const objects = `{"slug":"deep-proj","name":"Deep","kind":"site","x":${'{"a":'.repeat(depth / 2)}1${"}".repeat(depth / 2)}}`;
    const authed = await t.app.request("/v1/projects", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: objects,
    });
    expect(authed.status).toBe(400);
    expect(
      (await t.app.request("/v1/projects/deep-proj", { headers: { Authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
  });

  it("answers an MCP tools/call with deeply nested arguments as a tool error naming the field", async () => {
    const depth = 200_000;
    const body = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_project","arguments":{"slug":"deep-mcp","name":"D","kind":"site","x":${"[".repeat(depth)}${"]".repeat(depth)}}}}`;
    const res = await t.app.request("/mcp", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        Authorization: `Bearer ${token}`,
      },
      body,
    });
    const text = await res.text();
    expect(res.status, text.slice(0, 300)).toBe(200);
    const message = JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? text);
    const error = toolError(message.result);
    expect(error.code, text.slice(0, 300)).toBe("validation_error");
    expect((error.issues as { path: string }[])[0]!.path).toMatch(/^x\.0\.0/);
    expect(
      (await t.app.request("/v1/projects/deep-mcp", { headers: { Authorization: `Bearer ${token}` } })).status,
    ).toBe(404);
  });
});
