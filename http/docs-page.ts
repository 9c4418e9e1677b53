// /docs: an interactive reference (Swagger UI from the installed swagger-ui-dist, served by Bosun: no CDN, so it
// works offline) over /openapi.json, with try-it calls against this server and a bearer token. The plain list
// rendered from the registry stays as the <noscript> fallback. The machine-readable source of truth stays
// /openapi.json.
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
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Bosun API reference</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"><link rel="stylesheet" href="/docs/assets/docs.css">
<script src="/docs/assets/swagger-ui-bundle.js" defer></script><script src="/docs/assets/docs.js" defer></script></head>
<body><header class="intro"><h1>Bosun API reference</h1><p>Bearer-authenticated JSON. Use <b>Authorize</b> with an API token (make one in the <a href="/console/tokens">console</a>) to try calls against this server.
Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1) and <a href="/openapi.json?version=3.0">/openapi.json?version=3.0</a>.
Every operation is also an MCP tool of the same name at <code>/mcp</code>. Errors are <code>{"error": {"code", "message", ...}}</code>.</p></header>
<main id="swagger-ui"></main>
<noscript><style>.nojs{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#222}
.nojs code{background:#f3f3f3;padding:0 .25em;border-radius:3px}.nojs table{border-collapse:collapse;margin:.5rem 0 1.5rem}
.nojs td,.nojs th{border-bottom:1px solid #eee;padding:.2rem .6rem;text-align:left;font-size:14px}.m{font:bold 12px monospace;padding:.1rem .4rem;border-radius:3px;color:#fff;background:#555}
.get{background:#1b7f3b}.post{background:#1f5fbf}.patch,.put{background:#8a5a00}.delete{background:#b3261e}.nojs section{border-top:1px solid #ddd}</style>
<div class="nojs">${sections}</div></noscript></body></html>`;
}

/** Swagger UI sets inline styles; scripts only from our own files (its init is docs.js, not inline). */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
