// The load generator of `npm run bench`, run in its own worker thread so it does not share an event loop
// with the servers it measures. Closed loop: `concurrency` clients, each sending its next request as soon
// as the previous answer has been read, over keep-alive connections kept between runs. The parent sends
// { ms, measure } to run for ms milliseconds and gets back what was measured; { stop: true } ends it.
// Plain JavaScript so a worker can load it without a TypeScript loader.
import http from "node:http";
import { parentPort, workerData } from "node:worker_threads";

const { url, method, headers, body, expect, concurrency, timeoutMs } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
const payload = body === undefined ? undefined : Buffer.from(body);
const requestHeaders = { ...headers, ...(payload ? { "Content-Length": String(payload.length) } : {}) };

function once() {
  return new Promise((resolve) => {
    const started = performance.now();
    const fail = (err) => resolve({ ok: false, status: 0, ms: performance.now() - started, sample: String(err) });
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method,
        headers: requestHeaders,
        agent,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const ok =
            res.statusCode === 200 && expect.every((s) => text.includes(s)) && !text.includes('"isError":true');
          resolve({
            ok,
            status: res.statusCode,
            ms: performance.now() - started,
            sample: ok ? undefined : text.slice(0, 300),
          });
        });
        res.on("error", fail);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", fail);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Runs the closed loop for ms milliseconds; requests started in time are waited for. */
async function run(ms) {
  const until = performance.now() + ms;
  const results = [];
  const client = async () => {
    while (performance.now() < until) results.push(await once());
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  return { results, seconds: (performance.now() - start) / 1000 };
}

parentPort.on("message", async (msg) => {
  if (msg.stop) {
    agent.destroy();
    parentPort.close();
    return;
  }
  const { results, seconds } = await run(msg.ms);
  const failures = results.filter((r) => !r.ok);
  parentPort.postMessage({
    ok: results.length - failures.length,
    failures: failures.length,
    seconds,
    latencies: msg.measure ? results.map((r) => r.ms) : [],
    failureSample: failures[0] ? `${failures[0].status} ${failures[0].sample}` : undefined,
  });
});
