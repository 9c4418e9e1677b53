// The site behind a project: its kind check, its row (created on first write), and the signal that a live
// site changed (published, rolled back), which the serving listener's cache listens for. `settings` and
// `password_hash` here are the draft's; the live ones are stored with each release (see liveSettings).
import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "../../schema/database.ts";
import { conflict } from "../kernel/errors.ts";
import type { ProjectContext } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";

export const SITE_CHANGED_TOPIC = "site_changed";

export interface SiteState {
  project_id: string;
  live_release: number | null;
  head_release: number;
  settings: Record<string, unknown>;
  password_hash: string | null;
}

/** The project of a site operation; an instance project is refused, naming its kind. */
export function siteProject(ctx: ProjectContext) {
  const project = ctx.project;
  if (project.kind !== "site") {
    throw conflict(
      `project '${project.slug}' is an ${project.kind}, not a site; this operation works on site projects`,
      {
        kind: project.kind,
      },
    );
  }
  return project;
}

/** The site's state; a site nobody has written to yet has none stored and reads as empty. */
export async function loadSite(db: Kysely<Database>, projectId: string): Promise<SiteState> {
  const row = await db
    .selectFrom("sites")
    .select(["project_id", "live_release", "head_release", "settings", "password_hash"])
    .where("project_id", "=", projectId)
    .executeTakeFirst();
  return row ?? { project_id: projectId, live_release: null, head_release: 0, settings: {}, password_hash: null };
}

/** Inside a write transaction: the site row, created if needed and locked, so concurrent publishes queue. */
export async function lockSite(trx: Transaction<Database>, projectId: string): Promise<SiteState> {
  await trx
    .insertInto("sites")
    .values({ project_id: projectId })
    .onConflict((oc) => oc.column("project_id").doNothing())
    .execute();
  return await trx
    .selectFrom("sites")
    .select(["project_id", "live_release", "head_release", "settings", "password_hash"])
    .where("project_id", "=", projectId)
    .forUpdate()
    .executeTakeFirstOrThrow();
}

export async function touchSite(trx: Transaction<Database>, projectId: string) {
  await trx.updateTable("sites").set({ updated_at: sql`now()` }).where("project_id", "=", projectId).execute();
}

/** Tells every process's serving cache that this site's live state changed (after the commit). */
export async function siteChanged(platform: Platform, projectId: string): Promise<void> {
  await platform.notifier
    .publish(SITE_CHANGED_TOPIC, projectId)
    .catch((err) => platform.log.warn({ err }, "site change not broadcast"));
}

/** What the live release was published with (settings, password hash); nothing live reads as empty. */
export async function liveSettings(
  db: Kysely<Database>,
  projectId: string,
  liveRelease: number | null,
): Promise<{ settings: Record<string, unknown>; password_hash: string | null }> {
  if (liveRelease === null) return { settings: {}, password_hash: null };
  const row = await db
    .selectFrom("site_releases")
    .select(["settings", "password_hash"])
    .where("project_id", "=", projectId)
    .where("number", "=", liveRelease)
    .executeTakeFirst();
  return row ?? { settings: {}, password_hash: null };
}

/** Whether two stored settings maps are equal (jsonb answers keys in one canonical order, so text compares). */
export const sameSettings = (
  a: Record<string, unknown> | null | undefined,
  b: Record<string, unknown> | null | undefined,
) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
