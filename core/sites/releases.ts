// Publishing: a release is an immutable path → hash map. Release files are a temporal table (see the 0003
// migration), so publishing touches only the dirty paths: one changed file in a 5,000-file site writes one
// or two rows. Rollback just points `live_release` at an earlier release; the draft is left alone. A release
// also carries the site settings and password hash it was published with: they are what is served, so a
// settings change reaches visitors only through publish, and a rollback restores the settings with the files.

import crypto from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import { publishEvent } from "../events/publish.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, notFound, present } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { deleteDraftFile, diffManifests, draftManifest, releaseManifest, setDraftEntry } from "./draft.ts";
import { siteUrl } from "./origin.ts";
import { liveSettings, lockSite, sameSettings, siteChanged, siteProject } from "./site.ts";

export const Release = z
  .object({
    release: z.number().int().meta({ description: "Release number (1, 2, …) within the site" }),
    files: z.number().int(),
    bytes: z.number().int(),
    changed: z
      .number()
      .int()
      .meta({ description: "Files added, modified or deleted relative to the previous newest release" }),
    live: z.boolean(),
    published_at: Timestamp,
  })
  .meta({ id: "Release" });

export const publishSite = defineOperation({
  id: "publish_site",
  summary: "Publish the draft",
  description:
    "Makes the draft (files and settings) a new immutable release and puts it live. 422 nothing_to_publish when the draft equals the live release.",
  tags: ["sites"],
  scope: "publish:trigger",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/releases", status: 201 },
  input: z.object({ project: ProjectRef }),
  output: z.object({
    release: z.number().int(),
    files: z.number().int(),
    files_changed: z.number().int(),
    settings_changed: z
      .boolean()
      .meta({ description: "Whether the settings (or password) differ from the previous newest release" }),
    published_at: Timestamp,
  }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    const result = await ctx.tx(async (trx) => {
      const site = await lockSite(trx, project.id);
      const pid = project.id;
      // Each dirty path: what the draft holds now, and what the newest release holds (its rows with no end).
      const dirty = await trx
        .selectFrom("site_dirty_paths as d")
        .leftJoin("site_draft_files as f", (j) =>
          j.onRef("f.project_id", "=", "d.project_id").onRef("f.path", "=", "d.path"),
        )
        .leftJoin("site_release_files as r", (j) =>
          j.onRef("r.project_id", "=", "d.project_id").onRef("r.path", "=", "d.path").on("r.to_release", "is", null),
        )
        .select([
          "d.path",
          "f.sha256 as draft_sha",
          "f.bytes as draft_bytes",
          "r.sha256 as head_sha",
          "r.bytes as head_bytes",
        ])
        .where("d.project_id", "=", pid)
        .execute();
      // A left join's columns are null together: each side is an entry, or null.
      const side = <B>(sha256: string | null, bytes: B | null) =>
        sha256 !== null && bytes !== null ? { sha256, bytes } : null;
      const changes = dirty
        .filter((d) => d.draft_sha !== d.head_sha)
        .map((d) => ({ path: d.path, draft: side(d.draft_sha, d.draft_bytes), head: side(d.head_sha, d.head_bytes) }));
      // Progress, for clients that asked (MCP progressToken): changed paths recorded, then the switch to live.
      const total = changes.length + 1;
      ctx.progress({ progress: 0, total, message: `${changes.length} changed path(s) to publish` });
      const head = site.head_release;
      const headRow = head
        ? await trx
            .selectFrom("site_releases")
            .select(["files", "bytes", "settings", "password_hash"])
            .where("project_id", "=", pid)
            .where("number", "=", head)
            .executeTakeFirstOrThrow()
        : { files: 0, bytes: "0", settings: {}, password_hash: null };
      const settingsDiffer = (other: { settings: Record<string, unknown>; password_hash: string | null }) =>
        !sameSettings(site.settings, other.settings) || (site.password_hash ?? null) !== (other.password_hash ?? null);
      const settingsChanged = settingsDiffer(headRow);
      if (changes.length === 0 && !settingsChanged) {
        // The draft equals the newest release. That is nothing to publish when it is live (or nothing ever
        // was published); after a rollback, publishing it again is how it goes back live.
        if (site.live_release === head || (head === 0 && headRow.files === 0)) {
          throw new BosunError(
            "nothing_to_publish",
            "the draft is the same as the live release; change something first",
            {
              live_release: site.live_release,
            },
          );
        }
      }
      if (site.live_release !== null && site.live_release !== head) {
        // After a rollback the dirty paths say how the draft differs from the newest release, not the live one.
        const vsLive = diffManifests(await releaseManifest(trx, pid, site.live_release), await draftManifest(trx, pid));
        const liveRow = await liveSettings(trx, pid, site.live_release);
        if (vsLive.added.length + vsLive.modified.length + vsLive.deleted.length === 0 && !settingsDiffer(liveRow)) {
          throw new BosunError(
            "nothing_to_publish",
            "the draft is the same as the live release; change something first",
            {
              live_release: site.live_release,
            },
          );
        }
      }
      const next = head + 1;
      let files = headRow.files;
      let bytes = Number(headRow.bytes);
      for (const c of changes) {
        if (c.head) {
          await trx
            .updateTable("site_release_files")
            .set({ to_release: next })
            .where("project_id", "=", pid)
            .where("path", "=", c.path)
            .where("to_release", "is", null)
            .execute();
          files--;
          bytes -= c.head.bytes;
        }
        if (c.draft) {
          files++;
          bytes += c.draft.bytes;
        }
      }
      const inserts = changes.flatMap((c) => (c.draft ? [{ path: c.path, ...c.draft }] : []));
      for (let i = 0; i < inserts.length; i += 1000) {
        await trx
          .insertInto("site_release_files")
          .values(
            inserts.slice(i, i + 1000).map((c) => ({
              project_id: pid,
              path: c.path,
              from_release: next,
              sha256: c.sha256,
              bytes: c.bytes,
            })),
          )
          .execute();
        ctx.progress({ progress: Math.min(i + 1000, inserts.length), total, message: "recording changed files" });
      }
      const row = await trx
        .insertInto("site_releases")
        .values({
          project_id: pid,
          number: next,
          files,
          bytes,
          changed: changes.length,
          published_by: ctx.principal.account?.id ?? null,
          settings: JSON.stringify(site.settings ?? {}),
          password_hash: site.password_hash,
        })
        .returning(["published_at"])
        .executeTakeFirstOrThrow();
      await trx
        .updateTable("sites")
        .set({ head_release: next, live_release: next, updated_at: sql`now()` })
        .where("project_id", "=", pid)
        .execute();
      await trx.deleteFrom("site_dirty_paths").where("project_id", "=", pid).execute();
      await publishEvent(trx, {
        type: "site.published",
        account: project.owner_account_id,
        project,
        data: { release: next },
      });
      ctx.progress({ progress: total, total, message: `release ${next} is live` });
      return {
        release: next,
        files,
        files_changed: changes.length,
        settings_changed: settingsChanged,
        published_at: iso(row.published_at),
      };
    });
    await siteChanged(ctx.platform, project.id);
    return result;
  },
});

export const discardDraft = defineOperation({
  id: "discard_draft",
  summary: "Discard the draft's changes",
  description:
    "Resets the draft (files and settings) to the live release (to an empty site when nothing is live). No file body is copied.",
  tags: ["sites"],
  scope: "publish:trigger",
  effect: "destructive",
  http: { method: "post", path: "/projects/{project}/draft/discard" },
  input: z.object({ project: ProjectRef }),
  output: z.object({
    live_release: z.number().int().nullable(),
    added: z.array(z.string()),
    modified: z.array(z.string()),
    deleted: z.array(z.string()),
    settings_reset: z
      .boolean()
      .meta({ description: "Whether the draft's settings differed from the live ones (and were reset)" }),
  }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    return ctx.tx(async (trx) => {
      const site = await lockSite(trx, project.id);
      const live = await releaseManifest(trx, project.id, site.live_release);
      const draft = await draftManifest(trx, project.id);
      // Reported as what discarding undoes: the draft's own additions, modifications and deletions.
      const diff = diffManifests(live, draft);
      const liveByPath = new Map(live.map((e) => [e.path, e]));
      for (const path of diff.added) await deleteDraftFile(trx, project.id, path);
      for (const path of [...diff.modified, ...diff.deleted])
        await setDraftEntry(trx, project.id, present(liveByPath.get(path), `the live entry of ${path}`));
      const liveRow = await liveSettings(trx, project.id, site.live_release);
      const settingsReset =
        !sameSettings(site.settings, liveRow.settings) ||
        (site.password_hash ?? null) !== (liveRow.password_hash ?? null);
      await trx
        .updateTable("sites")
        .set({
          settings: JSON.stringify(liveRow.settings ?? {}),
          password_hash: liveRow.password_hash,
          updated_at: sql`now()`,
        })
        .where("project_id", "=", project.id)
        .execute();
      return { live_release: site.live_release, ...diff, settings_reset: settingsReset };
    });
  },
});

export const listReleases = defineOperation({
  id: "list_releases",
  summary: "List the site's releases",
  description: "Newest first, with which one is live.",
  tags: ["sites"],
  scope: "publish:trigger",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/releases" },
  input: z.object({
    project: ProjectRef,
    limit: z.number().int().min(1).max(200).default(50),
    before: z.number().int().min(1).optional(),
  }),
  output: z.object({ releases: z.array(Release), live_release: z.number().int().nullable() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const site = await ctx.db
      .selectFrom("sites")
      .select("live_release")
      .where("project_id", "=", project.id)
      .executeTakeFirst();
    let q = ctx.db
      .selectFrom("site_releases")
      .selectAll()
      .where("project_id", "=", project.id)
      .orderBy("number", "desc")
      .limit(input.limit);
    if (input.before) q = q.where("number", "<", input.before);
    const rows = await q.execute();
    const live = site?.live_release ?? null;
    return {
      live_release: live,
      releases: rows.map((r) => ({
        release: r.number,
        files: r.files,
        bytes: Number(r.bytes),
        changed: r.changed,
        live: r.number === live,
        published_at: iso(r.published_at),
      })),
    };
  },
});

export const rollbackSite = defineOperation({
  id: "rollback_site",
  summary: "Roll back to an earlier release",
  description: "Makes an earlier (or any existing) release live. The draft is untouched.",
  tags: ["sites"],
  scope: "publish:trigger",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/rollback" },
  input: z.object({ project: ProjectRef, release: z.number().int().min(1) }),
  output: z.object({ live_release: z.number().int(), previous_live_release: z.number().int().nullable() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const result = await ctx.tx(async (trx) => {
      const exists = await trx
        .selectFrom("site_releases")
        .select("number")
        .where("project_id", "=", project.id)
        .where("number", "=", input.release)
        .executeTakeFirst();
      if (!exists) throw notFound("release", String(input.release));
      const site = await lockSite(trx, project.id);
      if (site.live_release === input.release)
        throw conflict(`release ${input.release} is already live`, { field: "release" });
      await trx
        .updateTable("sites")
        .set({ live_release: input.release, updated_at: sql`now()` })
        .where("project_id", "=", project.id)
        .execute();
      await publishEvent(trx, {
        type: "site.rolled_back",
        account: project.owner_account_id,
        project,
        data: { release: input.release },
      });
      return { live_release: input.release, previous_live_release: site.live_release };
    });
    await siteChanged(ctx.platform, project.id);
    return result;
  },
});

// Preview links: an HMAC over (project, expiry) under a key derived from the master key. Stateless, so any
// process can check one; they expire, and cannot be forged for another project.
const PREVIEW_PURPOSE = "site-preview";

export function signPreview(platform: Platform, projectId: string, expiresAt: number): string {
  const payload = `${projectId}.${expiresAt}`;
  const mac = crypto
    .createHmac("sha256", platform.secrets.deriveKey(PREVIEW_PURPOSE))
    .update(payload)
    .digest("base64url");
  return `${expiresAt}.${mac}`;
}

/** Whether `token` is a valid, unexpired preview token for the project (constant-time compare). */
export function checkPreview(platform: Platform, projectId: string, token: string, now = Date.now()): boolean {
  const m = /^(\d{10,13})\.([\w-]{43})$/.exec(token);
  if (!m) return false;
  const expiresAt = Number(m[1]);
  if (expiresAt * 1000 < now) return false;
  const expected = Buffer.from(signPreview(platform, projectId, expiresAt));
  const given = Buffer.from(token);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}

export { sitesBaseUrl } from "./origin.ts";

export const createPreviewLink = defineOperation({
  id: "create_preview_link",
  summary: "Create a preview link for the draft",
  description:
    "A signed URL on the site's own origin that shows the draft (files and settings, not the live site) until it expires.",
  tags: ["sites"],
  scope: "files:read",
  // Creates nothing stored: the link is a signature, and shows only what files:read can already read.
  effect: "read",
  http: { method: "post", path: "/projects/{project}/preview-links", status: 201 },
  input: z.object({
    project: ProjectRef,
    expires_in_minutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(60),
  }),
  output: z.object({ url: z.string(), expires_at: Timestamp }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const expiresAt = Math.floor(Date.now() / 1000) + input.expires_in_minutes * 60;
    const token = signPreview(ctx.platform, project.id, expiresAt);
    return {
      url: `${siteUrl(ctx.platform, project.slug)}/_preview/${token}/`,
      expires_at: iso(new Date(expiresAt * 1000)),
    };
  },
});

export const releaseOperations = [publishSite, discardDraft, listReleases, rollbackSite, createPreviewLink];
