// The JavaScript Bosun itself runs inside workerd, as source text: the router every request enters by, the tail
// worker that hands console output and exceptions back to Bosun, the wrapped bindings (KV, R2, D1 APIs over the
// per-worker capability service) and the SQL storage worker (SQLite-backed Durable Objects, one per database).

/**
 * The entry of a generation. Only Bosun can call it: every request must carry the generation's admin token
 * (workers cannot reach loopback at all, their outbound fetch goes through the egress proxy). It forwards to the
 * worker named by `x-bosun-target` (an index Bosun chose, never a customer's string), or runs its `scheduled`
 * handler.
 */
export const routerModule = `
export default {
  async fetch(req, env) {
    if (req.headers.get("x-bosun-admin") !== env.ADMIN) return new Response("forbidden", { status: 403 });
    const target = req.headers.get("x-bosun-target");
    if (target === "_health") return new Response("ok");
    const svc = target ? env["w_" + target] : undefined;
    if (!svc) return new Response("no such worker", { status: 404 });
    if (req.headers.get("x-bosun-op") === "scheduled") {
      const { cron, scheduledTime, invocation } = await req.json();
      try {
        // The worker's generated entry takes the invocation id off the cron line (see entryModule).
        const r = await svc.scheduled({ cron: invocation + "\\n" + cron, scheduledTime: new Date(scheduledTime) });
        return Response.json({ outcome: (r && r.outcome) || "ok" });
      } catch (err) {
        return Response.json({ outcome: "exception", error: String((err && err.message) || err) });
      }
    }
    // The visitor's URL (its host names the worker), not the loopback one Bosun forwarded to.
    const url = req.headers.get("x-bosun-url") || req.url;
    const headers = new Headers(req.headers);
    headers.delete("x-bosun-admin");
    headers.delete("x-bosun-target");
    headers.delete("x-bosun-url");
    return svc.fetch(new Request(url, { method: req.method, headers, body: req.body, redirect: "manual" }));
  },
};
`;

/** The header a worker's subrequests carry their invocation's id in (the binding service counts by it). */
export const INVOCATION_HEADER = "x-bosun-invocation";
/** What the binding service answers a subrequest past the limit with (the worker's fetch turns it into a throw). */
export const LIMIT_HEADER = "x-bosun-limit";

/**
 * Evaluated first in every worker (the generated entry imports it before the customer's modules, so their code
 * runs after it): keeps the invocation id in an AsyncLocalStorage, and replaces \`fetch\` with one that sends it.
 * The id only lets a call count against an invocation of the same worker that is still running; the binding
 * service refuses calls without one. The getter the bindings read is non-writable, so it cannot be swapped.
 */
export const invocationModule = `
import { AsyncLocalStorage } from "node:async_hooks";
const als = new AsyncLocalStorage();
const current = () => als.getStore();
const pristineFetch = globalThis.fetch;
const RequestClass = globalThis.Request;
Object.defineProperty(globalThis, Symbol.for("bosun.invocation"), { value: current, writable: false, configurable: false, enumerable: false });
globalThis.fetch = async function fetch(input, init) {
  const req = new RequestClass(input, init);
  req.headers.set("${INVOCATION_HEADER}", current() ?? "");
  const res = await pristineFetch(req);
  if (res.headers.get("${LIMIT_HEADER}")) throw new Error((await res.json()).error.message);
  return res;
};
export function enter(id, fn) { return als.run(id, fn); }
`;

/**
 * The generated entry of a worker: runs each \`fetch\` and \`scheduled\` of the customer's main module inside its
 * invocation (the id from the request header Bosun's proxy set, or from the scheduled run's cron line), and
 * re-exports everything else as it is.
 */
export function entryModule(main: string): string {
  const spec = JSON.stringify(main);
  return `
import { enter } from "bosun:invocation";
import * as user from ${spec};
export * from ${spec};
const d = user.default;
const idOf = (req) => req.headers.get("x-bosun-request-id") ?? "";
// A scheduled run's cron line is "{invocation}\\n{cron}": the customer's controller gets the cron alone.
const split = (c) => { const cron = String(c.cron ?? ""); const at = cron.indexOf("\\n"); return at < 0 ? ["", c] : [cron.slice(0, at), { cron: cron.slice(at + 1), scheduledTime: c.scheduledTime, type: "scheduled", noRetry: () => c.noRetry && c.noRetry() }]; };
let out = d;
if (typeof d === "function") {
  out = class extends d {};
  if (typeof d.prototype.fetch === "function") out.prototype.fetch = function (req) { return enter(idOf(req), () => d.prototype.fetch.call(this, req)); };
  if (typeof d.prototype.scheduled === "function") out.prototype.scheduled = function (c) { const [id, ctl] = split(c); return enter(id, () => d.prototype.scheduled.call(this, ctl)); };
} else if (d && typeof d === "object") {
  out = { ...d };
  if (typeof d.fetch === "function") out.fetch = (req, env, ctx) => enter(idOf(req), () => d.fetch.call(d, req, env, ctx));
  if (typeof d.scheduled === "function") out.scheduled = (c, env, ctx) => { const [id, ctl] = split(c); return enter(id, () => d.scheduled.call(d, ctl, env, ctx)); };
}
export default out;
`;
}

/** Inherited once per worker with SINK bound to that worker's capability service: the sink knows whose events. */
export const tailModule = `
export default {
  async tail(events, env) {
    await env.SINK.fetch("http://bosun/tail", { method: "POST", body: JSON.stringify(events) });
  },
};
`;

/**
 * The wrapped bindings. Each gets its capability service (\`svc\`, which injects the worker's token) and its binding
 * name; closures keep both out of the customer's reach.
 */
export const bindingsModule = `
const b64 = (bytes) => { let s = ""; const u = new Uint8Array(bytes); for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000)); return btoa(s); };
const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
async function bytesOf(value) {
  if (value === null || value === undefined) return new Uint8Array();
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ReadableStream) return new Uint8Array(await new Response(value).arrayBuffer());
  if (value instanceof Blob) return new Uint8Array(await value.arrayBuffer());
  throw new TypeError("unsupported value type");
}
function caller(env, kind) {
  return async (op, args) => {
    const current = globalThis[Symbol.for("bosun.invocation")];
    const res = await env.svc.fetch("http://bosun/" + kind, {
      method: "POST",
      headers: { "content-type": "application/json", "${INVOCATION_HEADER}": (current && current()) || "" },
      body: JSON.stringify({ binding: env.name, op, args }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body && body.error ? body.error.message : "binding call failed (" + res.status + ")");
    return body.result;
  };
}
function typed(bytes, type) {
  if (type === "arrayBuffer") return bytes.buffer;
  if (type === "stream") return new Response(bytes).body;
  const text = new TextDecoder().decode(bytes);
  return type === "json" ? JSON.parse(text) : text;
}
export function kv(env) {
  const call = caller(env, "kv");
  const typeOf = (t) => (typeof t === "string" ? t : t && t.type) || "text";
  return {
    async get(key, type) {
      const r = await call("get", { key });
      return r === null ? null : typed(unb64(r.value), typeOf(type));
    },
    async getWithMetadata(key, type) {
      const r = await call("get", { key });
      return r === null ? { value: null, metadata: null } : { value: typed(unb64(r.value), typeOf(type)), metadata: r.metadata ?? null };
    },
    async put(key, value, options = {}) {
      await call("put", { key, value: b64(await bytesOf(value)), options });
    },
    async delete(key) { await call("delete", { key }); },
    async list(options = {}) { return call("list", options); },
  };
}
function r2Object(o) {
  const obj = { ...o, uploaded: new Date(o.uploaded), writeHttpMetadata(h) { for (const [k, v] of Object.entries(o.httpMetadata || {})) h.set(k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()), v); } };
  if (o.body === undefined) return obj;
  const bytes = unb64(o.body);
  delete obj.body;
  return Object.assign(obj, {
    get body() { return new Response(bytes).body; },
    async text() { return new TextDecoder().decode(bytes); },
    async json() { return JSON.parse(new TextDecoder().decode(bytes)); },
    async arrayBuffer() { return bytes.slice().buffer; },
    async blob() { return new Blob([bytes]); },
  });
}
export function bucket(env) {
  const call = caller(env, "bucket");
  return {
    async head(key) { const r = await call("head", { key }); return r && r2Object(r); },
    async get(key, options = {}) { const r = await call("get", { key, range: options.range }); return r && r2Object(r); },
    async put(key, value, options = {}) {
      const r = await call("put", { key, value: b64(await bytesOf(value)), httpMetadata: options.httpMetadata, customMetadata: options.customMetadata });
      return r && r2Object(r);
    },
    async delete(keys) { await call("delete", { keys }); },
    async list(options = {}) {
      const r = await call("list", options);
      return { ...r, objects: r.objects.map(r2Object) };
    },
  };
}
export function sql(env) {
  const call = caller(env, "sql");
  const statement = (query, params = []) => ({
    query, params,
    bind(...values) { return statement(query, values); },
    async all() { return call("query", { statements: [{ sql: query, params }], mode: "all" }).then((r) => r[0]); },
    async run() { return call("query", { statements: [{ sql: query, params }], mode: "all" }).then((r) => r[0]); },
    async raw(options = {}) {
      const r = await call("query", { statements: [{ sql: query, params }], mode: "raw" });
      return options.columnNames ? [r[0].columns, ...r[0].rows] : r[0].rows;
    },
    async first(column) {
      const r = await call("query", { statements: [{ sql: query, params }], mode: "all" });
      const row = r[0].results[0];
      if (row === undefined) return null;
      return column === undefined ? row : row[column];
    },
  });
  return {
    prepare(query) { return statement(query); },
    async batch(statements) { return call("query", { statements: statements.map((s) => ({ sql: s.query, params: s.params })), mode: "all", atomic: true }); },
    async exec(query) { const r = await call("exec", { sql: query }); return r; },
    async dump() { throw new Error("dump() is not supported"); },
  };
}
`;

/**
 * The SQL storage worker, in a workerd process of its own that deploys never restart: a SQLite-backed Durable
 * Object per database. Only Bosun's binding service and operations call it (admin token).
 */
export const sqlStorageModule = `
import { DurableObject } from "cloudflare:workers";
const meta = (cursor, started) => ({ rows_read: cursor.rowsRead, rows_written: cursor.rowsWritten, duration: Date.now() - started, changes: cursor.rowsWritten });
export class SqlDb extends DurableObject {
  run(statements, mode) {
    const sql = this.ctx.storage.sql;
    return statements.map(({ sql: text, params }) => {
      const started = Date.now();
      const cursor = sql.exec(text, ...(params || []));
      if (mode === "raw") { const rows = [...cursor.raw()]; return { columns: cursor.columnNames, rows, meta: meta(cursor, started) }; }
      const results = cursor.toArray();
      return { success: true, results, meta: meta(cursor, started) };
    });
  }
  async query(statements, mode, atomic) {
    if (atomic) return this.ctx.storage.transactionSync(() => this.run(statements, mode));
    return this.run(statements, mode);
  }
  async exec(text) {
    const started = Date.now();
    const cursor = this.ctx.storage.sql.exec(text);
    cursor.toArray();
    return { count: 1, duration: Date.now() - started };
  }
  async tables() {
    return this.ctx.storage.sql.exec("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' ORDER BY name").toArray();
  }
  async drop() { await this.ctx.storage.deleteAll(); return true; }
}
export default {
  async fetch(req, env) {
    if (req.headers.get("x-bosun-admin") !== env.ADMIN) return new Response("forbidden", { status: 403 });
    if (req.headers.get("x-bosun-target") === "_health") return new Response("ok");
    const { database, op, args } = await req.json();
    const stub = env.DB.get(env.DB.idFromName(database));
    try {
      let result;
      if (op === "query") result = await stub.query(args.statements, args.mode, args.atomic);
      else if (op === "exec") result = await stub.exec(args.sql);
      else if (op === "tables") result = await stub.tables();
      else if (op === "drop") result = await stub.drop();
      else return Response.json({ error: { message: "unknown op" } }, { status: 400 });
      return Response.json({ result });
    } catch (err) {
      return Response.json({ error: { message: String(err && err.message || err) } }, { status: 400 });
    }
  },
};
`;
