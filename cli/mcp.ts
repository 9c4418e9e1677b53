// `bosun mcp`: an MCP server on stdio. With BOSUN_URL it relays every message to that server's /mcp (so it
// works while `bosun serve` holds the embedded database); otherwise it opens the database itself.
// stdout belongs to the protocol: anything a person reads goes to stderr. The process ends when the client
// closes stdin or sends SIGTERM/SIGINT, and closes the database first (PGlite must not be cut off mid-write).
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import pino from "pino";
import { BosunError } from "../core/kernel/errors.ts";
import { allOperations } from "../core/kernel/registry.ts";
import { createPlatform } from "../core/platform.ts";
import { createMcpServer } from "../mcp-server/server.ts";
import { parseView, type RawView, tagsOf, viewQuery } from "../mcp-server/view.ts";

interface McpFlags {
  readOnly?: boolean;
  project?: string;
  toolsets?: string;
  mode?: string;
  outputSchema?: boolean;
}

const say = (line: string) => process.stderr.write(`bosun mcp: ${line}\n`);

/** Runs `stop` once, then exits, when the client hangs up (stdin ends) or asks us to stop (signals). */
function exitOnHangup(stop: () => Promise<void>) {
  let stopping = false;
  const done = () => {
    if (stopping) return;
    stopping = true;
    stop()
      .catch((err) => say(`while stopping: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => process.exit(0));
  };
  process.stdin.once("end", done);
  process.stdin.once("close", done);
  process.once("SIGTERM", done);
  process.once("SIGINT", done);
}

export async function mcpCommand(flags: McpFlags) {
  const token = process.env.BOSUN_TOKEN;
  if (!token) throw new Error("set BOSUN_TOKEN to the API token the MCP client acts as");
  const raw: RawView = {
    read_only: !!flags.readOnly,
    project: flags.project,
    toolsets: flags.toolsets,
    mode: flags.mode,
    output_schema: !!flags.outputSchema,
  };
  if (process.env.BOSUN_URL) return relay(process.env.BOSUN_URL, token, raw);
  return serveLocally(token, raw);
}

async function serveLocally(token: string, raw: RawView) {
  const view = parseView(raw, tagsOf(allOperations));
  const platform = await createPlatform({ log: pino({ level: "warn" }, pino.destination(2)) });
  // Resolved once; the invoker re-checks the credential on every call, so a revocation still stops us.
  const server = await platform.auth.principal(token, "mcp", null).then(
    (principal) => createMcpServer(platform, principal, view, undefined, { session: true }),
    async (err) => {
      await platform.close();
      throw err instanceof BosunError ? new Error(`BOSUN_TOKEN: ${err.message}`) : err;
    },
  );
  exitOnHangup(async () => {
    await server.close();
    await platform.close();
  });
  await server.connect(new StdioServerTransport());
}

/** A JSON-RPC error for a request the upstream server never answered (unreachable, 401, 403, ...). */
function relayError(id: string | number, err: unknown): JSONRPCMessage {
  const status = err instanceof StreamableHTTPError ? err.code : undefined;
  let message = err instanceof Error ? err.message : String(err);
  // The SDK puts the response body after this prefix; Bosun's body is { error: { code, message } }.
  const body = /Error POSTing to endpoint: (\{.*\})$/s.exec(message)?.[1];
  let error: { code?: string; message?: string } | undefined;
  try {
    error = body ? JSON.parse(body).error : undefined;
  } catch {
    /* not ours: keep the SDK's message */
  }
  if (error?.message) message = `${error.code}: ${error.message}`;
  const what = status && status > 0 ? `answered HTTP ${status}` : "could not be reached";
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: -32000,
      message: `the Bosun server at ${process.env.BOSUN_URL} ${what}: ${message}`,
      data: { status, error },
    },
  };
}

/**
 * Relays stdio to BOSUN_URL/mcp, the view flags as query parameters (the server validates them). Messages
 * are passed through untouched, so what the client sees is exactly what the server says.
 */
async function relay(base: string, token: string, raw: RawView) {
  const url = new URL("/mcp", base);
  url.search = viewQuery(raw).toString();
  const stdio = new StdioServerTransport();
  const upstream = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const initializeIds = new Set<string | number>();

  stdio.onmessage = (msg) => {
    if (isJSONRPCRequest(msg) && msg.method === "initialize") initializeIds.add(msg.id);
    upstream.send(msg).catch((err) => {
      // Without an answer the client would wait for its timeout: tell it now.
      if (isJSONRPCRequest(msg)) void stdio.send(relayError(msg.id, err));
    });
  };
  upstream.onmessage = (msg) => {
    // The negotiated version goes on every later request as the MCP-Protocol-Version header.
    if (
      isJSONRPCResultResponse(msg) &&
      initializeIds.delete(msg.id) &&
      typeof msg.result.protocolVersion === "string"
    ) {
      upstream.setProtocolVersion(msg.result.protocolVersion);
    }
    void stdio.send(msg);
  };
  upstream.onerror = (err) => say(err.message);
  exitOnHangup(() => upstream.close());
  await upstream.start();
  await stdio.start();
}
