// BosunError → HTTP, in one place: status, `{ error: { code, message, ...details } }`, and the headers
// some codes carry (Retry-After on 429, WWW-Authenticate on 401).
import type { Context } from "hono";
import { toBosunError } from "../core/kernel/errors.ts";

/** An error's answer as parts: the REST routes write it with their own plain headers (routes.ts). */
export function errorParts(err: unknown): { status: number; body: string; headers: Record<string, string> } {
  const error = toBosunError(err);
  const headers: Record<string, string> = {};
  if (error.code === "rate_limited") headers["retry-after"] = String(error.details.retry_after ?? 1);
  if (error.code === "unauthorized") headers["www-authenticate"] = 'Bearer realm="bosun"';
  return { status: error.status, body: JSON.stringify({ error: error.toJSON() }), headers };
}

export function errorResponse(c: Context, err: unknown): Response {
  const { status, body, headers } = errorParts(err);
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  return c.body(body, status as 400, { "Content-Type": "application/json" });
}
