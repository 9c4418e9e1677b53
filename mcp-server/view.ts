// The MCP view: which slice of the tools a client asked for, and how detailed. The same knobs arrive as query parameters
// on /mcp (read_only, project, toolsets, mode) and as flags of `bosun mcp`; both are parsed here. A typo is
// refused rather than read as "no restriction" or "no tools": a caller's mistake must not look like success.
import { Slug } from "../core/kernel/common.ts";
import { type FieldIssue, validationError } from "../core/kernel/errors.ts";

export interface McpView {
  /** Only read tools. */
  readOnly?: boolean;
  /** Pin one project: the `project` argument disappears and other projects are unreachable. */
  project?: string;
  /** Only operations with one of these tags. */
  toolsets?: string[];
  /** `compact`: two tools, search_operations and call_operation, for small context windows. */
  mode?: "full" | "compact";
  /** Tools carry output schemas and every input bound (`output_schema=true`); the default list is lean. */
  outputSchema?: boolean;
  /** A fixed view set by the endpoint, never by the client (a site's public MCP). */
  fixed?: FixedView;
}

/**
 * Exactly these tools and nothing else: tool name → operation id, with `args` set by the endpoint on every
 * call (whatever the client sends) and absent from the tools' schemas.
 */
export interface FixedView {
  name: string;
  instructions: string;
  tools: Record<string, string>;
  args: Record<string, unknown>;
}

/** The view as it arrives: query strings, or commander flags (where --read-only is a boolean). */
export interface RawView {
  read_only?: string | boolean;
  project?: string;
  toolsets?: string;
  mode?: string;
  output_schema?: string | boolean;
}

const TRUE = new Set(["true", "1"]);
const FALSE = new Set(["false", "0", ""]);

/** Parses a view (the four knobs and output_schema); `knownTags` are the tags of the registry, so an unknown toolset is an error. */
export function parseView(raw: RawView, knownTags: ReadonlySet<string>): McpView {
  const issues: FieldIssue[] = [];
  const view: McpView = { mode: "full" };

  if (typeof raw.read_only === "boolean") view.readOnly = raw.read_only;
  else if (raw.read_only !== undefined) {
    if (TRUE.has(raw.read_only)) view.readOnly = true;
    else if (!FALSE.has(raw.read_only)) issues.push({ path: "read_only", message: "true or false" });
  }

  if (typeof raw.output_schema === "boolean") view.outputSchema = raw.output_schema;
  else if (raw.output_schema !== undefined) {
    if (TRUE.has(raw.output_schema)) view.outputSchema = true;
    else if (!FALSE.has(raw.output_schema)) issues.push({ path: "output_schema", message: "true or false" });
  }

  if (raw.project !== undefined && raw.project !== "") {
    if (Slug.safeParse(raw.project).success) view.project = raw.project;
    else issues.push({ path: "project", message: "a project slug" });
  }

  if (raw.toolsets !== undefined) {
    const toolsets = [
      ...new Set(
        raw.toolsets
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean),
      ),
    ];
    const unknown = toolsets.filter((t) => !knownTags.has(t));
    if (unknown.length) {
      issues.push({
        path: "toolsets",
        message: `unknown toolset(s) ${unknown.join(", ")}; known: ${[...knownTags].sort().join(", ")}`,
      });
    } else if (toolsets.length) view.toolsets = toolsets;
  }

  if (raw.mode !== undefined && raw.mode !== "") {
    if (raw.mode === "full" || raw.mode === "compact") view.mode = raw.mode;
    else issues.push({ path: "mode", message: "full or compact" });
  }

  if (issues.length) throw validationError(issues);
  return view;
}

/** The query string of a view, for relaying it to a server's /mcp. */
export function viewQuery(raw: RawView): URLSearchParams {
  const q = new URLSearchParams();
  if (raw.read_only === true || (typeof raw.read_only === "string" && raw.read_only !== ""))
    q.set("read_only", String(raw.read_only));
  if (raw.project) q.set("project", raw.project);
  if (raw.toolsets) q.set("toolsets", raw.toolsets);
  if (raw.mode && raw.mode !== "full") q.set("mode", raw.mode);
  if (raw.output_schema === true || (typeof raw.output_schema === "string" && raw.output_schema !== ""))
    q.set("output_schema", String(raw.output_schema));
  return q;
}

export const tagsOf = (ops: readonly { tags: readonly string[] }[]): Set<string> =>
  new Set(ops.flatMap((op) => op.tags));
