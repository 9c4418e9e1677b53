// Site file paths and what a path says about a file: its normal form, its Content-Type, its asset category,
// and whether its type is refused. Pure, so the serving listener and every operation agree on one answer.
import { BosunError } from "../errors.ts";

export const MAX_PATH_LENGTH = 512;
const MAX_SEGMENT = 255;

/** The error for a refused path: its own code, and the field named like a validation error. */
export const invalidPath = (why: string, field = "path") =>
  new BosunError("invalid_path", `${field}: ${why}`, { issues: [{ path: field, message: why }], field });

/**
 * The normal form of a draft path: relative, '/'-separated, no empty, '.' or '..' segments. A leading '/' is
 * accepted (site-rooted) and dropped; anything that would climb out of the site, NUL and control characters,
 * backslashes (Windows separators a browser treats as '/') and over-long names are refused, not repaired.
 */
export function normalisePath(raw: string, field = "path"): string {
  if (typeof raw !== "string" || raw.length === 0) throw invalidPath("must not be empty", field);
  if (raw.length > MAX_PATH_LENGTH) throw invalidPath(`must be at most ${MAX_PATH_LENGTH} characters`, field);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw invalidPath("must not contain NUL or control characters", field);
  if (raw.includes("\\")) throw invalidPath("must use '/' as the separator, not '\\'", field);
  if (/^[a-z][a-z0-9+.-]*:/i.test(raw)) throw invalidPath("must be a path inside the site, not a URL", field);
  const segments: string[] = [];
  for (const segment of raw.replace(/^\/+/, "").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") throw invalidPath("must not contain '..' segments", field);
    if (segment.length > MAX_SEGMENT) throw invalidPath(`each segment must be at most ${MAX_SEGMENT} characters`, field);
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
  png: "images", jpg: "images", jpeg: "images", gif: "images", webp: "images", avif: "images", svg: "images", ico: "images", bmp: "images",
  css: "css",
  js: "js", mjs: "js",
  woff: "fonts", woff2: "fonts", ttf: "fonts", otf: "fonts", eot: "fonts",
};
export const categoryOf = (path: string): AssetCategory => CATEGORY[extensionOf(path)] ?? "files";
export const assetCategories = ["images", "css", "js", "fonts", "files"] as const;

/**
 * Types a web server might execute, or an OS would run when a visitor downloads it. Bosun never executes them,
 * but a site exported to another host could, so they are refused at the door (by every extension in the name:
 * `shell.php.png` is refused too, since some servers honour the inner one).
 */
const BLOCKED = new Set([
  "php", "php3", "php4", "php5", "php7", "phps", "phtml", "phar", "pht", "inc", "cgi", "pl", "py", "pyc", "rb", "sh", "bash",
  "zsh", "ksh", "csh", "exe", "dll", "so", "bat", "cmd", "com", "msi", "scr", "vbs", "vbe", "jse", "wsf", "wsh", "ps1", "psm1",
  "jar", "jsp", "jspx", "asp", "aspx", "ashx", "asmx", "cer", "cfm", "shtml", "htaccess", "htpasswd", "appimage", "deb", "rpm",
  "apk", "lnk", "reg",
]);
const BLOCKED_NAMES = new Set([".htaccess", ".htpasswd", "web.config", ".user.ini", "php.ini"]);

/** Why a file name is refused, or null when it is fine. */
export function blockedReason(path: string): string | null {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
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
