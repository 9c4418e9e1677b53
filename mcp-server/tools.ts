// MCP tools, derived from operations: name = operation id, JSON Schemas from the zod types, annotations from
// the effect. Which tools a caller sees depends on its scopes and the view it asked for.
import { toolJsonSchema, withoutFields } from "../core/kernel/json-schema.ts";
import { isProjectScoped, isRestricted, levelOf, type Operation, type Principal } from "../core/kernel/operation.ts";
import { hasScope } from "../core/kernel/scopes.ts";
import type { FixedView, McpView } from "./view.ts";

export type { McpView };

export interface ToolDef {
  name: string;
  title: string;
  description: string;
  inputSchema: Record<string, unknown>;
  outputSchema: Record<string, unknown>;
  annotations: {
    title: string;
    readOnlyHint: boolean;
    destructiveHint: boolean;
    idempotentHint: boolean;
    openWorldHint: boolean;
  };
}

const cache = new WeakMap<Operation, { full: ToolDef; pinned: ToolDef }>();

export function toolFor(op: Operation, pinned: boolean): ToolDef {
  let entry = cache.get(op);
  if (!entry) {
    const inputSchema = toolJsonSchema(op.input, "input");
    const access = op.public ? "No scope needed." : `Needs scope ${op.scope}.`;
    const effect = { read: "Read-only.", write: "Changes data.", destructive: "Destructive: cannot be undone." }[
      op.effect
    ];
    const full: ToolDef = {
      name: op.id,
      title: op.summary,
      description: [op.summary + ".", op.description, access, effect].filter(Boolean).join(" "),
      inputSchema,
      outputSchema: toolJsonSchema(op.output, "output"),
      annotations: {
        title: op.summary,
        readOnlyHint: op.effect === "read",
        destructiveHint: op.effect === "destructive",
        idempotentHint: op.effect === "read" || op.http.method === "put" || op.http.method === "delete",
        openWorldHint: op.openWorld ?? false,
      },
    };
    entry = {
      full,
      pinned: isProjectScoped(op) ? { ...full, inputSchema: withoutFields(inputSchema, ["project"]) } : full,
    };
    cache.set(op, entry);
  }
  return pinned ? entry.pinned : entry.full;
}

/** Whether MCP offers the operation at all (login and register are not tools). */
export const onMcp = (op: Operation) => !op.surfaces || op.surfaces.includes("mcp");

/** Whether the view (read_only, toolsets, a fixed tool set) includes the operation. */
export const inView = (op: Operation, view: McpView) =>
  (!view.readOnly || op.effect === "read") &&
  (!view.toolsets?.length || op.tags.some((t) => view.toolsets!.includes(t))) &&
  (!view.fixed || Object.values(view.fixed.tools).includes(op.id));

/** The operation id behind a tool name: the name itself, or in a fixed view its entry (undefined: no such tool). */
export const operationIdOf = (name: string, view: McpView): string | undefined =>
  !view.fixed ? name : Object.hasOwn(view.fixed.tools, name) ? view.fixed.tools[name] : undefined;

/** A fixed view's tools: renamed, and without the arguments the endpoint sets. */
export function fixedTools(visible: readonly Operation[], fixed: FixedView): ToolDef[] {
  const byId = new Map(visible.map((op) => [op.id, op]));
  return Object.entries(fixed.tools).flatMap(([name, id]) => {
    const op = byId.get(id);
    if (!op) return [];
    const tool = toolFor(op, false);
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
