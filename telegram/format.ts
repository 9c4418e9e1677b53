// Text for Telegram: the model writes Markdown, Telegram takes a small HTML subset. Long text is split under
// the 4096-character limit at paragraph or line boundaries, before rendering, so no tag is ever cut in two; a
// code fence cut by a split is closed at the end of one part and reopened at the start of the next.
import { escapeHtml } from "../core/html.ts";

/** Telegram's limit is 4096 characters after entity parsing; leave room for the fences a split adds. */
export const MESSAGE_LIMIT = 4000;

// Telegram's HTML mode accepts &quot; and numeric entities, so the one escaper serves it too.
export { escapeHtml };

const FENCE = /^\s*```/;

/** One line of Markdown outside a code block, as Telegram HTML: `code`, **bold**, [links](https://…). */
function inline(line: string): string {
  const parts = line.split(/(`[^`\n]+`)/);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      let html = escapeHtml(part);
      html = html.replace(/\*\*([^*\n]+)\*\*/g, "<b>$1</b>");
      html = html.replace(
        /\[([^\]\n]+)\]\((https?:\/\/[^\s)"]+)\)/g,
        (_, text: string, url: string) => `<a href="${url.replace(/"/g, "&quot;")}">${text}</a>`,
      );
      return html;
    })
    .join("");
}

/** Markdown (as models write it) to Telegram HTML. Line-based, so a construct never spans lines. */
export function markdownToHtml(md: string): string {
  const out: string[] = [];
  let code: string[] | null = null;
  for (const line of md.split("\n")) {
    if (FENCE.test(line)) {
      if (code) {
        out.push(`<pre>${escapeHtml(code.join("\n"))}</pre>`);
        code = null;
      } else code = [];
      continue;
    }
    if (code) code.push(line);
    else {
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      out.push(heading ? `<b>${inline(heading[1]!)}</b>` : inline(line));
    }
  }
  if (code) out.push(`<pre>${escapeHtml(code.join("\n"))}</pre>`); // an unclosed fence (a reply still streaming)
  return out.join("\n");
}

/** What a reader sees of `md` once rendered: for plain-text fallbacks, without Markdown markers. */
export function markdownToPlain(md: string): string {
  return md
    .split("\n")
    .filter((l) => !FENCE.test(l))
    .join("\n");
}

/** Where to cut `text` so the first part has at most `limit` characters: a paragraph, a line, a space, or hard. */
function cutPoint(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  for (const sep of ["\n\n", "\n"]) {
    const at = window.lastIndexOf(sep);
    if (at > limit / 4) return at;
  }
  const space = window.lastIndexOf(" ");
  if (space > limit / 2) return space;
  return limit; // one line longer than a message: nothing better exists
}

/**
 * Splits Markdown into parts of at most `limit` characters each, at paragraph or line boundaries, keeping code
 * fences balanced in every part. Joining the parts with "\n" (after dropping the fences a split added) gives back
 * the text's lines.
 */
export function splitMarkdown(md: string, limit = MESSAGE_LIMIT): string[] {
  const parts: string[] = [];
  let rest = md.replace(/\s+$/, "");
  let reopen = ""; // the fence line to reopen a code block the previous cut left open
  for (let guard = 0; rest && guard < 10_000; guard++) {
    const text = reopen ? `${reopen}\n${rest}` : rest;
    if (text.length <= limit) {
      parts.push(text);
      break;
    }
    const budget = limit - 4; // room to close a fence
    const at = cutPoint(text, budget);
    const head = text.slice(0, at).replace(/\s+$/, "");
    rest = text.slice(at).replace(/^\n+/, "").replace(/^ /, "");
    const fences = head.split("\n").filter((l) => FENCE.test(l));
    const open = fences.length % 2 === 1;
    parts.push(open ? `${head}\n\`\`\`` : head);
    reopen = open ? fences.at(-1)!.trim() : "";
    if (reopen && rest.startsWith(reopen)) reopen = "";
  }
  return parts.filter((p) => p.trim());
}

/** A tool call as a short status line, e.g. `$ systemctl status nginx`. */
export function toolLine(tool: string, input: Record<string, unknown>): string {
  const short = (s: unknown, n = 200) => {
    const t = String(s ?? "")
      .replace(/\s+/g, " ")
      .trim();
    return t.length > n ? `${t.slice(0, n - 1)}…` : t;
  };
  if (tool === "run_command") return `$ ${short(input.command)}`;
  const target = input.path ?? input.unit ?? input.url ?? input.query;
  return `⚙ ${tool}${target !== undefined ? ` ${short(target, 120)}` : ""}`;
}
