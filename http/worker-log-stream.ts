// GET /v1/projects/{project}/workers/{worker}/logs/stream — a worker's invocations as Server-Sent Events, like the
// agent run stream (run-stream.ts). Each read is tail_worker_logs through the invoker (its long-poll does the
// waiting), so a revoked token or lost access ends the stream; MCP and the CLI keep calling the long-poll itself.
import type { Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { invoke } from "../core/kernel/invoker.ts";
import type { Platform } from "../core/platform.ts";
import { errorResponse } from "./http-errors.ts";
import { principalFor } from "./request.ts";

/** Streams are bounded; a client reconnects with Last-Event-ID to go on. */
const MAX_STREAM_MS = 30 * 60_000;
/** Each long-poll's wait: short enough that an idle stream notices its client left, and sends a comment. */
const WAIT_SECONDS = 15;

type Page = { items: { id: string }[]; cursor: string | null };

export function mountWorkerLogStream(app: Hono, platform: Platform) {
  app.get("/v1/projects/:project/workers/:worker/logs/stream", (c) => streamWorkerLogs(c, platform));
}

async function streamWorkerLogs(c: Context, platform: Platform): Promise<Response> {
  const project = c.req.param("project");
  const worker = c.req.param("worker");
  let cursor: string | undefined = c.req.header("last-event-id") ?? c.req.query("cursor");
  if (cursor !== undefined && !/^\d+$/.test(cursor)) cursor = undefined;
  const stop = new AbortController();
  const read = async (wait: number) =>
    (await invoke(
      platform,
      "tail_worker_logs",
      { project, worker, wait_seconds: wait, ...(cursor ? { cursor } : {}) },
      await principalFor(c, platform, "rest"),
      { requestId: c.get("requestId"), signal: stop.signal },
    )) as Page;
  let first: Page;
  try {
    first = await read(0); // refused before any stream starts: a normal JSON error
  } catch (err) {
    return errorResponse(c, err);
  }
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => stop.abort());
    const deadline = Date.now() + MAX_STREAM_MS;
    let page: Page = first;
    while (!stream.aborted && Date.now() < deadline) {
      for (const item of page.items) {
        await stream.writeSSE({ id: item.id, event: "invocation", data: JSON.stringify(item) });
      }
      if (page.cursor) cursor = page.cursor;
      if (!page.items.length) await stream.write(": keep-alive\n\n");
      if (stream.aborted) break;
      try {
        page = await read(WAIT_SECONDS);
      } catch (err) {
        if (stream.aborted) break;
        const e = err as { code?: string; message?: string };
        await stream.writeSSE({
          event: "error",
          data: JSON.stringify({ code: e.code ?? "internal", message: e.message ?? "error" }),
        });
        break;
      }
    }
  });
}
