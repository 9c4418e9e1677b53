import { describe, expect, it } from "vitest";
import { BosunError } from "../errors.ts";
import { blockedReason, categoryOf, contentTypeOf, isText, normalisePath, normalisePrefix } from "./paths.ts";

const refused = (raw: string) => {
  try {
    normalisePath(raw);
    return null;
  } catch (err) {
    return (err as BosunError).code;
  }
};

describe("normalisePath", () => {
  it("normalises harmless forms", () => {
    expect(normalisePath("/index.html")).toBe("index.html");
    expect(normalisePath("a//b/./c.css")).toBe("a/b/c.css");
    expect(normalisePrefix("assets/")).toBe("assets/");
    expect(normalisePrefix("/")).toBe("");
  });

  it("refuses escapes, control characters, URLs and empty paths with invalid_path", () => {
    for (const raw of ["..", "../x", "a/../../x", "a/..", "x\u0000y", "x\ny", "a\\b", "C:\\x", "https://x/y", "javascript:alert(1)", "", "/", "./", "a".repeat(600), `${"b".repeat(256)}.html`]) {
      expect.soft(refused(raw), JSON.stringify(raw.slice(0, 30))).toBe("invalid_path");
    }
  });
});

describe("file types", () => {
  it("maps extensions to types and categories, unknown to bytes", () => {
    expect(contentTypeOf("a/B.HTML")).toBe("text/html; charset=utf-8");
    expect(contentTypeOf("x.woff2")).toBe("font/woff2");
    expect(contentTypeOf("Makefile")).toBe("application/octet-stream");
    expect(categoryOf("x.JPG")).toBe("images");
    expect(categoryOf("x.pdf")).toBe("files");
  });

  it("blocks executable and server-side names wherever the extension sits", () => {
    for (const name of ["a.php", "A.PHP", "x.php.png", "x.phtml", "y.phar", "z.exe", "b.bat", "s.sh", "p.py", "r.rb", ".htaccess", "dir/.htpasswd", "web.config", "a.asp", "a.jsp", "a.cgi"]) {
      expect.soft(blockedReason(name), name).not.toBeNull();
    }
    for (const name of ["index.html", "app.js", "style.css", "photo.jpeg", "menu.pdf", "php-tips.html"]) expect.soft(blockedReason(name), name).toBeNull();
  });

  it("tells text from binary", () => {
    expect(isText(Buffer.from("héllo"))).toBe(true);
    expect(isText(Buffer.from([0x68, 0, 0x69]))).toBe(false);
    expect(isText(Buffer.from([0xff, 0xfe, 0xfd]))).toBe(false);
  });
});
