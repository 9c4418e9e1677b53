// REST: one route per operation under /v1, all through the invoker. No behaviour lives here.
import type { Context, Hono } from "hono";
import { type InvokeOptions, invoke } from "../core/kernel/invoker.ts";
import type { Operation } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { errorResponse } from "./http-errors.ts";
import { inputFor, principalFor, rawBodyFor } from "./request.ts";

function setRateLimitHeaders(c: Context, meta: NonNullable<InvokeOptions["meta"]>) {
  const rl = meta.rateLimit;
  if (!rl) return;
  c.header("X-RateLimit-Limit", String(rl.limit));
  c.header("X-RateLimit-Remaining", String(rl.remaining));
  c.header("X-RateLimit-Reset", String(rl.reset));
}

export function mountOperations(app: Hono, platform: Platform) {
  for (const op of platform.operations.operations) {
    if (op.surfaces && !op.surfaces.includes("rest")) continue;
    const path = `/v1${op.http.path.replace(/\{(\w+)\}/g, ":$1")}`;
    app.on(op.http.method.toUpperCase(), path, (c) => handle(c, platform, op));
  }
}

async function handle(c: Context, platform: Platform, op: Operation): Promise<Response> {
  const meta: NonNullable<InvokeOptions["meta"]> = {};
  try {
    const principal = await principalFor(c, platform, "rest");
    const body = rawBodyFor(op, c);
    const input = await inputFor(op, c, !!body);
    const output = await invoke(platform, op, input, principal, {
      requestId: c.get("requestId"),
      idempotencyKey: c.req.header("idempotency-key"),
      // Read only if the handler asks (see Context.signal): @hono/node-server makes the signal on first access.
      get signal() {
        return c.req.raw.signal;
      },
      meta,
      ...(body ? { body } : {}),
    });
    setRateLimitHeaders(c, meta);
    const produces = op.http.produces;
    if (produces) {
      const out = output as Record<string, unknown>;
      const type = produces.typeField ? out[produces.typeField] : undefined;
      const headers: Record<string, string> = { "Content-Type": typeof type === "string" ? type : produces.type };
      const filename = produces.filename ? out[produces.filename] : undefined;
      if (typeof filename === "string") headers["Content-Disposition"] = `attachment; filename="${filename}"`;
      const field = String(out[produces.field]);
      return c.body(produces.base64 ? Buffer.from(field, "base64") : field, (op.http.status ?? 200) as 200, headers);
    }
    return c.json(output as object, (op.http.status ?? 200) as 200);
  } catch (err) {
    setRateLimitHeaders(c, meta);
    return errorResponse(c, err);
  }
}
