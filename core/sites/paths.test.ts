import { describe, expect, it } from "vitest";
import type { BosunError } from "../kernel/errors.ts";
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
    for (const raw of [
      "..",
      "../x",
      "a/../../x",
      "a/..",
      "x\u0000y",
      "x\ny",
      "a\\b",
      "C:\\x",
      "https://x/y",
      "javascript:alert(1)",
      "",
      "/",
      "./",
      "a".repeat(600),
      `${"b".repeat(256)}.html`,
    ]) {
      expect.soft(refused(raw), JSON.stringify(raw.slice(0, 30))).toBe("invalid_path");
    }
  });
});

describe("names that hide what they are", () => {
  const why = (raw: string) => {
    try {
      normalisePath(raw);
      return null;
    } catch (err) {
      return (err as BosunError).message;
    }
  };
  it("refuses trailing dots and spaces (which Windows and some servers drop), and a leading space", () => {
    for (const raw of [
      "shell.php ",
      "shell.php.",
      "shell.php. . ",
      "dir./a.html",
      "dir /a.html",
      "a.html\u0020",
      "...",
      " a.html",
    ]) {
      expect
        .soft(why(raw), JSON.stringify(raw))
        .toMatch(/end with a dot or a space|start with a space|'\.\.' segments/);
    }
  });

  it("refuses bidi overrides, zero-width and other invisible or format characters, and lone surrogates", () => {
    const chars = [
      "\u202e",
      "\u202a",
      "\u2066",
      "\u2069",
      "\u200e",
      "\u200f",
      "\u061c",
      "\u200b",
      "\u200c",
      "\u200d",
      "\u2060",
      "\ufeff",
      "\u00ad",
      "\u180e",
      "\u0085",
      "\u009b",
      "\u2028",
      "\u2029",
      "\u00a0",
      "\u3000",
      "\ud800",
      "\udc00",
      "\u034f",
      "\ufe0f",
    ];
    for (const c of chars) {
      const code = c.codePointAt(0)!.toString(16);
      expect.soft(refused(`invoice${c}gpj.html`), code).toBe("invalid_path");
      expect.soft(why(`a/b${c}.png`), code).toMatch(/invisible|control/);
    }
  });

  it("refuses Windows reserved device names, with any extension or case", () => {
    for (const raw of [
      "con",
      "CON.html",
      "prn.txt",
      "aux",
      "Nul.png",
      "com1",
      "COM9.js",
      "lpt1.css",
      "lpt\u00b9.txt",
      "conin$",
      "CONOUT$.log",
      "dir/nul.html",
      "aux/index.html",
      "con .txt",
      "NUL  .tar.gz",
    ]) {
      expect.soft(why(raw), raw).toMatch(/reserved device name/);
    }
  });

  it("refuses ':' anywhere in a name: on NTFS `shell.php::$DATA` and `shell.php:x.png` write `shell.php`", () => {
    for (const raw of ["a/shell.php::$DATA", "a/shell.php:x.png", "dir/x:y/index.html", "a/b:"]) {
      expect.soft(why(raw), raw).toMatch(/must not contain ':'/);
    }
  });

  it("keeps ordinary names, spaces and non-Latin letters", () => {
    for (const raw of [
      "my file.html",
      "café/menú.html",
      "日本語.html",
      "emoji😀.png",
      ".well-known/security.txt",
      "console.html",
      "com10.html",
      "lpt.html",
      "a.b.c.css",
      "auxiliary.js",
      "con x.txt",
      "nulls.txt",
    ]) {
      expect.soft(why(raw), raw).toBeNull();
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
    for (const name of [
      "a.php",
      "A.PHP",
      "x.php.png",
      "x.phtml",
      "y.phar",
      "z.exe",
      "b.bat",
      "s.sh",
      "p.py",
      "r.rb",
      ".htaccess",
      "dir/.htpasswd",
      "web.config",
      "a.asp",
      "a.jsp",
      "a.cgi",
    ]) {
      expect.soft(blockedReason(name), name).not.toBeNull();
    }
    for (const name of ["index.html", "app.js", "style.css", "photo.jpeg", "menu.pdf", "php-tips.html"])
      expect.soft(blockedReason(name), name).toBeNull();
    // Judged on the normalised name: trailing dots and spaces dropped, compatibility forms folded.
    for (const name of [
      "shell.php ",
      "shell.php.",
      "shell.php. .",
      "shell.\uff50\uff48\uff50",
      "SHELL.\uff30HP",
      ".htaccess ",
      "web.config.",
    ]) {
      expect.soft(blockedReason(name), JSON.stringify(name)).not.toBeNull();
    }
  });

  it("tells text from binary", () => {
    expect(isText(Buffer.from("héllo"))).toBe(true);
    expect(isText(Buffer.from([0x68, 0, 0x69]))).toBe(false);
    expect(isText(Buffer.from([0xff, 0xfe, 0xfd]))).toBe(false);
  });
});
