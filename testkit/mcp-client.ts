// An MCP SDK Client connected to the app's /mcp over Streamable HTTP, in process (the app's own fetch).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Hono } from "hono";

export async function connectMcp(app: Hono, token: string | null, query = ""): Promise<Client> {
  const url = new URL(`http://127.0.0.1/mcp${query ? `?${query}` : ""}`);
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
    fetch: async (input, init) =>
      app.request(String(input instanceof Request ? input.url : input), init as RequestInit),
  });
  const client = new Client({ name: "bosun-test", version: "0.0.0" });
  await client.connect(transport);
  return client;
}

/** The view query naming every toolset of a registry: every tool, the opt-in ones (security) included. */
export const everyToolset = (ops: readonly { tags: readonly string[] }[]) =>
  `toolsets=${[...new Set(ops.flatMap((op) => op.tags))].join(",")}`;
