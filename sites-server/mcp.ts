// A public MCP endpoint per site, at `/mcp` on the site's own origin (`/s/{slug}/mcp` in path mode): no
// authentication, read-only plus form submission, blind to password-protected sites — so any AI agent can
// ask a customer's site what a visitor could. The tools are the public site operations (core/sites/public.ts)
// with the site filled in, called through the invoker as an anonymous principal (rate-limited per client IP,
// audited).
// Stateless Streamable HTTP: one server per POST.
import type { Context } from "hono";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { BosunError, notFound, rateLimited, toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { anonymous } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import type { LiveSite } from "../core/sites/serving.ts";
import { clientIp } from "../http/request.ts";

const MAX_BODY = 64 * 1024;

/** Tool name (as a visitor's agent sees it) → public operation. */
export const SITE_TOOLS: Record<string, string> = {
  get_business_info: "get_business_info",
  list_published_pages: "list_published_pages",
  get_published_page: "get_published_page",
  list_forms: "list_site_forms",
  get_form_schema: "get_site_form_schema",
  submit_form: "submit_site_form",
};

const okResult = (output: unknown): CallToolResult => ({
  content: [{ type: "text", text: JSON.stringify(output) }],
  structuredContent: output && typeof output === "object" && !Array.isArray(output) ? (output as Record<string, unknown>) : { result: output },
});
const errorResult = (err: unknown): CallToolResult => ({ isError: true, content: [{ type: "text", text: JSON.stringify({ error: toBosunError(err).toJSON() }) }] });

export function sitesMcpHandler(platform: Platform) {
  const tools = Object.entries(SITE_TOOLS).map(([name, id]) => {
    const op = platform.operations.get(id);
    const { $schema: _s, ...schema } = z.toJSONSchema(op.input, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
    const { site: _site, ...properties } = (schema.properties ?? {}) as Record<string, unknown>;
    const required = ((schema.required ?? []) as string[]).filter((r) => r !== "site");
    return {
      name,
      title: op.summary,
      description: (op.description ?? op.summary).replace(/^Public: /, ""),
      inputSchema: { ...schema, properties, required },
      annotations: { title: op.summary, readOnlyHint: op.effect === "read", destructiveHint: false, idempotentHint: op.effect === "read", openWorldHint: false },
    };
  });

  return async (c: Context, site: LiveSite): Promise<Response> => {
    const ip = clientIp(c, platform);
    if (c.req.method !== "POST") {
      return c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this server is stateless; use POST." }, id: null }, 405, { Allow: "POST" });
    }
    // The protocol's own requests (initialize, tools/list) count too, not only tool calls.
    const limit = platform.rateLimiter.take(`site-mcp:${ip}`, platform.config.rateLimitPerMinute);
    if (!limit.allowed) return c.json({ error: rateLimited(limit.retryAfter).toJSON() }, 429, { "Retry-After": String(limit.retryAfter) });
    if (Number(c.req.header("content-length") ?? 0) > MAX_BODY) {
      return c.json({ error: new BosunError("payload_too_large", `the body is over ${MAX_BODY} bytes`).toJSON() }, 413);
    }

    const server = new Server(
      { name: `bosun-site-${site.slug}`, version: "0.1.0" },
      {
        capabilities: { tools: { listChanged: false } },
        instructions: `Public information about the website '${site.settings.site_name ?? site.slug}': business info, published pages and forms a visitor can submit.`,
      },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      const { name, arguments: args = {} } = request.params;
      try {
        const id = Object.hasOwn(SITE_TOOLS, name) ? SITE_TOOLS[name] : undefined;
        if (!id) throw notFound("tool", name);
        // The endpoint belongs to one site: a `site` argument cannot point it elsewhere.
        return okResult(await invoke(platform, id, { ...args, site: site.slug }, anonymous("mcp", ip), { requestId: c.get("requestId") }));
      } catch (err) {
        if (!(err instanceof BosunError)) platform.log.error({ err, tool: name }, "site mcp tool failed");
        return errorResult(err);
      }
    });
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(c.req.raw);
  };
}
