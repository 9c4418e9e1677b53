// Site settings go live only by publishing: each release stores the settings and password hash it was
// published with, the serving path reads those of the live release, and rollback restores them with the
// files. `sites.settings` / `sites.password_hash` stay as the draft's. Existing sites keep behaving as they
// did: their current settings become the draft's (already there) and every existing release's — the history
// is unknown, and the current settings (password included) are the safe guess, so a rollback to an old
// release never drops a password that is set today.
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("site_releases")
    .addColumn("settings", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.alterTable("site_releases").addColumn("password_hash", "text").execute();
  await sql`update site_releases r set settings = s.settings, password_hash = s.password_hash from sites s where s.project_id = r.project_id`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("site_releases").dropColumn("password_hash").execute();
  await db.schema.alterTable("site_releases").dropColumn("settings").execute();
}
