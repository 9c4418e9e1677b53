import { describe, expect, it } from "vitest";
import { decodeEntities, htmlToText } from "./html-to-text.ts";

describe("htmlToText", () => {
  it("keeps the content and drops what is not content", () => {
    const { title, text } = htmlToText(
      `<html><head><meta charset="utf-8"><title> Contact  us </title><script>var x = "<p>not text</p>";</script></head>
       <body><!-- a comment <p>hidden</p> --><nav>Home</nav><style>.a{}</style>
       <h2>Write to us</h2><p>Mail <a href="mailto:a@b.c">us</a> or see <a href='https://example.com/faq' class=x>the FAQ</a>.</p>
       <table><tr><th>Day</th><th>Hours</th></tr><tr><td>Mon</td><td>9&ndash;5</td></tr></table>
       <pre>  indented
    code</pre><noscript>enable js</noscript><p>5 &lt; 6 &amp;&amp; 7 &gt; 6 &#x1F600; &#233; &bogus;</p></body></html>`,
      "https://site.test/contact",
    );
    expect(title).toBe("Contact us");
    expect(text).not.toMatch(/not text|hidden|enable js|\.a\{\}|var x/);
    expect(text).toContain("## Write to us");
    expect(text).toContain("Mail us or see the FAQ (https://example.com/faq).");
    expect(text).toContain("| Day | Hours");
    expect(text).toContain("| Mon | 9–5");
    expect(text).toContain("code");
    expect(text).toContain("5 < 6 && 7 > 6 😀 é &bogus;");
  });

  it("survives broken markup", () => {
    expect(htmlToText("<p>a < b and <3</p><script>never closed <p>x").text).toBe("a < b and <3");
    expect(htmlToText('<a href="x>y">link</a> <div class="a>b">after</div>').text).toBe("link\nafter");
    expect(htmlToText("plain text, no tags").text).toBe("plain text, no tags");
    expect(htmlToText("<!-- unterminated comment <p>x</p>").text).toBe("");
  });

  it("is linear on hostile input", () => {
    const started = Date.now();
    for (const html of [
      "<".repeat(200_000),
      "<a ".repeat(100_000),
      "<script>".repeat(50_000),
      '<p a="'.repeat(50_000),
      "&#x".repeat(100_000),
    ]) {
      htmlToText(html);
    }
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("decodes entities, leaving unknown and invalid ones", () => {
    expect(decodeEntities("&amp;&lt;&gt;&quot;&#39;&#x41;&nbsp;&unknown;&#xD800;&#1114112;")).toBe(
      "&<>\"'A &unknown;&#xD800;&#1114112;",
    );
  });
});
