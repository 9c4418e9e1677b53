// /docs: a self-contained API reference rendered from the registry (no CDN: it works offline and behind
// strict CSPs). The machine-readable source of truth stays /openapi.json.
import { escapeHtml as esc } from "../core/html.ts";
import { toolJsonSchema } from "../core/kernel/json-schema.ts";
import type { Operation } from "../core/kernel/operation.ts";

function fieldRows(op: Operation): string {
  const schema = toolJsonSchema(op.input, "input") as {
    properties?: Record<string, { type?: string; description?: string }>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {})
    .map(([name, p]) => {
      const where = op.http.path.includes(`{${name}}`)
        ? "path"
        : ["get", "delete"].includes(op.http.method)
          ? "query"
          : "body";
      const req = schema.required?.includes(name) ? "required" : "";
      return `<tr><td><code>${esc(name)}</code></td><td>${esc(p.type ?? "")}</td><td>${where}</td><td>${req}</td><td>${esc(p.description ?? "")}</td></tr>`;
    })
    .join("");
}

export function renderDocsPage(operations: readonly Operation[]): string {
  const byTag = new Map<string, Operation[]>();
  for (const op of operations) byTag.set(op.tags[0], [...(byTag.get(op.tags[0]) ?? []), op]);
  const sections = [...byTag]
    .map(
      ([tag, ops]) =>
        `<h2 id="${esc(tag)}">${esc(tag)}</h2>` +
        ops
          .map((op) => {
            const rows = fieldRows(op);
            return `<section id="${op.id}"><h3><span class="m ${op.http.method}">${op.http.method.toUpperCase()}</span> <code>/v1${esc(op.http.path)}</code></h3>
<p><b>${esc(op.summary)}</b> — <code>${op.id}</code> · ${op.public ? "public" : `scope <code>${esc(op.scope!)}</code>`} · ${op.effect}</p>
${op.description ? `<p>${esc(op.description)}</p>` : ""}
${rows ? `<table><tr><th>field</th><th>type</th><th>in</th><th></th><th></th></tr>${rows}</table>` : ""}</section>`;
          })
          .join(""),
    )
    .join("");
  return `<!doctype html><html><head><meta charset="utf-8"><title>Bosun API reference</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;font-size:14px}.m{font:bold 12px monospace;padding:.1rem .4rem;border-radius:3px;color:#fff;background:#555}
.get{background:#2a7}.post{background:#27c}.patch,.put{background:#c80}.delete{background:#c33}section{border-top:1px solid #ddd}</style></head>
<body><h1>Bosun API reference</h1><p>Bearer-authenticated JSON over HTTPS. Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1) and
<a href="/openapi.json?version=3.0">/openapi.json?version=3.0</a>. Every operation is also an MCP tool of the same name at <code>/mcp</code>.
Errors are <code>{"error": {"code", "message", ...}}</code>.</p>${sections}</body></html>`;
}
