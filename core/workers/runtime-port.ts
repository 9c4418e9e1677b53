// The port between cron (core/workers/cron.ts) and the workers runtime: cron decides when a worker's `scheduled`
// handler runs and records the run; the runtime (registered on the platform as `workersRuntime`) runs it. Without a
// registered runtime a due run is recorded as failed, never a crash.

/** One line a worker logged (console.*) or an uncaught exception, during the invocation. */
export interface WorkerLogLine {
  level: string;
  message: string;
  /** ISO 8601, when the runtime knows it. */
  at?: string;
}

export interface ScheduledInvocation {
  projectId: string;
  workerName: string;
  /** The trigger's expression, as Cloudflare's `controller.cron`. */
  cron: string;
  /** The due time this run is for, as Cloudflare's `controller.scheduledTime`. */
  scheduledTime: Date;
}

export interface ScheduledResult {
  ok: boolean;
  durationMs: number;
  logs: WorkerLogLine[];
  /** Why it failed (an exception's message, no such worker, a limit): null when ok. */
  error: string | null;
}

export interface WorkersRuntime {
  /** Invokes the worker's `scheduled` handler once and answers how it went; throws only for a runtime fault. */
  runScheduled(invocation: ScheduledInvocation): Promise<ScheduledResult>;
}
