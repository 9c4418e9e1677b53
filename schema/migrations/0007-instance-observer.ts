import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // An instance's optional observer login: a second, unprivileged Unix user that commands the agent runs
  // without approval log in as (core/instances/observer.ts). All four are set together or all null.
  await db.schema
    .alterTable("instances")
    .addColumn("observer_username", "text")
    // AES-256-GCM sealed (core/secrets.ts), like private_key_enc; never returned.
    .addColumn("observer_private_key_enc", "text")
    .addColumn("observer_public_key", "text")
    .addColumn("observer_key_source", "text", (c) =>
      c.check(sql`observer_key_source in ('generated', 'supplied', 'setup')`),
    )
    .addColumn("observer_set_at", "timestamptz")
    .execute();
  await sql`alter table instances add constraint instances_observer_complete check (
    (observer_username is null) = (observer_private_key_enc is null)
    and (observer_username is null) = (observer_public_key is null)
    and (observer_username is null) = (observer_key_source is null))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table instances drop constraint instances_observer_complete`.execute(db);
  await db.schema
    .alterTable("instances")
    .dropColumn("observer_username")
    .dropColumn("observer_private_key_enc")
    .dropColumn("observer_public_key")
    .dropColumn("observer_key_source")
    .dropColumn("observer_set_at")
    .execute();
}
