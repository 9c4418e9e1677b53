// Workers on real workerd: deploy → request, atomic redeploy and rollback, vars and secrets, SQL/KV/R2 bindings,
// logs and tail, CPU limit, isolation, egress.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { memoryWorkerResources } from "../../testkit/worker-resources.ts";
import { credit } from "../billing/ledger.ts";

let t: TestPlatform;
let token: string;
let ownerId: string;
const resources = memoryWorkerResources({ kv: ["cache"], bucket: ["files"] });

beforeAll(async () => {
  t = await startTestPlatform({ config: { workersRequestTimeoutMs: 1500 }, workerResources: resources });
  const owner = await t.account();
  token = await owner.token(["*"]);
  ownerId = owner.id;
  await credit(t.platform.db, { accountId: owner.id, pool: "wallet", amount: 10_000_000, reason: "top_up" });
  await t.request("POST", "/v1/projects", { token, body: { slug: "wkr", name: "wkr", kind: "site" } });
}, 60_000);
afterAll(() => t?.close());

// What the sites listener does for `{worker}.wkr.localhost` (sites-server/workers.test.ts covers the Host part).
const visit = async (worker: string, path = "/", init: RequestInit = {}) => {
  const res = await t.platform.workers.serve("wkr", worker, new Request(`http://${worker}.wkr.localhost${path}`, init));
  return { status: res.status, text: await res.text() };
};

const deploy = (worker: string, code: string, extra: Record<string, unknown> = {}) =>
  t.request("POST", `/v1/projects/wkr/workers/${worker}/deployments`, {
    token,
    body: { modules: [{ name: "index.js", content: code }], main_module: "index.js", ...extra },
  });

const hello = (word: string) => `export default { fetch() { return new Response("${word}"); } };`;

it("deploy_worker serves the worker at {worker}.{project}.localhost; get_worker and list_workers show it", async () => {
  const res = await deploy("hello", hello("one"));
  expect(res.status).toBe(201);
  expect(res.body.version.hash).toMatch(/^[0-9a-f]{64}$/);
  expect(res.body.worker.url).toContain("hello.wkr.localhost");
  expect(await visit("hello")).toEqual({ status: 200, text: "one" });
  const got = await t.request("GET", "/v1/projects/wkr/workers/hello", { token });
  expect(got.body.active_version.hash).toBe(res.body.version.hash);
  const list = await t.request("GET", "/v1/projects/wkr/workers", { token });
  expect(list.body.items.map((w: { name: string }) => w.name)).toContain("hello");
  expect((await visit("nope")).status).toBe(404);
}, 60_000);

it("a second deploy_worker goes live with no failed request under load; rollback_worker restores the first; list_worker_versions", async () => {
  const first = await deploy("flip", hello("v1"));
  let stop = false;
  const seen: string[] = [];
  const failures: number[] = [];
  const loop = async () => {
    for (let i = 0; i < 2000 && !stop; i++) {
      const r = await visit("flip");
      if (r.status !== 200) failures.push(r.status);
      else seen.push(r.text);
    }
  };
  const loops = [loop(), loop(), loop(), loop()];
  await new Promise((r) => setTimeout(r, 100));
  const second = await deploy("flip", hello("v2"));
  expect(second.status).toBe(201);
  expect(second.body.deploy_ms).toBeLessThan(10_000);
  await new Promise((r) => setTimeout(r, 100));
  stop = true;
  await Promise.all(loops);
  expect(failures).toEqual([]);
  expect(seen).toContain("v1");
  expect(seen.at(-1)).toBe("v2");
  // Once switched, never back: the answers are v1… then v2….
  expect(seen.slice(seen.indexOf("v2")).every((s) => s === "v2")).toBe(true);

  const versions = await t.request("GET", "/v1/projects/wkr/workers/flip/versions", { token });
  expect(versions.body.items).toHaveLength(2);
  const rolled = await t.request("POST", "/v1/projects/wkr/workers/flip/rollback", { token, body: {} });
  expect(rolled.status).toBe(200);
  expect(rolled.body.version.hash).toBe(first.body.version.hash);
  expect(await visit("flip")).toEqual({ status: 200, text: "v1" });
  // The same bundle again is the same version (content-addressed).
  const again = await deploy("flip", hello("v2"));
  expect(again.body.created).toBe(false);
  expect(again.body.version.id).toBe(second.body.version.id);
}, 60_000);

it("code workerd refuses fails deploy_worker and leaves the live version serving", async () => {
  await deploy("stable", hello("fine"));
  const bad = await deploy("stable", "export default { fetch( { syntax error");
  expect(bad.status).toBe(422);
  expect(await visit("stable")).toEqual({ status: 200, text: "fine" });
}, 60_000);

it("set_worker_var and set_worker_secret reach the worker; list_worker_secrets names it; the value never comes back out; delete_worker_secret and delete_worker_var remove them", async () => {
  const code = `export default { fetch(req, env) { return new Response(env.GREETING + "|" + (env.API_KEY === "s3cr3t-value-42" ? "secret-ok" : "no")); } };`;
  await deploy("env", code, { vars: { GREETING: "bundle" } });
  expect((await visit("env")).text).toBe("bundle|no");
  const v = await t.request("PUT", "/v1/projects/wkr/workers/env/vars/GREETING", { token, body: { value: "hi" } });
  expect(v.body.vars).toEqual({ GREETING: "hi" });
  const s = await t.request("PUT", "/v1/projects/wkr/workers/env/secrets/API_KEY", {
    token,
    body: { value: "s3cr3t-value-42" },
  });
  expect(s.status).toBe(200);
  expect(await visit("env")).toEqual({ status: 200, text: "hi|secret-ok" });
  const names = await t.request("GET", "/v1/projects/wkr/workers/env/secrets", { token });
  expect(names.body.items.map((i: { name: string }) => i.name)).toEqual(["API_KEY"]);
  // Rotation: set again.
  await t.request("PUT", "/v1/projects/wkr/workers/env/secrets/API_KEY", { token, body: { value: "rotated" } });
  expect((await visit("env")).text).toBe("hi|no");
  await t.request("PUT", "/v1/projects/wkr/workers/env/secrets/API_KEY", { token, body: { value: "s3cr3t-value-42" } });

  const outputs = [
    names,
    s,
    await t.request("GET", "/v1/projects/wkr/workers/env", { token }),
    await t.request("GET", "/v1/projects/wkr/workers/env/versions", { token }),
    await t.request("GET", "/v1/projects/wkr/workers/env/logs", { token }),
  ];
  for (const o of outputs) expect(JSON.stringify(o.body)).not.toContain("s3cr3t-value-42");
  await t.platform.audit.flush();
  const audit = await t.platform.db.selectFrom("audit_events").selectAll().execute();
  expect(JSON.stringify(audit)).not.toContain("s3cr3t-value-42");
  const stored = await t.platform.db.selectFrom("worker_secrets").select("value_enc").execute();
  expect(JSON.stringify(stored)).not.toContain("s3cr3t-value-42");
  const removed = await t.request("DELETE", "/v1/projects/wkr/workers/env/secrets/API_KEY", { token });
  expect(removed.body.items).toEqual([]);
  const unset = await t.request("DELETE", "/v1/projects/wkr/workers/env/vars/GREETING", { token });
  expect(unset.body.vars).toEqual({});
  expect((await visit("env")).text).toBe("bundle|no");
}, 60_000);

it("D1 calls from a worker persist and query_sql_database and list_sql_tables see them; create_sql_database, list_sql_databases, delete_sql_database", async () => {
  expect((await t.request("POST", "/v1/projects/wkr/sql-databases", { token, body: { name: "main" } })).status).toBe(
    201,
  );
  const code = `export default { async fetch(req, env) {
    await env.DB.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, path TEXT)");
    await env.DB.prepare("INSERT INTO hits (path) VALUES (?)").bind(new URL(req.url).pathname).run();
    const [count] = await env.DB.batch([env.DB.prepare("SELECT count(*) AS n FROM hits")]);
    const first = await env.DB.prepare("SELECT path FROM hits ORDER BY id").first("path");
    const raw = await env.DB.prepare("SELECT id FROM hits ORDER BY id").raw();
    return Response.json({ n: count.results[0].n, first, raw });
  } };`;
  await deploy("sql", code, { bindings: [{ name: "DB", type: "sql", resource: "main" }] });
  await visit("sql", "/a");
  const r = await visit("sql", "/b");
  expect(JSON.parse(r.text)).toEqual({ n: 2, first: "/a", raw: [[1], [2]] });
  const q = await t.request("POST", "/v1/projects/wkr/sql-databases/main/query", {
    token,
    body: { sql: "SELECT path FROM hits WHERE id > ? ORDER BY id", params: [0] },
  });
  expect(q.body.results).toEqual([{ path: "/a" }, { path: "/b" }]);
  const tables = await t.request("GET", "/v1/projects/wkr/sql-databases/main/tables", { token });
  expect(tables.body.items.map((x: { name: string }) => x.name)).toEqual(["hits"]);
  const list = await t.request("GET", "/v1/projects/wkr/sql-databases", { token });
  expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(["main"]);
  const busy = await t.request("DELETE", "/v1/projects/wkr/sql-databases/main", { token });
  expect(busy.status).toBe(409);
  await t.request("POST", "/v1/projects/wkr/sql-databases", { token, body: { name: "scratch" } });
  expect((await t.request("DELETE", "/v1/projects/wkr/sql-databases/scratch", { token })).status).toBe(200);
}, 60_000);

it("KV and bucket bindings work from a worker through the wrapped bindings", async () => {
  const code = `export default { async fetch(req, env) {
    await env.CACHE.put("greeting", "hello kv", { metadata: { by: "test" } });
    const kv = await env.CACHE.getWithMetadata("greeting");
    await env.FILES.put("a.txt", "bucket body", { customMetadata: { x: "1" } });
    const obj = await env.FILES.get("a.txt");
    const listed = await env.FILES.list();
    return Response.json({ kv: kv.value, meta: kv.metadata, body: await obj.text(), size: obj.size, keys: listed.objects.map((o) => o.key) });
  } };`;
  await deploy("res", code, {
    bindings: [
      { name: "CACHE", type: "kv", resource: "cache" },
      { name: "FILES", type: "bucket", resource: "files" },
    ],
  });
  const r = await visit("res");
  expect(JSON.parse(r.text)).toEqual({
    kv: "hello kv",
    meta: { by: "test" },
    body: "bucket body",
    size: 11,
    keys: ["a.txt"],
  });
  const bad = await deploy("res2", code, { bindings: [{ name: "CACHE", type: "kv", resource: "missing" }] });
  expect(bad.status).toBe(404);
}, 60_000);

it("console output and exceptions are captured per invocation: list_worker_logs, tail_worker_logs, get_worker_metrics", async () => {
  const code = `export default { async fetch(req) {
    const p = new URL(req.url).pathname;
    console.log("visited", p);
    if (p === "/boom") throw new Error("kaboom");
    return new Response("ok");
  } };`;
  await deploy("logs", code);
  const start = await t.request("GET", "/v1/projects/wkr/workers/logs/logs/tail", { token });
  const cursor = start.body.cursor;
  const tail = t.request(
    "GET",
    `/v1/projects/wkr/workers/logs/logs/tail?wait_seconds=10${cursor ? `&cursor=${cursor}` : ""}`,
    { token },
  );
  await new Promise((r) => setTimeout(r, 100));
  await visit("logs", "/fine");
  const tailed = await tail;
  expect(tailed.body.items[0].logs[0].message).toEqual(["visited", "/fine"]);
  expect((await visit("logs", "/boom")).status).toBe(500);
  let logs: any;
  for (let i = 0; i < 100; i++) {
    logs = await t.request("GET", "/v1/projects/wkr/workers/logs/logs?outcome=exception", { token });
    if (logs.body.items.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(logs.body.items[0].exceptions[0]).toMatchObject({ name: "Error", message: "kaboom" });
  expect(logs.body.items[0].logs[0].message).toEqual(["visited", "/boom"]);
  const m = await t.request("GET", "/v1/projects/wkr/workers/logs/metrics?period=1h", { token });
  expect(m.body.requests).toBeGreaterThanOrEqual(2);
  expect(m.body.errors).toBeGreaterThanOrEqual(1);
  expect(m.body.wall_ms.p99).toBeGreaterThan(0);
}, 60_000);

it("tail_worker_logs streams as Server-Sent Events on REST (…/logs/stream), resuming after Last-Event-ID", async () => {
  await deploy(
    "sse",
    `export default { fetch(req) { console.log("hit", new URL(req.url).pathname); return new Response("ok"); } };`,
  );
  const url = "/v1/projects/wkr/workers/sse/logs/stream";
  const stop = new AbortController();
  const res = await t.app.request(url, { headers: { Authorization: `Bearer ${token}` }, signal: stop.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = "";
  // One read in flight at a time, kept across waits: a read given up on would swallow its chunk.
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  const until = async (needle: string) => {
    for (let i = 0; i < 100 && !text.includes(needle); i++) {
      pending ??= reader.read();
      const chunk = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 200))]);
      if (!chunk) continue;
      pending = null;
      if (!chunk.done) text += new TextDecoder().decode(chunk.value);
    }
    return text.includes(needle);
  };
  await visit("sse", "/one");
  expect(await until('"/one"')).toBe(true);
  await visit("sse", "/two");
  expect(await until('"/two"')).toBe(true);
  stop.abort();
  await reader.cancel().catch(() => {});
  expect([...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual(["invocation", "invocation"]);
  const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => m[1] ?? "");
  expect(ids).toHaveLength(2);

  // Resumed after the first: the second comes again, and only it.
  const again = new AbortController();
  const resumed = await t.app.request(url, {
    headers: { Authorization: `Bearer ${token}`, "Last-Event-ID": ids[0] ?? "" },
    signal: again.signal,
  });
  const r2 = (resumed.body as ReadableStream<Uint8Array>).getReader();
  const first = new TextDecoder().decode((await r2.read()).value);
  again.abort();
  await r2.cancel().catch(() => {});
  expect(first).toContain(`id: ${ids[1]}`);
  expect(first).toContain('"/two"');
  expect(first).not.toContain('"/one"');

  // Refused before any stream starts: a normal JSON error.
  const stranger = await t.account();
  const refused = await t.app.request(url, { headers: { Authorization: `Bearer ${await stranger.token(["*"])}` } });
  expect(refused.status).toBe(404);
}, 60_000);

it("a CPU-bound loop is stopped with 503, logged, and the runtime recycled so other workers keep serving", async () => {
  await deploy("spin", `export default { fetch() { while (true) {} } };`);
  const r = await visit("spin");
  expect(r.status).toBe(503);
  expect(await visit("hello")).toEqual({ status: 200, text: "one" });
  let logs: any;
  for (let i = 0; i < 100; i++) {
    logs = await t.request("GET", "/v1/projects/wkr/workers/spin/logs", { token });
    if (logs.body.items.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(logs.body.items[0].outcome).toBe("exceededCpu");
}, 60_000);

it("isolation: the binding service refuses calls without a capability; a worker's fetch to a private address is refused", async () => {
  const port = t.platform.workers.bindingServicePort;
  const direct = await fetch(`http://127.0.0.1:${port}/kv`, {
    method: "POST",
    body: JSON.stringify({ binding: "CACHE", op: "get", args: { key: "greeting" } }),
  });
  expect(direct.status).toBe(401);
  const forged = await fetch(`http://127.0.0.1:${port}/kv`, {
    method: "POST",
    headers: { "x-bosun-cap": "guessed" },
    body: JSON.stringify({ binding: "CACHE", op: "get", args: { key: "greeting" } }),
  });
  expect(forged.status).toBe(401);
  const code = `export default { async fetch(req, env) {
    const r = await fetch("http://127.0.0.1:${port}/kv", { method: "POST", body: JSON.stringify({ binding: "CACHE", op: "get", args: { key: "greeting" } }) });
    return new Response(r.status + " " + (await r.text()));
  } };`;
  await deploy("sneaky", code);
  const r = await visit("sneaky");
  expect(r.text).toMatch(/^403 .*private or reserved address/);
  // Another worker's binding name means nothing to this one: it has none.
  const other = `export default { async fetch(req, env) { return new Response(String(env.CACHE)); } };`;
  await deploy("other", other);
  expect((await visit("other")).text).toBe("undefined");
}, 60_000);

it("runScheduled runs the worker's scheduled handler and returns its logs", async () => {
  await deploy(
    "cron",
    `export default { fetch() { return new Response("x"); }, async scheduled(ev) { console.log("tick", ev.cron); } };`,
  );
  const project = await t.platform.db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", "wkr")
    .executeTakeFirstOrThrow();
  const r = await t.platform.workers.runScheduled({
    projectId: project.id,
    workerName: "cron",
    cron: "*/5 * * * *",
    scheduledTime: new Date(),
  });
  expect(r.ok).toBe(true);
  expect(r.error).toBeNull();
  expect(r.logs[0]?.message).toBe("tick */5 * * * *"); // the runtime port joins a line's parts
}, 60_000);

it("delete_worker stops serving it; create_worker makes an empty one", async () => {
  await deploy("gone", hello("here"));
  expect((await visit("gone")).status).toBe(200);
  const del = await t.request("DELETE", "/v1/projects/wkr/workers/gone", { token });
  expect(del.body.deleted).toBe(true);
  expect((await visit("gone")).status).toBe(404);
  const created = await t.request("POST", "/v1/projects/wkr/workers", { token, body: { name: "fresh" } });
  expect(created.status).toBe(201);
  expect(created.body.active_version).toBeNull();
}, 60_000);

it("requests and CPU are charged to the owner's wallet in batches; an account that cannot pay gets 402", async () => {
  await t.platform.workers.flush();
  await t.platform.workersMeter.flush();
  const charges = await t.platform.db
    .selectFrom("ledger_entries")
    .selectAll()
    .where("account_id", "=", ownerId)
    .where("reason", "=", "workers_usage")
    .execute();
  expect(charges.length).toBeGreaterThan(0);
  expect(charges.every((c) => BigInt(c.amount) < 0n)).toBe(true);
  expect(charges.reduce((n, c) => n + Number((c.metadata as { requests: number }).requests), 0)).toBeGreaterThanOrEqual(
    2,
  );

  const poor = await t.account();
  const poorToken = await poor.token(["*"]);
  await t.request("POST", "/v1/projects", { token: poorToken, body: { slug: "poor", name: "poor", kind: "site" } });
  const dep = await t.request("POST", "/v1/projects/poor/workers/wrk/deployments", {
    token: poorToken,
    body: { modules: [{ name: "index.js", content: hello("served") }], main_module: "index.js" },
  });
  expect(dep.status).toBe(201);
  const call = () => t.platform.workers.serve("poor", "wrk", new Request("http://wrk.poor.localhost/"));
  expect((await call()).status).toBe(200);
  await new Promise((r) => setTimeout(r, 5500)); // the invocation is recorded once its tail arrives (or 5 s)
  await t.platform.workers.flush();
  await t.platform.workersMeter.flush();
  const stopped = await call();
  expect(stopped.status).toBe(402);
  expect(await stopped.text()).toContain("spending limit");
  // A top-up serves it again.
  await credit(t.platform.db, { accountId: poor.id, pool: "wallet", amount: 1_000_000, reason: "top_up" });
  await t.platform.workersMeter.flush();
  expect((await call()).status).toBe(200);
}, 60_000);
