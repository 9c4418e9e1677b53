// Runner workers: lease run jobs from the Postgres queue, heartbeat the lease while a run executes, and let
// go of it when the run finishes, parks on an approval, or fails. Any number of processes may run workers
// on one database; a crashed worker's lease expires and another worker resumes its run from the checkpoint.
import { finishRunJob, heartbeatRunJob, type Job, leaseRunJob } from "../core/agent/run-state.ts";
import { finishRun } from "../core/agent/runs.ts";
import { workerId } from "../core/jobs/queue.ts";
import { executeRun, type RunnerDeps } from "./loop.ts";

export interface WorkerOptions {
  concurrency: number;
  /** How long a lease lasts without a heartbeat; a crashed worker's run resumes elsewhere after this. */
  leaseMs?: number;
  /** How often an idle worker looks for work. */
  pollMs?: number;
  /** Attempts before a run whose execution keeps throwing is failed. */
  maxAttempts?: number;
}

export class RunWorkers {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly inFlight = new Set<AbortController>();
  readonly id = workerId("runner");

  constructor(
    private readonly deps: RunnerDeps,
    private readonly options: WorkerOptions,
  ) {}

  start(): this {
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop(`${this.id}#${i}`));
    return this;
  }

  /** Stops leasing; runs in flight are abandoned at their next checkpoint (their leases expire and resume elsewhere). */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.inFlight) c.abort(new Error("runner stopping"));
    await Promise.all(this.loops);
  }

  private async loop(owner: string): Promise<void> {
    const leaseMs = this.options.leaseMs ?? 30_000;
    const pollMs = this.options.pollMs ?? 250;
    while (!this.stopping) {
      let job: Job | null = null;
      try {
        job = await leaseRunJob(this.deps.platform, owner, leaseMs);
      } catch (err) {
        this.deps.log.warn({ err }, "leasing a run failed");
      }
      if (!job) {
        await sleep(pollMs);
        continue;
      }
      await this.runJob(job, leaseMs);
    }
  }

  private async runJob(job: Job, leaseMs: number): Promise<void> {
    const { platform, log } = this.deps;
    const runId = String(job.payload.run_id);
    const abort = new AbortController();
    this.inFlight.add(abort);
    let leased = true;
    const beat = setInterval(
      () => {
        heartbeatRunJob(platform, job, leaseMs)
          .then((ok) => {
            if (!ok) {
              leased = false;
              abort.abort(new Error("lease lost"));
            }
          })
          .catch((err) => log.warn({ err, runId }, "heartbeat failed"));
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    try {
      const outcome = await executeRun(this.deps, runId, () => leased && !this.stopping, abort.signal);
      // A lost lease belongs to another worker now. Stopping hands the run back at once. Anything else ends this
      // job (an approval queues a new one).
      if (outcome !== "lease lost") await finishRunJob(platform, job, { state: "done" });
      else if (leased) await finishRunJob(platform, job, { state: "retry", afterMs: 0 });
    } catch (err) {
      // A bug or a database outage mid-run: retry the run from its checkpoint a few times, then fail it.
      log.error({ err, runId, attempt: job.attempts }, "agent run step failed");
      if (job.attempts >= (this.options.maxAttempts ?? 3)) {
        await finishRun(platform, runId, ["running", "queued"], "failed", {
          code: "internal",
          message: "the run failed repeatedly; see the server log",
        }).catch(() => {});
        await finishRunJob(platform, job, { state: "failed", error: String((err as Error).message) }).catch(() => {});
      } else {
        await finishRunJob(platform, job, {
          state: "retry",
          afterMs: 1000 * 2 ** job.attempts,
          error: String((err as Error).message),
        }).catch(() => {});
      }
    } finally {
      clearInterval(beat);
      this.inFlight.delete(abort);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
