// MCP resources: a site's draft files (its pages among them) and agent conversation transcripts, addressed by
// bosun:// URIs. Every read is an operation call through the invoker (read_file, get_agent_conversation), so
// scopes, project access, pins and the audit apply exactly as they do to the tools; a URI is only an address.
import { ErrorCode, McpError, type Resource, type ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { toBosunError } from "../core/kernel/errors.ts";

/** Runs an operation as the session's caller, in its view (server.ts: the same path as a tool call). */
export type CallOperation = (id: string, input: Record<string, unknown>) => Promise<unknown>;

export const RESOURCE_TEMPLATES: ResourceTemplate[] = [
  {
    uriTemplate: "bosun://projects/{project}/files/{+path}",
    name: "site_file",
    title: "A site's draft file",
    description: "A file of a site project's draft (pages are its .html files). Needs files:read.",
  },
  {
    uriTemplate: "bosun://projects/{project}/agent/conversations/{conversation_id}",
    name: "agent_conversation",
    title: "An agent conversation's transcript",
    description: "Messages, steps, runs and approvals of an agent conversation, as JSON. Needs agent:read.",
    mimeType: "application/json",
  },
];

const FILE_URI = /^bosun:\/\/projects\/([a-z0-9-]{1,40})\/files\/(.+)$/;
const CONVERSATION_URI = /^bosun:\/\/projects\/([a-z0-9-]{1,40})\/agent\/conversations\/([^/?#]+)$/;

export const fileUri = (project: string, path: string) =>
  `bosun://projects/${project}/files/${path.split("/").map(encodeURIComponent).join("/")}`;

/** A Bosun error as the protocol's: not found is -32002 (the spec's code for resources), bad input -32602. */
function mcpError(err: unknown): McpError {
  const error = toBosunError(err);
  const code =
    error.code === "not_found"
      ? -32002
      : error.code === "validation_error"
        ? ErrorCode.InvalidParams
        : ErrorCode.InvalidRequest;
  return new McpError(code, error.message, { error: error.toJSON() });
}

function decodePath(raw: string): string {
  try {
    return raw.split("/").map(decodeURIComponent).join("/");
  } catch {
    throw new McpError(ErrorCode.InvalidParams, "the URI's path is not valid percent-encoding");
  }
}

export async function readResource(call: CallOperation, uri: string) {
  let m = FILE_URI.exec(uri);
  try {
    if (m) {
      const file = (await call("read_file", { project: m[1]!, path: decodePath(m[2]!) })) as {
        encoding: "utf8" | "base64";
        content: string;
        content_type: string;
      };
      return {
        contents: [
          file.encoding === "utf8"
            ? { uri, mimeType: file.content_type, text: file.content }
            : { uri, mimeType: file.content_type, blob: file.content },
        ],
      };
    }
    m = CONVERSATION_URI.exec(uri);
    if (m) {
      const conversation = await call("get_agent_conversation", {
        project: m[1]!,
        conversation_id: decodeURIComponent(m[2]!),
      });
      return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(conversation) }] };
    }
  } catch (err) {
    throw err instanceof McpError ? err : mcpError(err);
  }
  throw new McpError(-32002, `no resource at '${uri.slice(0, 200)}'`, { uri: uri.slice(0, 200) });
}

/** Site projects listed, and pages per site: resources/list is a start, the templates reach everything else. */
const LIST_PROJECTS = 20;

/**
 * The pages of the site projects the caller can read (pinned: that project only). What the caller may not
 * read (no pages:read, no access) is left out, not an error: the list shows what is there for this caller.
 */
export async function listResources(call: CallOperation, pinned?: string): Promise<{ resources: Resource[] }> {
  let projects: { slug: string; kind: string }[];
  if (pinned) projects = [{ slug: pinned, kind: "site" }];
  else {
    try {
      projects = ((await call("list_projects", { limit: 50 })) as { projects: { slug: string; kind: string }[] })
        .projects;
    } catch {
      return { resources: [] };
    }
  }
  const resources: Resource[] = [];
  for (const p of projects.filter((x) => x.kind === "site").slice(0, LIST_PROJECTS)) {
    try {
      const { pages } = (await call("list_pages", { project: p.slug })) as {
        pages: { path: string; title?: string | null; slug: string }[];
      };
      for (const page of pages)
        resources.push({
          uri: fileUri(p.slug, page.path),
          name: `${p.slug}/${page.path}`,
          title: page.title ?? page.slug,
          mimeType: "text/html",
        });
    } catch {
      /* not a site, or not readable by this caller: nothing to list */
    }
  }
  return { resources };
}
