// Every script and stylesheet the console and /docs use, served by Bosun itself from the installed packages and
// console/static/ (no CDN: the console works offline and under a CSP that allows scripts from 'self' only).
import crypto from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Context } from "hono";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = (name: string, file: string) => path.join(path.dirname(require.resolve(`${name}/package.json`)), file);

/** name under the assets path → file on disk. */
export const CONSOLE_ASSETS: Record<string, string> = {
  "htmx.min.js": pkg("htmx.org", "dist/htmx.min.js"),
  "uPlot.iife.min.js": pkg("uplot", "dist/uPlot.iife.min.js"),
  "uPlot.min.css": pkg("uplot", "dist/uPlot.min.css"),
  "console.js": path.join(here, "static/console.js"),
  "console.css": path.join(here, "static/console.css"),
};

export const DOCS_ASSETS: Record<string, string> = {
  "swagger-ui-bundle.js": pkg("swagger-ui-dist", "swagger-ui-bundle.js"),
  "swagger-ui.css": pkg("swagger-ui-dist", "swagger-ui.css"),
  "docs.js": path.join(here, "static/docs.js"),
  "docs.css": path.join(here, "static/docs.css"),
};

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

interface Loaded {
  body: Buffer;
  etag: string;
  type: string;
}

/** Serves a fixed set of files, read once on first use, with an ETag (they change only with a deploy). */
export function assetServer(files: Record<string, string>) {
  const cache = new Map<string, Loaded>();
  return (c: Context, name: string): Response => {
    const file = Object.hasOwn(files, name) ? files[name] : undefined;
    if (!file) return c.text("not found", 404);
    let hit = cache.get(name);
    if (!hit) {
      const body = fs.readFileSync(file);
      hit = {
        body,
        etag: `"${crypto.createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        type: TYPES[path.extname(file)] ?? "application/octet-stream",
      };
      cache.set(name, hit);
    }
    const headers = {
      "Content-Type": hit.type,
      ETag: hit.etag,
      "Cache-Control": "public, max-age=300",
      "X-Content-Type-Options": "nosniff",
    };
    if (c.req.header("if-none-match") === hit.etag) return c.body(null, 304, headers);
    return c.body(new Uint8Array(hit.body), 200, headers);
  };
}
