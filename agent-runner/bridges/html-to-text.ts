// HTML → readable plain text for fetch_url. A single forward scan (no DOM, no backtracking regexes over the
// whole page), so hostile or broken markup costs linear time: scripts, styles and other non-content elements
// are dropped, block elements become line breaks, links keep their target, entities are decoded, whitespace
// is collapsed (except inside <pre>).

const SKIP = new Set([
  "script",
  "style",
  "noscript",
  "template",
  "svg",
  "math",
  "iframe",
  "object",
  "canvas",
  "select",
  "head",
]);
const BLOCK = new Set([
  "p",
  "div",
  "section",
  "article",
  "header",
  "footer",
  "main",
  "nav",
  "aside",
  "ul",
  "ol",
  "dl",
  "dt",
  "dd",
  "table",
  "tr",
  "form",
  "fieldset",
  "blockquote",
  "pre",
  "figure",
  "figcaption",
  "hr",
  "address",
  "details",
  "summary",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "body",
  "html",
  "label",
  "option",
]);
const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  copy: "©",
  reg: "®",
  trade: "™",
  hellip: "…",
  mdash: "—",
  ndash: "–",
  lsquo: "‘",
  rsquo: "’",
  ldquo: "“",
  rdquo: "”",
  laquo: "«",
  raquo: "»",
  bull: "•",
  middot: "·",
  euro: "€",
  pound: "£",
  yen: "¥",
  cent: "¢",
  deg: "°",
  times: "×",
  divide: "÷",
  shy: "",
};

export function decodeEntities(s: string): string {
  return s.replace(/&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{2,8});/g, (m, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[body.toLowerCase()] ?? m;
  });
}

const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9-]*)/y;

/** Index just past the `>` closing the tag that starts at `from`, honouring quoted attribute values. */
function tagEnd(html: string, from: number): number {
  let quote = "";
  for (let i = from; i < html.length; i++) {
    const c = html[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ">") return i + 1;
  }
  return html.length;
}

function hrefOf(tag: string, base: string | undefined): string | undefined {
  const m = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i.exec(tag);
  const raw = m && decodeEntities((m[1] ?? m[2] ?? m[3] ?? "").trim());
  if (!raw || raw.startsWith("#")) return undefined;
  try {
    const url = new URL(raw, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

export function htmlToText(html: string, baseUrl?: string): { title?: string; text: string } {
  const out: string[] = [];
  let title: string | undefined;
  let pre = 0;
  let link: { href: string; start: number } | undefined;
  const text = (s: string) => {
    if (!s) return;
    const decoded = decodeEntities(s);
    out.push(pre ? decoded : decoded.replace(/\s+/g, " "));
  };

  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf("<", i);
    if (lt < 0) {
      text(html.slice(i));
      break;
    }
    text(html.slice(i, lt));
    if (html.startsWith("<!--", lt)) {
      const end = html.indexOf("-->", lt + 4);
      i = end < 0 ? html.length : end + 3;
      continue;
    }
    if (html[lt + 1] === "!" || html[lt + 1] === "?") {
      i = tagEnd(html, lt + 2);
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    if (!m) {
      text("<");
      i = lt + 1;
      continue;
    }
    const closing = m[1] === "/";
    const name = m[2]!.toLowerCase();
    const end = tagEnd(html, lt + m[0].length);
    const tag = html.slice(lt, end);
    i = end;

    if (!closing && (name === "title" || SKIP.has(name)) && !tag.endsWith("/>")) {
      // Everything up to the matching close tag is dropped (the title is kept aside). Inside <head> only the
      // title matters, so look for it there before skipping.
      const close = new RegExp(`</${name}\\s*>`, "gi");
      close.lastIndex = i;
      const found = close.exec(html);
      const inner = html.slice(i, found ? found.index : html.length);
      if (name === "title" && title === undefined)
        title = decodeEntities(inner).replace(/\s+/g, " ").trim() || undefined;
      if (name === "head" && title === undefined) {
        const t = /<title[^>]*>([\s\S]*?)<\/title\s*>/i.exec(inner.length > 200_000 ? inner.slice(0, 200_000) : inner);
        if (t) title = decodeEntities(t[1]!).replace(/\s+/g, " ").trim() || undefined;
      }
      i = found ? found.index + found[0].length : html.length;
      continue;
    }
    if (name === "pre") pre = Math.max(0, pre + (closing ? -1 : 1));
    if (name === "br") out.push("\n");
    else if (name === "li") out.push(closing ? "" : "\n- ");
    else if (name === "td" || name === "th") out.push(closing ? "" : " | ");
    else if (/^h[1-6]$/.test(name)) out.push(closing ? "\n\n" : `\n\n${"#".repeat(Number(name[1]))} `);
    else if (BLOCK.has(name)) out.push(name === "p" ? "\n\n" : "\n");
    else if (name === "a") {
      if (!closing) {
        const href = hrefOf(tag, baseUrl);
        link = href ? { href, start: out.length } : undefined;
      } else if (link) {
        const label = out.slice(link.start).join("").trim();
        if (label && label !== link.href) out.push(` (${link.href})`);
        link = undefined;
      }
    }
  }

  const joined = out
    .join("")
    .replace(/[ \t\u00a0]+\n/g, "\n")
    .replace(/\n[ \u00a0](?=\S)/g, "\n") // the one collapsed space after a break (a <pre>'s indentation is longer and mostly survives)
    .replace(/\n{3,}/g, "\n\n")
    .trim();
  return { title, text: joined };
}
