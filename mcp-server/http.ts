// Streamable HTTP at /mcp, stateless: each POST is authenticated, gets a server built for its principal and
// view (query: read_only, project, toolsets, mode), and is answered on its own. Nothing is kept between
// requests, so any process behind a load balancer can answer, and a revoked token fails on its next request.
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { BosunError, unauthorized } from "../core/errors.ts";
import type { Platform } from "../core/platform.ts";
import { errorResponse } from "../openapi/http-errors.ts";
import { MAX_JSON_BODY, principalFor } from "../openapi/request.ts";
import { createMcpServer } from "./server.ts";
import { parseView, tagsOf } from "./view.ts";

export interface McpHttpOptions {
  /** Host header values accepted (DNS-rebinding guard), e.g. `127.0.0.1:8787`; set when bound to a loopback address. */
  allowedHosts?: string[];
}

/**
 * A web page on another site can make a browser send requests to a loopback server by rebinding its own name
 * to 127.0.0.1: its Host (and Origin) then name the attacker's site. Only the names we answer to are accepted.
 */
function checkHostAndOrigin(c: Context, allowedHosts: string[]) {
  // HTTP/2 has no Host header but :authority, which the server puts in the URL (as it does the Host header).
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  if (!allowedHosts.includes(host)) throw new BosunError("forbidden", `host '${host}' is not allowed`);
  const origin = c.req.header("origin");
  if (origin === undefined) return; // not a browser: nothing to rebind
  let originHost = "";
  try {
    originHost = new URL(origin).host;
  } catch {
    /* "null" or garbage: refused below */
  }
  if (!allowedHosts.includes(originHost)) throw new BosunError("forbidden", `origin '${origin}' is not allowed`);
}

/**
 * Stateless: there is no session to stream server-initiated messages on (GET) or to end (DELETE). The spec
 * lets a server answer 405, and SDK clients then carry on with POST alone.
 */
const methodNotAllowed = () =>
  new Response(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this server is stateless; use POST." }, id: null }), {
    status: 405,
    headers: { Allow: "POST", "Content-Type": "application/json" },
  });

export function mountMcp(app: Hono, platform: Platform, options: McpHttpOptions = {}) {
  const knownTags = tagsOf(platform.operations.operations);

  app.use("/mcp", async (c, next) => {
    try {
      if (options.allowedHosts) checkHostAndOrigin(c, options.allowedHosts);
    } catch (err) {
      return errorResponse(c, err);
    }
    await next();
  });
  app.use(
    "/mcp",
    bodyLimit({
      maxSize: MAX_JSON_BODY,
      onError: (c) => errorResponse(c, new BosunError("payload_too_large", `the body is over ${MAX_JSON_BODY} bytes`)),
    }),
  );

  app.all("/mcp", async (c) => {
    try {
      const principal = await principalFor(c, platform, "mcp");
      if (!principal.credential) throw unauthorized();
      if (c.req.method !== "POST") return methodNotAllowed();
      const view = parseView(c.req.query(), knownTags);
      const server = createMcpServer(platform, principal, view, c.get("requestId"));
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await server.connect(transport);
      // The client went away: closing the server aborts the handlers still running (their ctx.signal).
      c.req.raw.signal.addEventListener("abort", () => void server.close(), { once: true });
      return await transport.handleRequest(c.req.raw);
    } catch (err) {
      return errorResponse(c, err);
    }
  });
}
