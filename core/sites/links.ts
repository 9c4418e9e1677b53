// Finding and rewriting a site's internal links to one page, in HTML, CSS and JavaScript. Pure text work:
// only strings that resolve to the page are touched, so renaming a page changes nothing else in a file.
import { escapeHtml } from "../html.ts";
import { extensionOf } from "./paths.ts";

export type LinkSyntax = "html" | "css" | "js";

export function syntaxOf(path: string): LinkSyntax | null {
  const ext = extensionOf(path);
  if (ext === "html" || ext === "htm") return "html";
  if (ext === "css") return "css";
  if (ext === "js" || ext === "mjs") return "js";
  return null;
}

/** The site path a link in `fromFile` points to, or null for external, fragment-only or escaping links. */
export function resolveLink(value: string, fromFile: string): string | null {
  const [base = ""] = value.split(/[?#]/, 1);
  if (!base || /^[a-z][a-z0-9+.-]*:/i.test(base) || base.startsWith("//")) return null;
  const dir = fromFile.includes("/") ? fromFile.slice(0, fromFile.lastIndexOf("/")) : "";
  const joined = base.startsWith("/") ? base : `${dir}/${base}`;
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!out.length) return null;
      out.pop();
    } else out.push(seg);
  }
  return out.join("/") + (base.endsWith("/") && out.length ? "/" : "");
}

/** Whether a link resolves to the page at `pagePath` (`about.html`), in either form the server answers (`about`). */
function pointsTo(value: string, fromFile: string, pagePath: string): boolean {
  const target = resolveLink(value, fromFile);
  return target !== null && (target === pagePath || target === pagePath.replace(/\.html?$/, ""));
}

/** The link with its last path segment renamed, keeping its form (with or without `.html`), query and fragment. */
function renamed(value: string, oldName: string, newName: string): string {
  const cut = value.search(/[?#]/);
  const base = cut === -1 ? value : value.slice(0, cut);
  const suffix = cut === -1 ? "" : value.slice(cut);
  const slash = base.lastIndexOf("/");
  const last = base.slice(slash + 1);
  const stem = (n: string) => n.replace(/\.html?$/, "");
  const next = last === oldName ? newName : last === stem(oldName) ? stem(newName) : last;
  return base.slice(0, slash + 1) + next + suffix;
}

const PATTERNS: Record<LinkSyntax, RegExp[]> = {
  // Attribute values (quoted), and url(...) inside inline styles.
  html: [
    /(\b(?:href|src|action|poster|formaction|data-href)\s*=\s*)(["'])([^"']*)\2/gi,
    /(url\(\s*)(["']?)([^"')]*)\2(\s*\))/gi,
  ],
  css: [/(url\(\s*)(["']?)([^"')]*)\2(\s*\))/gi, /(@import\s+)(["'])([^"']*)\2/gi],
  // String literals only; a bare identifier is never a link.
  js: [/()(["'`])([^"'`\n]*)\2/g],
};

/**
 * Rewrites every link in `text` (a file at `fromFile`) that points to `oldPath` so it points to `newPath`
 * (same directory, renamed). Returns the new text and how many links changed.
 */
export function rewriteLinks(
  text: string,
  syntax: LinkSyntax,
  fromFile: string,
  oldPath: string,
  newPath: string,
): { text: string; count: number } {
  const oldName = oldPath.slice(oldPath.lastIndexOf("/") + 1);
  const newName = newPath.slice(newPath.lastIndexOf("/") + 1);
  let count = 0;
  let out = text;
  for (const pattern of PATTERNS[syntax]) {
    out = out.replace(pattern, (match, pre: string, quote: string, value: string, post = "") => {
      if (syntax === "js" && !/^(\.{0,2}\/|[\w-]+\.html?\b)/.test(value)) return match; // only path-looking strings
      if (!pointsTo(value, fromFile, oldPath)) return match;
      count++;
      return `${pre}${quote}${renamed(value, oldName, newName)}${quote}${typeof post === "string" ? post : ""}`;
    });
  }
  return { text: out, count };
}

/**
 * Removes links to `pagePath` from the navigation (`<nav>` blocks) of an HTML file: a list item holding only
 * that link goes with it, a bare link alone. Links in body text are left to the author.
 */
export function removeNavLinks(html: string, fromFile: string, pagePath: string): { text: string; count: number } {
  let count = 0;
  const text = html.replace(/<nav\b[^>]*>[\s\S]*?<\/nav>/gi, (nav) => {
    const isLink = (a: string) => {
      const href = /\bhref\s*=\s*(["'])([^"']*)\1/i.exec(a);
      return href?.[2] !== undefined && pointsTo(href[2], fromFile, pagePath);
    };
    let out = nav.replace(/[ \t]*<li\b[^>]*>\s*(<a\b[^>]*>[\s\S]*?<\/a>)\s*<\/li>[ \t]*\r?\n?/gi, (li, a: string) => {
      if (!isLink(a)) return li;
      count++;
      return "";
    });
    out = out.replace(/[ \t]*<a\b[^>]*>[\s\S]*?<\/a>[ \t]*\r?\n?/gi, (a) => {
      if (!isLink(a)) return a;
      count++;
      return "";
    });
    return out;
  });
  return { text, count };
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", apos: "'", nbsp: " " };
export const decodeEntities = (s: string) =>
  s.replace(/&(amp|lt|gt|quot|#39|apos|nbsp);/g, (entity, e: string) => ENTITIES[e] ?? entity);
export { escapeHtml };

export function titleOf(html: string): string | null {
  const m = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html);
  return m?.[1] !== undefined ? decodeEntities(m[1].trim()) : null;
}

/** Sets the document's <title>, adding one to <head> (or the top) when there is none. */
export function withTitle(html: string, title: string): string {
  const tag = `<title>${escapeHtml(title)}</title>`;
  if (/<title\b[^>]*>[\s\S]*?<\/title>/i.test(html)) return html.replace(/<title\b[^>]*>[\s\S]*?<\/title>/i, () => tag);
  if (/<head\b[^>]*>/i.test(html)) return html.replace(/<head\b[^>]*>/i, (h) => `${h}\n  ${tag}`);
  return `${tag}\n${html}`;
}

/** A whole document from a fragment; a full document (doctype or <html>) is kept as written. */
export function pageDocument(content: string, title: string): string {
  if (/^\s*(<!doctype\b|<html\b)/i.test(content)) return withTitle(content, title);
  return `<!doctype html>\n<html>\n<head>\n  <meta charset="utf-8">\n  <meta name="viewport" content="width=device-width, initial-scale=1">\n  <title>${escapeHtml(title)}</title>\n</head>\n<body>\n${content}\n</body>\n</html>\n`;
}
