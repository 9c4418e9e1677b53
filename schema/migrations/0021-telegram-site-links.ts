import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // A chat is linked either to an instance (its operator agent) or to a site project (its site editor): a site
  // link has no instance. Exactly one target: the instance, or the site project itself.
  await db.schema
    .alterTable("telegram_links")
    .alterColumn("instance_id", (c) => c.dropNotNull())
    .execute();
  // At most one site link per chat and project (instance links stay unique per chat and instance).
  await db.schema
    .createIndex("telegram_links_chat_site_uq")
    .on("telegram_links")
    .columns(["chat_id", "project_id"])
    .unique()
    .where(sql.ref("instance_id"), "is", null)
    .execute();
  await db.schema.createIndex("telegram_links_project_idx").on("telegram_links").column("project_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom("telegram_links").where("instance_id", "is", null).execute();
  await db.schema.dropIndex("telegram_links_project_idx").execute();
  await db.schema.dropIndex("telegram_links_chat_site_uq").execute();
  await db.schema
    .alterTable("telegram_links")
    .alterColumn("instance_id", (c) => c.setNotNull())
    .execute();
}
