// MCP tools, derived from operations: name = operation id, JSON Schemas from the zod types, annotations from
// the effect. Which tools a caller sees depends on its scopes and the view it asked for.
import { leanJsonSchema, toolJsonSchema, withoutFields } from "../core/kernel/json-schema.ts";
import { isProjectScoped, isRestricted, levelOf, type Operation, type Principal } from "../core/kernel/operation.ts";
import { hasScope } from "../core/kernel/scopes.ts";
import type { FixedView, McpView } from "./view.ts";

export type { McpView };

export interface ToolDef {
  name: string;
  title?: string;
  description: string;
  inputSchema: Record<string, unknown>;
  /** Only when the client asked (`output_schema=true`): results carry structuredContent either way. */
  outputSchema?: Record<string, unknown>;
  annotations: {
    title?: string;
    readOnlyHint?: boolean;
    destructiveHint?: boolean;
    idempotentHint?: boolean;
    openWorldHint?: boolean;
  };
}

/** How much of each tool a list carries: `lean` (the default) or `detailed` (output schemas and every bound). */
export type ToolDetail = "lean" | "detailed";

type Variants = Record<ToolDetail, { full: ToolDef; pinned: ToolDef }>;
const cache = new WeakMap<Operation, Variants>();

/**
 * A short, specific description: what it does, then what the operation's own text adds. Scope and effect are
 * left out: the list is already filtered to the caller's scopes, and the annotations carry the effect.
 */
export const toolDescription = (op: Operation) => [`${op.summary}.`, op.description].filter(Boolean).join(" ");

/**
 * Fields nearly every tool has, explained once in the server's instructions (COMMON_FIELDS_NOTE) instead of in
 * seventy schemas.
 */
const COMMON_FIELDS = ["project", "instance", "limit", "cursor"];
export const COMMON_FIELDS_NOTE =
  "`project` is a project's slug; `instance` an instance's name within its project. " +
  "Lists page with `limit` (1-200, default 50) and `cursor` (the previous page's next_cursor).";

/** The lean input schema: no bounds or patterns (leanJsonSchema), and the common fields without descriptions. */
function leanToolSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const lean = leanJsonSchema(schema) as Record<string, unknown>;
  if (!lean.properties) return lean;
  const properties = { ...(lean.properties as Record<string, Record<string, unknown>>) };
  for (const field of COMMON_FIELDS) {
    if (!properties[field]) continue;
    const { description: _said, ...rest } = properties[field];
    properties[field] = rest;
  }
  return { ...lean, properties };
}

/** The spec's defaults for hints a tool leaves out: not read-only, destructive, not idempotent, open world. */
const HINT_DEFAULTS = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };

/**
 * Only the hints that differ from the spec's defaults; and for a read-only tool, whose destructive and
 * idempotent hints the spec says mean nothing, only open world.
 */
function leanHints(hints: typeof HINT_DEFAULTS): ToolDef["annotations"] {
  const out: ToolDef["annotations"] = {};
  for (const key of Object.keys(HINT_DEFAULTS) as (keyof typeof HINT_DEFAULTS)[]) {
    if (hints.readOnlyHint && (key === "destructiveHint" || key === "idempotentHint")) continue;
    if (hints[key] !== HINT_DEFAULTS[key]) out[key] = hints[key];
  }
  return out;
}

export function toolFor(op: Operation, pinned: boolean, detail: ToolDetail = "lean"): ToolDef {
  let entry = cache.get(op);
  if (!entry) {
    const inputSchema = toolJsonSchema(op.input, "input");
    const hints = {
      readOnlyHint: op.effect === "read",
      destructiveHint: op.effect === "destructive",
      idempotentHint: op.effect === "read" || op.http.method === "put" || op.http.method === "delete",
      openWorldHint: op.openWorld ?? false,
    };
    const variant = (detail: ToolDetail) => {
      const schema = detail === "lean" ? leanToolSchema(inputSchema) : inputSchema;
      const full: ToolDef = {
        name: op.id,
        description: toolDescription(op),
        // The description opens with the summary: the lean list does not repeat it as a title.
        ...(detail === "detailed" ? { title: op.summary } : {}),
        inputSchema: schema,
        ...(detail === "detailed" ? { outputSchema: toolJsonSchema(op.output, "output") } : {}),
        annotations: detail === "detailed" ? { title: op.summary, ...hints } : leanHints(hints),
      };
      return {
        full,
        pinned: isProjectScoped(op) ? { ...full, inputSchema: withoutFields(schema, ["project"]) } : full,
      };
    };
    entry = { lean: variant("lean"), detailed: variant("detailed") };
    cache.set(op, entry);
  }
  return pinned ? entry[detail].pinned : entry[detail].full;
}

/** Whether MCP offers the operation at all (login and register are not tools). */
export const onMcp = (op: Operation) => !op.surfaces || op.surfaces.includes("mcp");

/**
 * Toolsets offered only when a view names them, so the default list stays within its token budget
 * (mcp-server/tool-list-size.test.ts): account security (two-factor, passwords, tokens, sessions) is not something
 * an assistant working on projects should see, or be talked into using, by default; webhooks, notifications,
 * agent schedules and Telegram links are set up once, by a person or by automation over REST; the public-site tools are what a site's own
 * public endpoint offers visitors (its fixed view), and a member has the real operations.
 */
export const OPT_IN_TOOLSETS: readonly string[] = [
  "security",
  "webhooks",
  "notifications",
  "schedules",
  "telegram",
  "business",
  "public-sites",
  "workers",
];

/** Whether a list that names no toolset offers the operation (it is in no opt-in toolset). */
export const offeredByDefault = (op: Operation) => op.tags.every((t) => !OPT_IN_TOOLSETS.includes(t));

/** Whether the view (read_only, toolsets, a fixed tool set) includes the operation. */
export const inView = (op: Operation, view: McpView) =>
  (!view.readOnly || op.effect === "read") &&
  (!view.toolsets?.length || op.tags.some((t) => view.toolsets!.includes(t))) &&
  (!!view.fixed || op.tags.every((t) => !OPT_IN_TOOLSETS.includes(t) || !!view.toolsets?.includes(t))) &&
  (!view.fixed || Object.values(view.fixed.tools).includes(op.id));

/** The operation id behind a tool name: the name itself, or in a fixed view its entry (undefined: no such tool). */
export const operationIdOf = (name: string, view: McpView): string | undefined =>
  !view.fixed ? name : Object.hasOwn(view.fixed.tools, name) ? view.fixed.tools[name] : undefined;

/** A fixed view's tools: renamed, and without the arguments the endpoint sets. */
export function fixedTools(visible: readonly Operation[], fixed: FixedView, detail: ToolDetail = "lean"): ToolDef[] {
  const byId = new Map(visible.map((op) => [op.id, op]));
  return Object.entries(fixed.tools).flatMap(([name, id]) => {
    const op = byId.get(id);
    if (!op) return [];
    const tool = toolFor(op, false, detail);
    return [{ ...tool, name, inputSchema: withoutFields(tool.inputSchema, Object.keys(fixed.args)) }];
  });
}

/**
 * The operations a caller sees through MCP: offered on MCP, in its view, within its scopes, and not acting on
 * the account when the credential (or the view's pin) restricts it to projects.
 */
export function visibleOperations(ops: readonly Operation[], principal: Principal, view: McpView): Operation[] {
  const restricted = isRestricted(principal);
  return ops.filter(
    (op) =>
      onMcp(op) &&
      inView(op, view) &&
      (op.public || hasScope(principal.scopes, op.scope!)) &&
      !(restricted && levelOf(op) === "account"),
  );
}

/** search_operations: a plain word match over ids, summaries, descriptions and tags; best first. */
export function searchOperations(ops: readonly Operation[], query: string, limit = 10): Operation[] {
  const words = query
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const scored = ops.map((op) => {
    const id = op.id.toLowerCase();
    const text = `${op.summary} ${op.description ?? ""} ${op.tags.join(" ")}`.toLowerCase();
    const score = words.reduce((s, w) => s + (id.includes(w) ? 3 : 0) + (text.includes(w) ? 1 : 0), 0);
    return { op, score };
  });
  return scored
    .filter((s) => s.score > 0 || words.length === 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, limit)
    .map((s) => s.op);
}
