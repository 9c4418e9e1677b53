import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // One-time codes a Telegram chat shows to pair itself with an instance. Only a keyed hash of the code is
  // stored; a code is single-use (used_at) and short-lived (expires_at).
  await db.schema
    .createTable("telegram_pairing_codes")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("code_hash", "text", (c) => c.notNull().unique())
    .addColumn("chat_id", "bigint", (c) => c.notNull())
    .addColumn("chat_type", "text", (c) => c.notNull())
    .addColumn("telegram_user_id", "bigint", (c) => c.notNull())
    .addColumn("telegram_username", "text")
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("telegram_pairing_codes_chat_idx")
    .on("telegram_pairing_codes")
    .column("chat_id")
    .execute();

  // A chat linked to one instance, acting as the person who linked it, with the scopes they granted the link.
  // The credential that made the link is kept so revoking that token also cuts the chat off.
  await db.schema
    .createTable("telegram_links")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("instance_id", "uuid", (c) => c.notNull().references("instances.id").onDelete("cascade"))
    .addColumn("chat_id", "bigint", (c) => c.notNull())
    .addColumn("telegram_user_id", "bigint", (c) => c.notNull())
    .addColumn("telegram_username", "text")
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("credential_kind", "text", (c) => c.notNull())
    .addColumn("credential_id", "text", (c) => c.notNull())
    // The chat's current conversation with this instance's agent; /new clears it.
    .addColumn("conversation_id", "uuid", (c) => c.references("agent_conversations.id").onDelete("set null"))
    // Set by the one process that tells the chat it was linked (every process hears the notification).
    .addColumn("announced_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("telegram_links_chat_instance_uq", ["chat_id", "instance_id"])
    .execute();
  await db.schema.createIndex("telegram_links_instance_idx").on("telegram_links").column("instance_id").execute();

  // Per chat: which of its linked instances messages go to (/use).
  await db.schema
    .createTable("telegram_chat_state")
    .addColumn("chat_id", "bigint", (c) => c.primaryKey())
    .addColumn("selected_link_id", "uuid", (c) => c.references("telegram_links.id").onDelete("set null"))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["telegram_chat_state", "telegram_links", "telegram_pairing_codes"])
    await db.schema.dropTable(t).execute();
}
