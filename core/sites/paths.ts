// Site file paths and what a path says about a file: its normal form, its Content-Type, its asset category,
// and whether its type is refused. Pure, so the serving listener and every operation agree on one answer.
import { BosunError } from "../kernel/errors.ts";

export const MAX_PATH_LENGTH = 512;
const MAX_SEGMENT = 255;

/** The error for a refused path: its own code, and the field named like a validation error. */
export const invalidPath = (why: string, field = "path") =>
  new BosunError("invalid_path", `${field}: ${why}`, { issues: [{ path: field, message: why }], field });

/**
 * Characters a name must not hold although they look like nothing (or reorder what is shown): C0/C1 controls,
 * Unicode format characters (bidi embeddings and overrides U+202A–202E, isolates U+2066–2069, marks U+200E/F,
 * zero-width U+200B–200D, U+FEFF, soft hyphen…), other default-ignorable code points, lone surrogates,
 * line/paragraph separators and every space but U+0020 (a no-break space would pass for a plain one).
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|[^\P{Zs} ]/u;
/**
 * CON, PRN, AUX, NUL, COM0–9, LPT0–9 (also with superscript digits), CONIN$, CONOUT$: with any extension, and with
 * spaces before it (Windows drops them: `con .txt` is the console too).
 */
const WINDOWS_DEVICE =
  /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$) *(\.|$)/i;

/**
 * The normal form of a draft path: relative, '/'-separated, no empty, '.' or '..' segments. A leading '/' is
 * accepted (site-rooted) and dropped; anything that would climb out of the site, NUL, control, bidi and other
 * invisible characters, backslashes (Windows separators a browser treats as '/'), names ending in a dot or a
 * space, ':' (an NTFS stream), Windows device names and over-long names are refused, not repaired.
 */
export function normalisePath(raw: string, field = "path"): string {
  if (typeof raw !== "string" || raw.length === 0) throw invalidPath("must not be empty", field);
  if (raw.length > MAX_PATH_LENGTH) throw invalidPath(`must be at most ${MAX_PATH_LENGTH} characters`, field);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalidPath("must not contain NUL or control characters", field);
  if (raw.includes("\\")) throw invalidPath("must use '/' as the separator, not '\\'", field);
  if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) throw invalidPath("must be a path inside the site, not a URL", field);
  if (INVISIBLE.test(raw)) {
    throw invalidPath(
      "must not contain invisible, bidirectional-override or other format characters (e.g. U+200B, U+202E)",
      field,
    );
  }
  const segments: string[] = [];
  for (const segment of raw.replace(/^\/+/, "").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") throw invalidPath("must not contain '..' segments", field);
    if (segment.length > MAX_SEGMENT)
      throw invalidPath(`each segment must be at most ${MAX_SEGMENT} characters`, field);
    // Windows and some servers drop trailing dots and spaces: `shell.php.` or `shell.php ` would become
    // `shell.php` there, past the blocked-type check. Refused, not trimmed, so the name stays what was asked.
    if (/[. ]$/.test(segment)) throw invalidPath(`'${segment}' must not end with a dot or a space`, field);
    if (/^ /.test(segment)) throw invalidPath(`'${segment}' must not start with a space`, field);
    // NTFS reads `name:stream` as a stream of `name`: `shell.php::$DATA` or `shell.php:x.png` would write `shell.php`.
    if (segment.includes(":")) throw invalidPath(`'${segment}' must not contain ':'`, field);
    if (WINDOWS_DEVICE.test(segment)) throw invalidPath(`'${segment}' is a reserved device name on Windows`, field);
    segments.push(segment);
  }
  if (segments.length === 0) throw invalidPath("must name a file inside the site", field);
  return segments.join("/");
}

/** A prefix filter: like a path, but may be empty and may end with '/'. */
export function normalisePrefix(raw: string | undefined): string {
  if (!raw || raw === "/") return "";
  const trailing = raw.endsWith("/");
  const path = normalisePath(raw, "prefix");
  return trailing ? `${path}/` : path;
}

export const extensionOf = (path: string) => {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
};

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  webmanifest: "application/manifest+json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  xml: "application/xml",
  rss: "application/rss+xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  bmp: "image/bmp",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  eot: "application/vnd.ms-fontobject",
  pdf: "application/pdf",
  zip: "application/zip",
  mp4: "video/mp4",
  webm: "video/webm",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  wasm: "application/wasm",
};

/** Unknown types are served as bytes to download, never sniffed into something a browser would run. */
export const contentTypeOf = (path: string) => TYPES[extensionOf(path)] ?? "application/octet-stream";

export const isHtml = (path: string) => ["html", "htm"].includes(extensionOf(path));

export type AssetCategory = "images" | "css" | "js" | "fonts" | "files";
const CATEGORY: Record<string, AssetCategory> = {
  png: "images",
  jpg: "images",
  jpeg: "images",
  gif: "images",
  webp: "images",
  avif: "images",
  svg: "images",
  ico: "images",
  bmp: "images",
  css: "css",
  js: "js",
  mjs: "js",
  woff: "fonts",
  woff2: "fonts",
  ttf: "fonts",
  otf: "fonts",
  eot: "fonts",
};
export const categoryOf = (path: string): AssetCategory => CATEGORY[extensionOf(path)] ?? "files";
export const assetCategories = ["images", "css", "js", "fonts", "files"] as const;

/**
 * Types a web server might execute, or an OS would run when a visitor downloads it. Bosun never executes them,
 * but a site exported to another host could, so they are refused at the door (by every extension in the name:
 * `shell.php.png` is refused too, since some servers honour the inner one).
 */
const BLOCKED = new Set([
  "php",
  "php3",
  "php4",
  "php5",
  "php7",
  "phps",
  "phtml",
  "phar",
  "pht",
  "inc",
  "cgi",
  "pl",
  "py",
  "pyc",
  "rb",
  "sh",
  "bash",
  "zsh",
  "ksh",
  "csh",
  "exe",
  "dll",
  "so",
  "bat",
  "cmd",
  "com",
  "msi",
  "scr",
  "vbs",
  "vbe",
  "jse",
  "wsf",
  "wsh",
  "ps1",
  "psm1",
  "jar",
  "jsp",
  "jspx",
  "asp",
  "aspx",
  "ashx",
  "asmx",
  "cer",
  "cfm",
  "shtml",
  "htaccess",
  "htpasswd",
  "appimage",
  "deb",
  "rpm",
  "apk",
  "lnk",
  "reg",
]);
const BLOCKED_NAMES = new Set([".htaccess", ".htpasswd", "web.config", ".user.ini", "php.ini"]);

/** Why a file name is refused, or null when it is fine. */
export function blockedReason(path: string): string | null {
  // Judged on the name as a server or OS would see it: compatibility forms folded (`ｐｈｐ` is `php`), case
  // ignored, trailing dots and spaces dropped (normalisePath refuses those anyway; this holds for any caller).
  const name = path
    .slice(path.lastIndexOf("/") + 1)
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[. ]+$/, "");
  if (BLOCKED_NAMES.has(name)) return `'${name}' is a server configuration file`;
  const parts = name.split(".").slice(1);
  const bad = parts.find((p) => BLOCKED.has(p));
  return bad ? `.${bad} files are executable or server-side and are not accepted` : null;
}

export const isImage = (path: string) => ["png", "jpg", "jpeg", "gif", "webp"].includes(extensionOf(path));

/** Whether bytes can be handed out as text: valid UTF-8 without NUL (anything else goes as base64). */
export function isText(data: Buffer): boolean {
  if (data.includes(0)) return false;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}
