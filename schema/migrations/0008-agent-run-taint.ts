import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // The lethal trifecta: once a run took in content an outsider may control (server output, files, fetched pages,
  // form submissions), its outbound tools need approval. Recorded before the reading tool runs, so a run resumed
  // after a crash is still tainted. Null: nothing untrusted read yet. Else { tool, at }: the first source.
  await db.schema.alterTable("agent_runs").addColumn("untrusted_input", "jsonb").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("agent_runs").dropColumn("untrusted_input").execute();
}
