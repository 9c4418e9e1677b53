// BosunError → HTTP, in one place: status, `{ error: { code, message, ...details } }`, and the headers
// some codes carry (Retry-After on 429, WWW-Authenticate on 401).
import type { Context } from "hono";
import { toBosunError } from "../core/kernel/errors.ts";

export function errorResponse(c: Context, err: unknown): Response {
  const error = toBosunError(err);
  if (error.code === "rate_limited") c.header("Retry-After", String(error.details.retry_after ?? 1));
  if (error.code === "unauthorized") c.header("WWW-Authenticate", 'Bearer realm="bosun"');
  return c.json({ error: error.toJSON() }, error.status as 400);
}
