// GET /v1/projects/{project}/agent/runs/{run_id}/events/stream — a run's events as Server-Sent Events, from the
// stored event log, so a client on any node can follow a run that a worker on another node executes. Every
// read goes through the invoker (list_agent_run_events), so a revoked token or lost access ends the stream.
import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { RUN_EVENT_TOPIC } from "../core/agent/runs.ts";
import { invoke } from "../core/kernel/invoker.ts";
import type { Principal } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { errorResponse } from "./http-errors.ts";
import { principalFor } from "./request.ts";

const FINISHED = new Set(["done", "failed", "cancelled"]);
/** list_agent_run_events' page size: a full page may have more behind it. */
const PAGE = 500;
/** A poll even without a wake-up (a NOTIFY can be missed while a connection is re-established). */
const POLL_MS = 2_000;
/** Streams are bounded; a client reconnects with Last-Event-ID to go on. */
const MAX_STREAM_MS = 30 * 60_000;

type Page = { run: { status: string }; events: { id: string; type: string; data: unknown }[] };

type Waiters = Map<string, Set<() => void>>;
const waitersOf = new WeakMap<Platform, Waiters>();

/** One listener per platform wakes every stream of a run (REST's and the console's). */
function waitersFor(platform: Platform): Waiters {
  let waiters = waitersOf.get(platform);
  if (!waiters) {
    const fresh: Waiters = new Map();
    platform.notifier.on(RUN_EVENT_TOPIC, (payload) => {
      for (const wake of fresh.get(payload.split(":")[0]!) ?? []) wake();
    });
    waitersOf.set(platform, (waiters = fresh));
  }
  return waiters;
}

export function mountRunStream(app: Hono, platform: Platform) {
  waitersFor(platform);
  app.get("/v1/projects/:project/agent/runs/:run_id/events/stream", (c) =>
    streamRunEvents(
      c,
      platform,
      () => principalFor(c, platform, "rest"),
      c.req.param("project"),
      c.req.param("run_id"),
    ),
  );
}

/**
 * A run's events as SSE for any surface that resolves its own principal (a bearer token on REST, the session
 * cookie in the console); every read is list_agent_run_events through the invoker.
 */
export async function streamRunEvents(
  c: Context,
  platform: Platform,
  principalOf: () => Promise<Principal>,
  project: string,
  run_id: string,
): Promise<Response> {
  const waiters = waitersFor(platform);
  let after = c.req.header("last-event-id") ?? c.req.query("after");
  if (after !== undefined && !/^\d+$/.test(after)) after = undefined;
  const read = async () => {
    const principal = await principalOf();
    return (await invoke(
      platform,
      "list_agent_run_events",
      { project, run_id, ...(after ? { after } : {}) },
      principal,
      { requestId: c.get("requestId") },
    )) as Page;
  };
  let first: Page;
  try {
    first = await read(); // refused before any stream starts: a normal JSON error
  } catch (err) {
    return errorResponse(c, err);
  }
  // Before the stream's response is made: the app adds it to /v1 answers only after, which rebuilds a response.
  c.header("X-Request-Id", c.get("requestId"));
  return streamSSE(c, async (stream) => {
    const deadline = Date.now() + MAX_STREAM_MS;
    let page: Page | null = first;
    let wake: () => void = () => {};
    let woken = false; // an event arrived while we were reading or writing: do not wait for the next one
    const listeners = waiters.get(run_id) ?? new Set();
    waiters.set(run_id, listeners);
    const onWake = () => {
      woken = true;
      wake();
    };
    listeners.add(onWake);
    stream.onAbort(() => wake());
    try {
      while (!stream.aborted && Date.now() < deadline) {
        for (const e of page.events) {
          await stream.writeSSE({ id: e.id, event: e.type, data: JSON.stringify(e.data) });
          after = e.id;
        }
        // A run's end and its run_finished event commit together, so a finished run's page holds its last events.
        if (FINISHED.has(page.run.status) && page.events.length < PAGE) break;
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, POLL_MS);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
        woken = false;
        if (stream.aborted) break;
        try {
          page = await read();
        } catch (err) {
          const e = err as { code?: string; message?: string };
          await stream.writeSSE({
            event: "error",
            data: JSON.stringify({ code: e.code ?? "internal", message: e.message ?? "error" }),
          });
          break;
        }
      }
    } finally {
      listeners.delete(onWake);
      if (!listeners.size) waiters.delete(run_id);
    }
  });
}
