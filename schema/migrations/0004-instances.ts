import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("instances")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("provider", "text", (c) => c.notNull().defaultTo("ssh"))
    .addColumn("host", "text", (c) => c.notNull())
    .addColumn("port", "integer", (c) => c.notNull().check(sql`port between 1 and 65535`))
    .addColumn("username", "text", (c) => c.notNull())
    // AES-256-GCM sealed (core/secrets.ts); never leaves the process in clear.
    .addColumn("private_key_enc", "text", (c) => c.notNull())
    .addColumn("public_key", "text", (c) => c.notNull())
    .addColumn("key_source", "text", (c) => c.notNull().check(sql`key_source in ('generated', 'supplied')`))
    .addColumn("host_key_fingerprint", "text")
    .addColumn("host_key_pinned_at", "timestamptz")
    .addColumn("last_connected_at", "timestamptz")
    .addColumn("last_error", "text")
    .addColumn("metrics_due_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("instances_project_name_uq", ["project_id", "name"])
    .execute();
  await db.schema.createIndex("instances_metrics_due_idx").on("instances").column("metrics_due_at").execute();

  await db.schema
    .createTable("instance_metrics")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("instance_id", "uuid", (c) => c.notNull().references("instances.id").onDelete("cascade"))
    .addColumn("at", "timestamptz", (c) => c.notNull())
    .addColumn("sample", "jsonb", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("instance_metrics_at_idx")
    .on("instance_metrics")
    .columns(["instance_id", "at"])
    .execute();

  await db.schema
    .createTable("ssh_keys")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("public_key", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("ssh_keys_account_fingerprint_uq", ["account_id", "fingerprint"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["ssh_keys", "instance_metrics", "instances"]) await db.schema.dropTable(t).execute();
}
