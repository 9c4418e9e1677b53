import { describe, expect, it } from "vitest";
import { parseHtml } from "../testkit/fake-telegram.ts";
import { markdownToHtml, markdownToPlain, splitMarkdown, toolLine } from "./format.ts";

const visible = (html: string) => {
  const parsed = parseHtml(html);
  if ("error" in parsed) throw new Error(parsed.error);
  return parsed.text;
};

describe("splitting long replies", () => {
  it("cuts a 10,000-character reply into three parts under the limit, at line boundaries", () => {
    const lines = Array.from({ length: 126 }, (_, i) => `line ${String(i).padStart(3, "0")} ${"x".repeat(70)}`);
    const text = lines.join("\n");
    expect(text.length).toBeGreaterThanOrEqual(10_000);
    const parts = splitMarkdown(text);
    expect(parts).toHaveLength(3);
    for (const p of parts) {
      expect(p.length).toBeLessThan(4096);
      expect(visible(markdownToHtml(p)).length).toBeLessThan(4096);
      // Every part is made of whole lines of the original.
      for (const l of p.split("\n")) expect(lines).toContain(l);
    }
    expect(parts.join("\n")).toBe(text);
  });

  it("prefers paragraph boundaries to line boundaries", () => {
    const para = (c: string) => Array.from({ length: 20 }, () => c.repeat(60)).join("\n");
    const paras = [para("a"), para("b"), para("c"), para("d")];
    const parts = splitMarkdown(paras.join("\n\n"), 3000);
    expect(parts).toHaveLength(2);
    // Whole paragraphs only: a line-level cut could have packed more into the first part.
    for (const p of parts) for (const chunk of p.split("\n\n")) expect(paras).toContain(chunk);
  });

  it("closes a code fence a cut falls into and reopens it in the next part, so both render", () => {
    const code = Array.from({ length: 120 }, (_, i) => `  ${i} <tag> & "quoted" value`).join("\n");
    const text = `Here is the log:\n\n\`\`\`log\n${code}\n\`\`\`\n\nThat is all.`;
    const parts = splitMarkdown(text, 1500);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(1500);
      expect(p.split("\n").filter((l) => l.startsWith("```")).length % 2).toBe(0);
      const html = markdownToHtml(p);
      expect(() => visible(html)).not.toThrow();
    }
    expect(parts[1]!.startsWith("```log")).toBe(true);
    const shown = parts.map((p) => visible(markdownToHtml(p))).join("\n");
    expect(shown).toContain('  119 <tag> & "quoted" value');
    expect(shown).toContain("That is all.");
  });

  it("hard-cuts a single line longer than a message", () => {
    const parts = splitMarkdown("y".repeat(9000));
    expect(parts.every((p) => p.length <= 4000)).toBe(true);
    expect(parts.join("")).toBe("y".repeat(9000));
  });
});

describe("markdown to Telegram HTML", () => {
  it("renders code, bold and links, and escapes everything else", () => {
    const html = markdownToHtml(
      "**Fixed**: `nginx -t` passed <b>really</b> & [docs](https://nginx.org/x?a=1&b=2)\n# Done",
    );
    expect(html).toBe(
      '<b>Fixed</b>: <code>nginx -t</code> passed &lt;b&gt;really&lt;/b&gt; &amp; <a href="https://nginx.org/x?a=1&amp;b=2">docs</a>\n<b>Done</b>',
    );
    expect(visible(html)).toContain("passed <b>really</b> &");
  });

  it("renders an unclosed fence (a reply cut mid-stream) as well-formed markup", () => {
    expect(visible(markdownToHtml("```\nrm -rf /tmp/x"))).toBe("rm -rf /tmp/x");
    expect(markdownToPlain("```sh\nls\n```")).toBe("ls");
  });

  it("shows tool calls as short status lines", () => {
    expect(toolLine("run_command", { command: "systemctl   status nginx" })).toBe("$ systemctl status nginx");
    expect(toolLine("read_remote_file", { path: "/etc/nginx/nginx.conf" })).toBe(
      "⚙ read_remote_file /etc/nginx/nginx.conf",
    );
  });
});
