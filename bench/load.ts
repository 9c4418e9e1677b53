// The closed-loop load generator the HTTP benches share: a worker thread (load-worker.mjs) with its own
// keep-alive connections per case, driven in rounds so that cases can take turns.
import { Worker } from "node:worker_threads";

export interface LoadCase {
  url: string;
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: string;
  /** Substrings every good answer contains. */
  expect: string[];
}

interface RunResult {
  ok: number;
  failures: number;
  seconds: number;
  latencies: number[];
  failureSample?: string;
}

export interface CaseResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  failures: number;
  failureSample?: string;
}

/** One load generator (a worker thread with its own keep-alive connections) per case. */
export class Load {
  private worker: Worker;
  private total: RunResult = { ok: 0, failures: 0, seconds: 0, latencies: [] };

  constructor(c: LoadCase, concurrency: number) {
    this.worker = new Worker(new URL("./load-worker.mjs", import.meta.url), {
      workerData: { ...c, concurrency, timeoutMs: 10_000 },
    });
  }

  /** Runs the loop for ms; a measured run counts towards the result. Bounded: fails if the worker hangs. */
  run(ms: number, measure: boolean): Promise<void> {
    const limitMs = ms + 20_000;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the load generator did not answer within ${limitMs} ms`)),
        limitMs,
      );
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      this.worker.once("error", onError);
      this.worker.once("message", (r: RunResult) => {
        clearTimeout(timer);
        this.worker.off("error", onError);
        if (measure) {
          this.total.ok += r.ok;
          this.total.failures += r.failures;
          this.total.seconds += r.seconds;
          this.total.latencies.push(...r.latencies);
        }
        this.total.failureSample ??= r.failureSample;
        resolve();
      });
      this.worker.postMessage({ ms, measure });
    });
  }

  result(): CaseResult {
    const sorted = [...this.total.latencies].sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    return {
      rps: this.total.ok / this.total.seconds,
      p50: pct(50),
      p99: pct(99),
      requests: this.total.ok + this.total.failures,
      failures: this.total.failures,
      failureSample: this.total.failureSample,
    };
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ stop: true });
    await this.worker.terminate();
  }
}
