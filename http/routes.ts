// REST: one route per operation under /v1, all through the invoker. No behaviour lives here.
import type { Context, Hono } from "hono";
import { type InvokeOptions, invoke } from "../core/kernel/invoker.ts";
import type { Operation } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { errorParts } from "./http-errors.ts";
import { inputFor, principalFor, rawBodyFor } from "./request.ts";

type Meta = NonNullable<InvokeOptions["meta"]>;

/**
 * A REST answer with its headers as a plain object (lowercase names, as a Headers object would give them):
 * @hono/node-server writes such an object as is, where Hono's c.header()/c.json() build a Headers object that it
 * then copies and sorts back into one — together the largest share of what REST spent over a bare route. The
 * app's middleware leaves X-Request-Id to these answers (see `ownHeaders` in app.ts).
 */
function answer(
  c: Context,
  meta: Meta,
  status: number,
  body: string | Uint8Array,
  headers: Record<string, string>,
): Response {
  headers["x-request-id"] = c.get("requestId");
  const rl = meta.rateLimit;
  if (rl) {
    headers["x-ratelimit-limit"] = String(rl.limit);
    headers["x-ratelimit-remaining"] = String(rl.remaining);
    headers["x-ratelimit-reset"] = String(rl.reset);
  }
  c.set("ownHeaders", true);
  return new Response(body as BodyInit, { status, headers });
}

export function mountOperations(app: Hono, platform: Platform) {
  for (const op of platform.operations.operations) {
    if (op.surfaces && !op.surfaces.includes("rest")) continue;
    const path = `/v1${op.http.path.replace(/\{(\w+)\}/g, ":$1")}`;
    app.on(op.http.method.toUpperCase(), path, (c) => handle(c, platform, op));
  }
}

async function handle(c: Context, platform: Platform, op: Operation): Promise<Response> {
  const meta: Meta = {};
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
    const status = op.http.status ?? 200;
    const produces = op.http.produces;
    if (produces) {
      const out = output as Record<string, unknown>;
      const type = produces.typeField ? out[produces.typeField] : undefined;
      const headers: Record<string, string> = { "content-type": typeof type === "string" ? type : produces.type };
      const filename = produces.filename ? out[produces.filename] : undefined;
      if (typeof filename === "string") headers["content-disposition"] = `attachment; filename="${filename}"`;
      const field = String(out[produces.field]);
      return answer(c, meta, status, produces.base64 ? Buffer.from(field, "base64") : field, headers);
    }
    return answer(c, meta, status, JSON.stringify(output), { "content-type": "application/json" });
  } catch (err) {
    const { status, body, headers } = errorParts(err);
    headers["content-type"] = "application/json";
    return answer(c, meta, status, body, headers);
  }
}
