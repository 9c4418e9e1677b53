// What the sites listener serves, decided here (sites-server/app.ts only speaks HTTP): which site a request
// names, which file of which release answers a path, redirects, the custom 404 and SPA fallback, and the
// password gate. Live state is cached per process and dropped when a site changes (publish, rollback, delete) on
// any process; a release's files are immutable, so their lookups are cached without expiry. The settings and
// password served are the live release's, never the draft's: only publishing changes what visitors get.
import crypto from "node:crypto";
import { verifyPassword } from "../identity/passwords.ts";
import { RESYNC_TOPIC } from "../notify.ts";
import type { Platform } from "../platform.ts";
import { BlobCache } from "./blobs.ts";
import { draftEntry, type ManifestEntry, releaseEntry } from "./draft.ts";
import { contentTypeOf, extensionOf } from "./paths.ts";
import { readSettings, type SiteSettings } from "./settings.ts";
import { SITE_CHANGED_TOPIC } from "./site.ts";

export interface LiveSite {
  projectId: string;
  slug: string;
  liveRelease: number | null;
  settings: SiteSettings;
  passwordHash: string | null;
}

/** Where a request's files come from: the live release, or the draft (a signed preview). */
export type Source = { kind: "live"; release: number } | { kind: "draft" };

export type Resolution =
  | { kind: "file"; status: 200 | 404; entry: ManifestEntry; contentType: string }
  | { kind: "redirect"; status: number; location: string }
  | { kind: "not_found" };

// Publish, rollback and delete_project drop the cache at once through the notifier (RESYNC after a lost LISTEN);
// the TTL is only a backstop for a change made outside the operations (an operator's manual SQL).
const SITE_TTL_MS = 10_000;
const MAX_SITES = 10_000;
const MAX_LOOKUPS = 100_000;

export class SiteServer {
  private sites = new Map<string, { site: LiveSite; at: number }>();
  private lookups = new Map<string, ManifestEntry | null>();
  private generation = 0;
  readonly blobs = new BlobCache();

  constructor(private readonly platform: Platform) {
    const drop = () => {
      this.generation++;
      this.sites.clear();
    };
    // One site changed somewhere: forget every cached site (cheap, and the slug is not in the message).
    platform.notifier.on(SITE_CHANGED_TOPIC, drop);
    platform.notifier.on(RESYNC_TOPIC, drop);
  }

  /** The site named by `slug` (null: no such site project), cached until a site changes. */
  async site(slug: string): Promise<LiveSite | null> {
    const hit = this.sites.get(slug);
    if (hit && Date.now() - hit.at < SITE_TTL_MS) return hit.site;
    const generation = this.generation;
    const row = await this.platform.db
      .selectFrom("projects as p")
      .leftJoin("sites as s", "s.project_id", "p.id")
      .leftJoin("site_releases as r", (j) =>
        j.onRef("r.project_id", "=", "p.id").onRef("r.number", "=", "s.live_release"),
      )
      .select(["p.id", "p.slug", "s.live_release", "r.settings", "r.password_hash"])
      .where("p.slug", "=", slug)
      .where("p.kind", "=", "site")
      .executeTakeFirst();
    const site: LiveSite | null = row
      ? {
          projectId: row.id,
          slug: row.slug,
          liveRelease: row.live_release ?? null,
          settings: readSettings(row.settings ?? {}),
          passwordHash: row.password_hash ?? null,
        }
      : null;
    // Stored only if no change arrived while reading: a stale answer must not outlive the invalidation.
    // Misses are not stored: a project created a moment ago (no change event yet) must be found.
    if (site && generation === this.generation) {
      if (this.sites.size >= MAX_SITES) this.sites.clear();
      this.sites.set(slug, { site, at: Date.now() });
    }
    return site;
  }

  /** The worker a live path is routed to (`worker_routes`, first match; a `*` at the end matches a prefix). */
  workerFor(site: LiveSite, requestPath: string): string | null {
    for (const r of site.settings.worker_routes ?? []) {
      const prefix = r.pattern.endsWith("*") ? r.pattern.slice(0, -1) : null;
      if (prefix !== null ? requestPath.startsWith(prefix) : requestPath === r.pattern) return r.worker;
    }
    return null;
  }

  /** The site as its draft would serve it (a signed preview): the draft's settings, read fresh. */
  async draft(site: LiveSite): Promise<LiveSite> {
    const row = await this.platform.db
      .selectFrom("sites")
      .select(["settings", "password_hash"])
      .where("project_id", "=", site.projectId)
      .executeTakeFirst();
    return { ...site, settings: readSettings(row?.settings ?? {}), passwordHash: row?.password_hash ?? null };
  }

  private async entry(site: LiveSite, source: Source, path: string): Promise<ManifestEntry | null> {
    if (source.kind === "draft") return (await draftEntry(this.platform.db, site.projectId, path)) ?? null;
    const key = `${site.projectId}\u0000${source.release}\u0000${path}`;
    const hit = this.lookups.get(key);
    if (hit !== undefined) return hit;
    const found = (await releaseEntry(this.platform.db, site.projectId, source.release, path)) ?? null;
    if (this.lookups.size >= MAX_LOOKUPS) this.lookups.clear();
    this.lookups.set(key, found);
    return found;
  }

  /**
   * Answers a request path (already percent-decoded, without the site prefix; `/` for the root). `base` is
   * the URL prefix the site is served under (`/s/slug` or ``), for redirects.
   */
  async resolve(site: LiveSite, source: Source, requestPath: string, base: string): Promise<Resolution> {
    const settings = site.settings;
    for (const r of settings.redirects ?? []) {
      const prefix = r.from.endsWith("*") ? r.from.slice(0, -1) : null;
      const hit =
        prefix !== null ? requestPath.startsWith(prefix) : requestPath === r.from || requestPath === `${r.from}/`;
      if (!hit) continue;
      let to = r.to;
      if (prefix !== null && to.endsWith("*")) to = to.slice(0, -1) + requestPath.slice(prefix.length);
      return { kind: "redirect", status: r.status, location: to.startsWith("/") ? `${base}${to}` : to };
    }

    const clean = requestPath.replace(/^\/+/, "");
    const segments = clean.split("/");
    if (segments.some((s) => s === ".." || s === "." || /[\u0000-\u001f\\]/.test(s))) return { kind: "not_found" };
    const dirLike = clean === "" || clean.endsWith("/");
    const candidates = dirLike ? [`${clean}index.html`] : [clean, `${clean}.html`];
    for (const path of candidates) {
      const entry = await this.entry(site, source, path);
      if (entry) return { kind: "file", status: 200, entry, contentType: contentTypeOf(path) };
    }
    // `/blog` with a `blog/index.html`: redirect to `/blog/` so the page's relative links resolve.
    if (!dirLike && (await this.entry(site, source, `${clean}/index.html`))) {
      return { kind: "redirect", status: 301, location: `${base}/${clean}/` };
    }
    if (settings.spa_fallback && extensionOf(clean) === "") {
      const index = await this.entry(site, source, "index.html");
      if (index) return { kind: "file", status: 200, entry: index, contentType: contentTypeOf("index.html") };
    }
    if (settings.not_found_path) {
      const page = await this.entry(site, source, settings.not_found_path);
      if (page) return { kind: "file", status: 404, entry: page, contentType: contentTypeOf(settings.not_found_path) };
    }
    return { kind: "not_found" };
  }

  /** Response headers the site's settings add for this path (only the whitelisted names ever get stored). */
  customHeaders(site: LiveSite, requestPath: string): [string, string][] {
    return (site.settings.headers ?? [])
      .filter((h) => (h.path.endsWith("*") ? requestPath.startsWith(h.path.slice(0, -1)) : requestPath === h.path))
      .map((h) => [h.name, h.value]);
  }

  // Password protection: the visitor enters the password once; the cookie then carries an HMAC bound to the
  // site and to the current password hash, so changing the password logs every visitor out.
  private cookieMac(site: LiveSite): string {
    return crypto
      .createHmac("sha256", this.platform.secrets.deriveKey("site-password-cookie"))
      .update(`${site.projectId}:${site.passwordHash}`)
      .digest("base64url");
  }

  cookieName(site: LiveSite): string {
    return `bosun_site_${site.slug.replace(/-/g, "_")}`;
  }

  /** Whether the request's cookie unlocks the site (constant-time compare). */
  unlocked(site: LiveSite, cookieValue: string | undefined): boolean {
    if (!site.passwordHash) return true;
    if (!cookieValue) return false;
    const expected = Buffer.from(this.cookieMac(site));
    const given = Buffer.from(cookieValue);
    return expected.length === given.length && crypto.timingSafeEqual(expected, given);
  }

  /** Checks a password (scrypt, constant-time); on success answers the cookie value to set. */
  async unlock(site: LiveSite, password: string): Promise<string | null> {
    if (!site.passwordHash) return null;
    return (await verifyPassword(password, site.passwordHash)) ? this.cookieMac(site) : null;
  }
}
