// Mounts the MCP Streamable HTTP endpoint at /mcp: Host/Origin guard, body limit, bearer auth, then the
// mcp-server handler. Errors before the MCP layer answer like REST errors; a 401 names the OAuth metadata.
import type { Hono } from "hono";
import { BosunError, unauthorized } from "../core/kernel/errors.ts";
import type { Platform } from "../core/platform.ts";
import { checkHostAndOrigin, mcpHttpHandler } from "../mcp-server/http.ts";
import { errorResponse } from "./http-errors.ts";
import { mcpChallenge, mcpResourceUrl } from "./oauth.ts";
import { boundedBody, MAX_JSON_BODY, principalFor } from "./request.ts";

export interface McpHttpOptions {
  /** Host header values accepted (DNS-rebinding guard), e.g. `127.0.0.1:8787`; set when bound to a loopback address. */
  allowedHosts?: string[];
}

export function mountMcp(app: Hono, platform: Platform, options: McpHttpOptions = {}) {
  const handle = mcpHttpHandler(platform);
  const { allowedHosts } = options;

  if (allowedHosts) {
    app.use("/mcp", async (c, next) => {
      try {
        checkHostAndOrigin(c.req.header("host") ?? new URL(c.req.url).host, c.req.header("origin"), allowedHosts);
      } catch (err) {
        return errorResponse(c, err);
      }
      await next();
    });
  }
  app.use(
    "/mcp",
    boundedBody({
      maxSize: MAX_JSON_BODY,
      onError: (c) => errorResponse(c, new BosunError("payload_too_large", `the body is over ${MAX_JSON_BODY} bytes`)),
    }),
  );
  app.all("/mcp", async (c) => {
    try {
      const principal = await principalFor(c, platform, "mcp");
      if (!principal.credential) throw unauthorized();
      // An OAuth token is good only at the resource it was issued for (RFC 8707).
      const audience = principal.credential.kind === "token" ? principal.credential.audience : undefined;
      if (audience && audience !== mcpResourceUrl(c, platform))
        throw unauthorized(`this token was issued for ${audience}, not this endpoint`);
      const res = await handle(c.req.raw, principal, c.get("requestId"));
      // Set here, on the response's own headers: the app's c.header() after a handler's Response rebuilds it
      // around a stream (http/app.ts), a copy that cost more than the rest of a tools/call's answer.
      res.headers.set("X-Request-Id", c.get("requestId"));
      return res;
    } catch (err) {
      const res = errorResponse(c, err);
      // Where an MCP client starts OAuth discovery (RFC 9728 §5.1, the MCP authorization spec).
      if (res.status === 401)
        res.headers.set("WWW-Authenticate", mcpChallenge(c, platform, !!c.req.header("authorization")));
      return res;
    }
  });
}
