// Streamable HTTP, stateless: each POST gets a server built for its principal and view (query: read_only,
// project, toolsets, mode, output_schema) and is answered on its own. Nothing is kept between requests but
// the calls still running (so a cancellation can find them, cancel.ts), so any process behind a load balancer
// can answer, and a revoked token fails on its next request. Authentication, body
// limits and error mapping belong to the HTTP app that mounts this (http/mcp-route.ts).
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  CallToolRequestSchema,
  type JSONRPCResultResponse,
  ListToolsRequestSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import { BosunError } from "../core/kernel/errors.ts";
import type { Principal } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { InFlightCalls } from "./cancel.ts";
import { createMcpServer, mcpTools } from "./server.ts";
import { type McpView, parseView, tagsOf } from "./view.ts";

/**
 * A web page on another site can make a browser send requests to a loopback server by rebinding its own name
 * to 127.0.0.1: its Host (and Origin) then name the attacker's site. Only the names we answer to are accepted.
 * `host` is the Host header, or (HTTP/2, no Host) the URL's authority.
 */
export function checkHostAndOrigin(host: string, origin: string | undefined, allowedHosts: readonly string[]) {
  if (!allowedHosts.includes(host)) throw new BosunError("forbidden", `host '${host}' is not allowed`);
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
  new Response(
    JSON.stringify({
      jsonrpc: "2.0",
      error: { code: -32000, message: "Method not allowed: this server is stateless; use POST." },
      id: null,
    }),
    {
      status: 405,
      headers: { Allow: "POST", "Content-Type": "application/json" },
    },
  );

/** Answers one MCP HTTP request for an authenticated principal, in the view its query asks for. */
export function mcpHttpHandler(platform: Platform) {
  const knownTags = tagsOf(platform.operations.operations);
  const inFlight = new InFlightCalls();
  return (request: Request, principal: Principal, requestId?: string): Promise<Response> => {
    const view =
      request.method === "POST" ? parseView(Object.fromEntries(new URL(request.url).searchParams), knownTags) : {};
    return answerMcp(platform, request, principal, view, requestId, inFlight);
  };
}

/**
 * Whether a POST's answer should stream (SSE): only when a request in it asked for progress. Everything else is
 * answered as one JSON body, written in one go; an event stream costs a flush per event, and most of the
 * endpoint's time under load went to those writes.
 */
function wantsStream(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => {
    const meta = (m as { params?: { _meta?: { progressToken?: unknown } } } | null)?.params?._meta;
    return meta?.progressToken !== undefined;
  });
}

/** Answers one MCP HTTP request in a given view (the API's /mcp parses it from the query; a site's is fixed). */
export async function answerMcp(
  platform: Platform,
  request: Request,
  principal: Principal,
  view: McpView,
  requestId?: string,
  inFlight?: InFlightCalls,
): Promise<Response> {
  if (request.method !== "POST") return methodNotAllowed();
  // Read here to choose JSON or SSE; the mounting app has already bounded the body (bodyLimit). A body that is
  // not JSON goes to the transport as it came, which answers it as the protocol says (-32700).
  const text = await request.text();
  let parsedBody: unknown;
  try {
    parsedBody = JSON.parse(text);
  } catch {
    parsedBody = undefined;
  }
  if (inFlight && parsedBody !== undefined) {
    for (const { requestId: id, reason } of InFlightCalls.cancellations(parsedBody))
      inFlight.cancel(principal, id, reason);
  }
  const fast =
    parsedBody !== undefined
      ? await answerDirectly(platform, request, parsedBody, principal, view, requestId, inFlight)
      : undefined;
  if (fast) return fast;
  const server = createMcpServer(platform, principal, view, requestId, { inFlight });
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: parsedBody !== undefined && !wantsStream(parsedBody),
  });
  await server.connect(transport);
  // The client went away: closing the server aborts the handlers still running (their ctx.signal).
  request.signal.addEventListener("abort", () => void server.close(), { once: true });
  if (parsedBody === undefined) {
    return transport.handleRequest(new Request(request.url, { method: "POST", headers: request.headers, body: text }));
  }
  return transport.handleRequest(request, { parsedBody });
}

/** Whether the request's headers are ones the SDK transport would accept; anything else is left to it to refuse. */
function headersAccepted(headers: Headers): boolean {
  const accept = headers.get("accept");
  const contentType = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  const version = headers.get("mcp-protocol-version");
  return (
    !!accept?.includes("application/json") &&
    accept.includes("text/event-stream") &&
    contentType === "application/json" &&
    (version === null || SUPPORTED_PROTOCOL_VERSIONS.includes(version))
  );
}

/**
 * The stateless path's common case, a single tools/call or tools/list answered as JSON, without building an SDK
 * server and transport for it (most of the endpoint's own cost per request). Results come from the same
 * mcpTools as the SDK server's handlers. Anything else — a batch, a request asking for progress, another
 * method, params the SDK's schema refuses, headers it would refuse — returns undefined and goes to the SDK,
 * which answers it (and its errors) as the protocol says.
 */
async function answerDirectly(
  platform: Platform,
  request: Request,
  body: unknown,
  principal: Principal,
  view: McpView,
  requestId: string | undefined,
  inFlight: InFlightCalls | undefined,
): Promise<Response | undefined> {
  if (!body || typeof body !== "object" || Array.isArray(body) || wantsStream(body)) return undefined;
  const message = body as { jsonrpc?: unknown; id?: unknown; method?: unknown };
  const { id, method } = message;
  if (message.jsonrpc !== "2.0" || (typeof id !== "string" && typeof id !== "number")) return undefined;
  if (method !== "tools/call" && method !== "tools/list") return undefined;
  if (!headersAccepted(request.headers)) return undefined;
  let result: JSONRPCResultResponse["result"];
  if (method === "tools/list") {
    if (!ListToolsRequestSchema.safeParse(body).success) return undefined;
    // The whole list in one page, as the SDK server's handler answers it.
    result = { tools: mcpTools(platform, principal, view, requestId, inFlight).tools };
  } else {
    const parsed = CallToolRequestSchema.safeParse(body);
    if (!parsed.success || parsed.data.params.task !== undefined) return undefined;
    const tools = mcpTools(platform, principal, view, requestId, inFlight);
    result = await tools.callTool(parsed.data.params, { requestId: id, signal: request.signal });
  }
  const response: JSONRPCResultResponse = { jsonrpc: "2.0", id, result };
  return new Response(JSON.stringify(response), { status: 200, headers: { "Content-Type": "application/json" } });
}
