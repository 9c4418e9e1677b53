// The MCP server: tools/list and tools/call over the operation registry, every call through the invoker;
// resources (site files, agent transcripts) read through the same path, and prompts for two workflows.
// Errors come back as tool results with isError and the same { error: { code, message } } body as REST.
// One server serves one principal and one view; the HTTP handler builds one per request, stdio one per process.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  type ServerNotification,
} from "@modelcontextprotocol/sdk/types.js";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import { REVOKE_TOPIC, SESSION_END_TOPIC } from "../core/identity/authenticate.ts";
import { BosunError, notFound, toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { isProjectScoped, isRestricted, type Operation, type Principal } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import type { InFlightCalls } from "./cancel.ts";
import { CALL, compactTools, parseCall, SEARCH, searchResult } from "./compact.ts";
import { getPrompt, listPrompts } from "./prompts.ts";
import { type CallOperation, listResources, RESOURCE_TEMPLATES, readResource } from "./resources.ts";
import {
  COMMON_FIELDS_NOTE,
  fixedTools,
  inView,
  onMcp,
  operationIdOf,
  type ToolDef,
  toolFor,
  visibleOperations,
} from "./tools.ts";
import type { McpView } from "./view.ts";

const VERSION = "0.1.0";

/** `_meta` key of a tools/call carrying its idempotency key: a retried write with the same key happens once. */
export const IDEMPOTENCY_META = "bosun/idempotency_key";

interface CallContext {
  signal: AbortSignal;
  progressToken?: string | number;
  idempotencyKey?: unknown;
  sendNotification?: (n: ServerNotification) => Promise<void>;
}

function errorResult(err: unknown): CallToolResult {
  const error = toBosunError(err);
  // No structuredContent: clients validate it against the tool's outputSchema, which describes success.
  return { isError: true, content: [{ type: "text", text: JSON.stringify({ error: error.toJSON() }) }] };
}

function okResult(output: unknown): CallToolResult {
  // structuredContent must be an object; every operation's output is one, this only guards the protocol.
  const structured =
    output && typeof output === "object" && !Array.isArray(output)
      ? (output as Record<string, unknown>)
      : { result: output };
  return { content: [{ type: "text", text: JSON.stringify(output) }], structuredContent: structured };
}

interface ToolSet {
  visible: Operation[];
  visibleById: Map<string, Operation>;
  tools: ToolDef[];
}

/** Tool sets already built, per registry: the stateless HTTP path builds a server per request, not its tools. */
const toolSets = new WeakMap<readonly Operation[], Map<string, ToolSet>>();
const TOOL_SETS_KEPT = 500;

/**
 * The tools a principal sees in a view. They depend only on its scopes, whether it is restricted to projects,
 * and the view, so that is the cache key; the principal's identity and credential are checked on every call
 * by the invoker, never here.
 */
function toolSetFor(ops: readonly Operation[], principal: Principal, view: McpView): ToolSet {
  let sets = toolSets.get(ops);
  if (!sets) toolSets.set(ops, (sets = new Map()));
  const key = `${principal.scopes.join(" ")}|${isRestricted(principal)}|${JSON.stringify(view)}`;
  const hit = sets.get(key);
  if (hit) {
    // Least recently used goes first: re-inserting keeps a hot key at the end.
    sets.delete(key);
    sets.set(key, hit);
    return hit;
  }
  const visible = visibleOperations(ops, principal, view);
  const pinned = !!view.project;
  const detail = view.outputSchema ? "detailed" : "lean";
  const tools = view.fixed
    ? fixedTools(visible, view.fixed, detail)
    : view.mode === "compact"
      ? compactTools(visible)
      : visible.map((op) => toolFor(op, pinned, detail));
  const set = { visible, visibleById: new Map(visible.map((op) => [op.id, op])), tools };
  sets.set(key, set);
  if (sets.size > TOOL_SETS_KEPT) sets.delete(sets.keys().next().value!);
  return set;
}

/**
 * `requestId`: over HTTP, that of the POST carrying the calls (its X-Request-Id), so each call's audit record
 * carries the id the client saw; unset (stdio), every call gets its own.
 */
// A server is built per HTTP request that needs one; one validator (and its compiled-schema cache) serves them all.
const jsonSchemaValidator = new AjvJsonSchemaValidator();

/** What a tools/call handler gets from its transport: the SDK's `extra`, or the HTTP fast path's equivalent. */
export interface ToolCallExtra {
  requestId: string | number;
  signal: AbortSignal;
  sendNotification?: (n: ServerNotification) => Promise<void>;
}

/**
 * The tools of one principal in one view, and how a call of them is answered. Both the SDK server below and
 * the stateless HTTP fast path (http.ts) answer tools/list and tools/call with these, so the two cannot differ.
 */
export interface McpTools {
  principal: Principal;
  tools: ToolDef[];
  callTool(params: CallToolRequest["params"], extra: ToolCallExtra): Promise<CallToolResult>;
  /** One operation by id, as the caller, through the view, the pin and the invoker (resources use it). */
  callOperation(id: string, args: Record<string, unknown>, call: CallContext): Promise<unknown>;
}

export function mcpTools(
  platform: Platform,
  basePrincipal: Principal,
  view: McpView = {},
  requestId?: string,
  inFlight?: InFlightCalls,
): McpTools {
  const pinned = !!view.project;
  const principal: Principal = pinned
    ? { ...basePrincipal, pins: { ...basePrincipal.pins, project: view.project } }
    : basePrincipal;
  const { visible, visibleById, tools } = toolSetFor(platform.operations.operations, principal, view);
  const { fixed } = view;
  const compact = view.mode === "compact" && !fixed;

  /**
   * The operation behind a tool name. One hidden only because the caller lacks its scope still goes to the
   * invoker, which refuses it exactly as REST does (insufficient_scope); one outside the view is not a tool here.
   */
  function resolve(name: string): Operation {
    const id = operationIdOf(name, view);
    const op =
      id === undefined
        ? undefined
        : (visibleById.get(id) ?? (platform.operations.has(id) ? platform.operations.get(id) : undefined));
    if (!op || !onMcp(op)) throw notFound("tool", name);
    if (!inView(op, view))
      throw new BosunError("not_found", `tool '${id}' is not offered in this view (read_only or toolsets)`, {
        resource: "tool",
      });
    return op;
  }

  async function callOperation(id: string, args: Record<string, unknown>, call: CallContext): Promise<unknown> {
    const op = resolve(id);
    // Pinned: the project comes from the pin. A project the caller names anyway is left for the invoker,
    // whose pin check refuses any other project (not_found), rather than being silently replaced.
    // A fixed view's arguments (a site's own endpoint: its site) are the endpoint's, not the client's to change.
    const input = fixed
      ? { ...args, ...fixed.args }
      : pinned && isProjectScoped(op) && args.project === undefined
        ? { ...args, project: view.project }
        : args;
    // The key may come in the request's _meta (the MCP place for it) or, for clients that cannot set _meta,
    // as an `_idempotency_key` argument.
    const { _idempotency_key: argKey, ...rest } = input as Record<string, unknown> & { _idempotency_key?: unknown };
    const idempotencyKey = call.idempotencyKey ?? argKey;
    return invoke(platform, op, rest, principal, {
      requestId,
      signal: call.signal,
      idempotencyKey: typeof idempotencyKey === "string" ? idempotencyKey : undefined,
      onProgress: (e) => {
        if (call.progressToken === undefined || !call.sendNotification) return;
        call
          .sendNotification({ method: "notifications/progress", params: { progressToken: call.progressToken, ...e } })
          .catch((err) => platform.log.debug({ err }, "mcp progress not delivered"));
      },
    });
  }

  async function callTool(params: CallToolRequest["params"], extra: ToolCallExtra): Promise<CallToolResult> {
    const { name, arguments: args = {} } = params;
    const meta = params._meta;
    const tracked = inFlight?.track(principal, extra.requestId, extra.signal);
    const call: CallContext = {
      signal: tracked?.signal ?? extra.signal,
      progressToken: meta?.progressToken,
      idempotencyKey: meta?.[IDEMPOTENCY_META],
      sendNotification: extra.sendNotification,
    };
    try {
      if (!compact) return okResult(await callOperation(name, args, call));
      if (name === SEARCH) return okResult(searchResult(visible, args, pinned));
      if (name === CALL) {
        const { id, input } = parseCall(args);
        return okResult(await callOperation(id, input, call));
      }
      throw notFound("tool", name);
    } catch (err) {
      if (!(err instanceof BosunError)) platform.log.error({ err, tool: name }, "mcp tool failed");
      return errorResult(err);
    } finally {
      tracked?.done();
    }
  }

  return { principal, tools, callTool, callOperation };
}

export function createMcpServer(
  platform: Platform,
  basePrincipal: Principal,
  view: McpView = {},
  requestId?: string,
  options: {
    /** Over HTTP: where calls are kept so a cancellation arriving in another POST finds them. */
    inFlight?: InFlightCalls;
    /**
     * A stateful session (stdio): when its credential is revoked or its session ends, the tool list empties
     * and the client is told (notifications/tools/list_changed) instead of finding out call by call.
     */
    session?: boolean;
  } = {},
): Server {
  const { principal, tools, callTool, callOperation } = mcpTools(
    platform,
    basePrincipal,
    view,
    requestId,
    options.inFlight,
  );
  const { fixed } = view;
  const pinned = !!view.project;
  const compact = view.mode === "compact" && !fixed;

  const server = new Server(
    { name: fixed?.name ?? "bosun", version: VERSION },
    {
      // A site's public endpoint (fixed view) offers its tools only; the API's adds resources and prompts.
      capabilities: {
        tools: { listChanged: !!options.session },
        logging: {},
        ...(fixed ? {} : { resources: {}, prompts: {} }),
      },
      jsonSchemaValidator,
      instructions:
        fixed?.instructions ??
        "Bosun is a hosting platform control plane. Tools are Bosun operations; errors come back as {error:{code,message}}. " +
          COMMON_FIELDS_NOTE +
          (compact ? " Find operations with search_operations, run them with call_operation." : "") +
          (pinned ? ` All tools act on project '${view.project}'; other projects are out of reach.` : ""),
    },
  );

  let offered = tools;
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: offered }));
  const credential = principal.credential;
  if (options.session && credential) {
    const topic = credential.kind === "session" ? SESSION_END_TOPIC : REVOKE_TOPIC;
    const onEnded = (id: string) => {
      if (id !== credential.id || offered.length === 0) return;
      offered = [];
      server.sendToolListChanged().catch((err) => platform.log.debug({ err }, "mcp list_changed not delivered"));
    };
    platform.notifier.on(topic, onEnded);
    server.onclose = () => platform.notifier.off(topic, onEnded);
  }

  if (!fixed) {
    // Resources read through the same path as a tool call: the view, the pin and the invoker all apply.
    const asCaller: CallOperation = (id, input) => callOperation(id, input, { signal: new AbortController().signal });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
      resourceTemplates: RESOURCE_TEMPLATES,
    }));
    server.setRequestHandler(ListResourcesRequestSchema, async () => listResources(asCaller, view.project));
    server.setRequestHandler(ReadResourceRequestSchema, async (request, extra) =>
      readResource((id, input) => callOperation(id, input, { signal: extra.signal }), request.params.uri),
    );
    server.setRequestHandler(ListPromptsRequestSchema, async () => listPrompts());
    server.setRequestHandler(GetPromptRequestSchema, async (request) =>
      getPrompt(request.params.name, request.params.arguments),
    );
  }

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => callTool(request.params, extra));

  return server;
}
