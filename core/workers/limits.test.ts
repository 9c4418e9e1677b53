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
  expect(inv.exceptions[0].message).toContain("ran out of memory");
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
  expect((await lastInvocation("bufhog")).outcome).toBe("exceededMemory");
}, 60_000);
