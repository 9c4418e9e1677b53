// What setups and verifiers share: seeding a site, reading the draft, fetching the live site over HTTP, and
// reading (and fingerprinting) files in the instance user's home — the server's own disk.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { World } from "./world.ts";

// ---- instance: the server's files ----

export function homeFile(world: World, relative: string): string | null {
  const file = path.join(world.sshd!.home, relative);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
}

/** Every regular file under the home (relative path → SHA-256), the way the server holds them now. */
export function fingerprint(world: World, under = ""): Map<string, string> {
  const root = path.join(world.sshd!.home, under);
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile())
        out.set(
          path.relative(world.sshd!.home, full),
          crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex"),
        );
    }
  };
  if (fs.existsSync(root)) walk(root);
  return out;
}

/** Files of `before` that are gone or changed now (ignoring `except`). */
export function changedFiles(
  before: Map<string, string>,
  now: Map<string, string>,
  except: (file: string) => boolean = () => false,
): string[] {
  return [...before].filter(([f, h]) => !except(f) && now.get(f) !== h).map(([f]) => f);
}

/** Backdates a file's modification time by `days`. */
export function age(world: World, relative: string, days: number): void {
  const when = new Date(Date.now() - days * 86_400_000);
  fs.utimesSync(path.join(world.sshd!.home, relative), when, when);
}

// ---- site: the draft and the live site ----

/** Writes the draft's files and settings, and publishes it, as the owner would before calling the agent. */
export async function seedSite(
  world: World,
  files: Record<string, string>,
  settings: Record<string, unknown> = {},
  publish = true,
): Promise<void> {
  for (const [file, content] of Object.entries(files)) {
    await world.apiOk("PUT", `/v1/projects/${world.project}/files`, { project: world.project, path: file, content });
  }
  if (Object.keys(settings).length)
    await world.apiOk("PATCH", `/v1/projects/${world.project}/settings`, { project: world.project, settings });
  if (publish) await world.apiOk("POST", `/v1/projects/${world.project}/releases`, { project: world.project });
}

/** A draft file's text, or null when the draft has no such file. */
export async function draftFile(world: World, file: string): Promise<string | null> {
  const res = await world.api("GET", `/v1/projects/${world.project}/files/content?path=${encodeURIComponent(file)}`);
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`read_file ${file}: ${res.status} ${JSON.stringify(res.body)}`);
  return typeof res.body === "string" ? res.body : (res.body.content ?? JSON.stringify(res.body));
}

export async function draftPaths(world: World): Promise<string[]> {
  const body = await world.apiOk("GET", `/v1/projects/${world.project}/files`);
  return (body.files as { path: string }[]).map((f) => f.path);
}

/** GET on the live site, over HTTP from its own listener. */
export async function live(
  world: World,
  sitePath: string,
  init?: RequestInit,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${world.siteUrl}/${sitePath.replace(/^\/+/, "")}`, { redirect: "manual", ...init });
  return { status: res.status, text: await res.text() };
}

/** hrefs of <a> elements (in `within` only, e.g. the <nav>, when given). */
export function links(html: string, within?: string): string[] {
  let scope = html;
  if (within)
    scope = [...html.matchAll(new RegExp(`<${within}\\b[\\s\\S]*?</${within}>`, "gi"))].map((m) => m[0]).join("\n");
  return [...scope.matchAll(/<a\b[^>]*\bhref\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]!);
}

/** An internal link as a site path (`about.html`), or null for external links, anchors and mail links. The
 *  site may be served on its own host, so root-relative links are relative to the site's root. */
export function sitePathOf(href: string, fromPath: string, project: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("#")) return null;
  const clean = href.split("#")[0]!.split("?")[0]!;
  if (!clean) return null;
  const base = `/s/${project}`;
  let p = clean.startsWith(base + "/") ? clean.slice(base.length) : clean;
  if (!p.startsWith("/")) p = path.posix.join(path.posix.dirname(`/${fromPath}`), p);
  return path.posix.normalize(p).replace(/^\/+/, "");
}

/** The text of an element's contents with tags removed (for comparing headings). */
export const textOf = (html: string) =>
  html
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
