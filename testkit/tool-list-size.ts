// What a tools/list costs a model: its JSON in cl100k_base tokens (the tokenizer the issue's figures use).
// Shared by the size test (a bound that fails CI on regression) and `npm run bench api` (the figures).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Hono } from "hono";
import { getEncoding } from "js-tiktoken";

let encoder: ReturnType<typeof getEncoding> | undefined;

/** Tokens of a JSON value as a client would put it in a model's context. */
export function jsonTokens(value: unknown): number {
  encoder ??= getEncoding("cl100k_base");
  return encoder.encode(JSON.stringify(value)).length;
}

/** The views the goals are set for: a full token's default list (≤ 10k tokens) and its read-only one (≤ 6k). */
export const TOOL_LIST_GOALS = { full: 10_000, readOnly: 6_000 } as const;

export interface ToolListSize {
  tools: number;
  bytes: number;
  tokens: number;
}

/** tools/list through the real /mcp (an SDK client over the app's own fetch), for a token and a view query. */
export async function measureToolList(
  fetchFn: (url: string, init?: RequestInit) => Promise<Response> | Response,
  baseUrl: string,
  token: string,
  query = "",
): Promise<ToolListSize> {
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp${query ? `?${query}` : ""}`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: async (input, init) => fetchFn(String(input instanceof Request ? input.url : input), init as RequestInit),
  });
  const client = new Client({ name: "bosun-size", version: "0.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    return { tools: tools.length, bytes: Buffer.byteLength(JSON.stringify(tools)), tokens: jsonTokens(tools) };
  } finally {
    await client.close();
  }
}

/** The same, in process against an app. */
export const measureAppToolList = (app: Hono, token: string, query = "") =>
  measureToolList((url, init) => app.request(url, init), "http://127.0.0.1", token, query);
