// Workers' limits on real workerd: memory (V8's heap limit per isolate, the RSS watchdog per process) and
// subrequests per invocation.
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { memoryWorkerResources } from "../../testkit/worker-resources.ts";
import { credit } from "../billing/ledger.ts";

let t: TestPlatform;
let token: string;

beforeAll(async () => {
  t = await startTestPlatform({
    config: {
      workersRequestTimeoutMs: 10_000,
      workersMemoryMb: 32,
      workersProcessMemoryMb: 400,
      workersSubrequests: 8,
    },
    workerResources: memoryWorkerResources({ kv: ["cache"] }),
  });
  const owner = await t.account();
  token = await owner.token(["*"]);
  await credit(t.platform.db, { accountId: owner.id, pool: "wallet", amount: 10_000_000, reason: "top_up" });
  await t.request("POST", "/v1/projects", { token, body: { slug: "lim", name: "lim", kind: "site" } });
  expect((await deploy("calm", `export default { fetch() { return new Response("calm"); } };`)).status).toBe(201);
}, 60_000);
afterAll(() => t?.close());

const visit = async (worker: string, path = "/") => {
  const res = await t.platform.workers.serve("lim", worker, new Request(`http://${worker}.lim.localhost${path}`));
  return { status: res.status, text: await res.text() };
};

const deploy = (worker: string, code: string, extra: Record<string, unknown> = {}) =>
  t.request("POST", `/v1/projects/lim/workers/${worker}/deployments`, {
    token,
    body: { modules: [{ name: "index.js", content: code }], main_module: "index.js", ...extra },
  });

/** The worker's newest invocation once it is written (the proxy's record waits for a tail event that a crash loses). */
const lastInvocation = async (worker: string) => {
  for (let i = 0; i < 150; i++) {
    const logs = await t.request("GET", `/v1/projects/lim/workers/${worker}/logs`, { token });
    if (logs.body.items.length) return logs.body.items[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
};

/** Another worker answers again once the runtime has restarted (a bounded number of tries). */
const servesAgain = async () => {
  for (let i = 0; i < 100; i++) {
    const r = await visit("calm");
    if (r.status === 200) return r.text;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
};

it("a worker allocating JS heap without bound is answered 503 memory limit, logged exceededMemory, and the runtime restarts", async () => {
  const hog = `const keep = []; export default { fetch() { for (;;) keep.push(new Array(1e5).fill(1.5)); } };`;
  expect((await deploy("heaphog", hog)).status).toBe(201);
  const r = await visit("heaphog");
  expect(r.status).toBe(503);
  expect(r.text).toContain("memory limit");
  expect(await servesAgain()).toBe("calm");
  const inv = await lastInvocation("heaphog");
  expect(inv.outcome).toBe("exceededMemory");
  expect(inv.exceptions[0].message).toContain("passed its 32 MB heap limit");
}, 60_000);

it("memory outside the JS heap (array buffers) is caught by the RSS watchdog: 503 memory limit, runtime recycled", async () => {
  // 16 MB at a time, never freed: the heap limit does not see it, the process's resident memory does.
  const hog = `const keep = []; export default { async fetch() {
    for (let i = 0; i < 400; i++) { const b = new Uint8Array(16 << 20); b.fill(7); keep.push(b); await scheduler.wait(20); }
    return new Response("survived " + keep.length);
  } };`;
  expect((await deploy("bufhog", hog)).status).toBe(201);
  const r = await visit("bufhog");
  expect(r.status).toBe(503);
  expect(r.text).toContain("memory limit");
  expect(await servesAgain()).toBe("calm");
  const inv = await lastInvocation("bufhog");
  expect(inv.outcome).toBe("exceededMemory");
  // The watchdog's kill, not V8's heap limit: array buffers live outside the heap.
  expect(inv.exceptions[0].message).toContain("passed its 400 MB memory ceiling");
}, 60_000);

// Ten fetches to a refused private address: each reaches the binding service (and counts) and answers 403.
const tenFetches = `export default { async fetch(req) {
  const seen = [];
  for (let i = 0; i < 10; i++) {
    try { seen.push((await fetch("http://127.0.0.1:9/", { headers: { "x-bosun-invocation": "forged" } })).status); }
    catch (e) { seen.push(e.message); }
  }
  return Response.json(seen);
} };`;

it("subrequests: past the limit per invocation a fetch throws Too many subrequests, it is logged, and the next invocation starts afresh", async () => {
  expect((await deploy("fetcher", tenFetches)).status).toBe(201);
  for (const _ of [1, 2]) {
    const r = await visit("fetcher");
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.text);
    // A header the customer sets does not replace the invocation id: the first 8 count as usual.
    expect(seen.slice(0, 8)).toEqual(Array(8).fill(403));
    expect(seen[8]).toMatch(/^Too many subrequests: an invocation may make 8/);
    expect(seen[9]).toMatch(/^Too many subrequests/);
  }
  const inv = await lastInvocation("fetcher");
  expect(inv.exceptions.map((e: { message: string }) => e.message).join("\n")).toContain("Too many subrequests");
}, 60_000);

it("subrequests: binding calls count too, and a deploy's limits.subrequests lowers the limit", async () => {
  const code = `export default { async fetch() {
    const out = [];
    for (let i = 0; i < 3; i++) { try { await env_.CACHE.put("k" + i, "v"); out.push("put"); } catch (e) { out.push(e.message); } }
    try { out.push((await fetch("http://127.0.0.1:9/")).status); } catch (e) { out.push(e.message); }
    return Response.json(out);
  } };`.replace("export default { async fetch() {", "let env_; export default { async fetch(req, env) { env_ = env;");
  const res = await deploy("kvuser", code, {
    bindings: [{ name: "CACHE", type: "kv", resource: "cache" }],
    limits: { subrequests: 2 },
  });
  expect(res.status).toBe(201);
  const out = JSON.parse((await visit("kvuser")).text);
  expect(out.slice(0, 2)).toEqual(["put", "put"]);
  expect(out[2]).toMatch(/^Too many subrequests: an invocation may make 2/);
  expect(out[3]).toMatch(/^Too many subrequests/);
  const bad = await deploy("kvuser", code, { limits: { subrequests: 0 } });
  expect(bad.status).toBe(400);
}, 60_000);

it("subrequests: code in the isolate cannot start an invocation of its own (a forged id is refused, not counted afresh)", async () => {
  const code = `import { enter } from "bosun:invocation";
  export default { async fetch() {
    try { await enter("forged", () => fetch("http://127.0.0.1:9/")); return new Response("escaped"); }
    catch (e) { return new Response(e.message); }
  } };`;
  expect((await deploy("forger", code)).status).toBe(201);
  expect(await visit("forger")).toEqual({ status: 200, text: "subrequest outside of a running invocation" });
  // Nor outside any invocation: the binding service without an id refuses.
  const port = t.platform.workers.bindingServicePort;
  const direct = await fetch(`http://127.0.0.1:${port}/kv`, { method: "POST", body: "{}" });
  expect(direct.status).toBe(401);
}, 60_000);

it("subrequests: a scheduled run has its own count, and its handler sees the cron as given", async () => {
  const code = `export default {
    fetch() { return new Response("x"); },
    async scheduled(controller) {
      console.log("cron", controller.cron);
      for (let i = 0; i < 10; i++) await fetch("http://127.0.0.1:9/");
    },
  };`;
  expect((await deploy("ticker", code)).status).toBe(201);
  const project = await t.platform.db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", "lim")
    .executeTakeFirstOrThrow();
  const run = await t.platform.workers.runScheduled({
    projectId: project.id,
    workerName: "ticker",
    cron: "*/5 * * * *",
    scheduledTime: new Date(),
  });
  expect(run.ok).toBe(false);
  expect(run.error).toContain("Too many subrequests");
  expect(run.logs[0]?.message).toBe("cron */5 * * * *");
}, 60_000);
