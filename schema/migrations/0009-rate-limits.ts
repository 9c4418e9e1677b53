import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Security limits (logins, codes, form posts) shared by every Bosun process on this database: one row per
  // key and window. UNLOGGED: a counter is not worth a WAL write, and losing the counts in a crash only
  // restarts the current minute's windows.
  await sql`create unlogged table rate_limits (
    key text primary key,
    count integer not null,
    reset_at timestamptz not null
  )`.execute(db);
  await sql`create index rate_limits_reset_idx on rate_limits (reset_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("rate_limits").execute();
}
