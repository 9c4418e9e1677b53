import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Per-instance command rules for the instance operator: patterns that run without approval, and ones refused.
  await db.schema
    .alterTable("instances")
    .addColumn("agent_command_rules", "jsonb", (c) => c.notNull().defaultTo(sql`'{"allow":[],"deny":[]}'::jsonb`))
    .execute();
  // Background work leased by workers in any process (core/jobs). A lease expires unless heartbeated, so a
  // crashed worker's job goes back to the queue; `key` makes enqueueing the same work twice a no-op.
  await db.schema
    .createTable("jobs")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("queue", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("payload", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("state", "text", (c) =>
      c.notNull().defaultTo("ready").check(sql`state in ('ready', 'leased', 'done', 'failed')`),
    )
    .addColumn("run_after", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("last_error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Only one live job per key: a finished one may be followed by a new one (a run resumed after approval).
  await sql`CREATE UNIQUE INDEX jobs_live_key_uq ON jobs (queue, key) WHERE state in ('ready', 'leased')`.execute(db);
  await sql`CREATE INDEX jobs_due_idx ON jobs (queue, run_after) WHERE state in ('ready', 'leased')`.execute(db);

  await db.schema
    .createTable("agent_conversations")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('instance_operator', 'site_editor')`))
    .addColumn("instance", "text") // the instance's name, for instance operators
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("mode", "text", (c) => c.notNull().check(sql`mode in ('ask', 'auto', 'read_only')`))
    .addColumn("allow_publish", "boolean", (c) => c.notNull().defaultTo(false))
    // The credential the conversation's runs act under (re-checked every step) and the scopes they hold.
    .addColumn("credential_kind", "text", (c) => c.notNull())
    .addColumn("credential_id", "text", (c) => c.notNull())
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("agent_conversations_project_idx")
    .on("agent_conversations")
    .columns(["project_id", "updated_at"])
    .execute();

  await db.schema
    .createTable("agent_runs")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("conversation_id", "uuid", (c) => c.notNull().references("agent_conversations.id").onDelete("cascade"))
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('queued', 'running', 'awaiting_approval', 'done', 'failed', 'cancelled')`),
    )
    .addColumn("steps", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("cost_micros", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("input_tokens", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("output_tokens", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("error", "jsonb")
    .addColumn("deadline", "timestamptz", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("finished_at", "timestamptz")
    .execute();
  // At most one unfinished run per conversation: a message sent meanwhile joins the transcript for the next turn.
  await sql`CREATE UNIQUE INDEX agent_runs_active_uq ON agent_runs (conversation_id) WHERE status in ('queued', 'running', 'awaiting_approval')`.execute(
    db,
  );

  // The transcript as the model sees it: user and assistant turns of content blocks (text, tool_use, tool_result).
  await db.schema
    .createTable("agent_messages")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("conversation_id", "uuid", (c) => c.notNull().references("agent_conversations.id").onDelete("cascade"))
    .addColumn("run_id", "uuid")
    .addColumn("role", "text", (c) => c.notNull().check(sql`role in ('user', 'assistant')`))
    .addColumn("content", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("agent_messages_conversation_idx")
    .on("agent_messages")
    .columns(["conversation_id", "id"])
    .execute();

  // Each step of a run, checkpointed: a model call (tokens, cost) or a tool call (input, output, duration).
  // A tool step is written `started` before the call and `done` after, so a resume never runs it twice.
  await db.schema
    .createTable("agent_steps")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("run_id", "uuid", (c) => c.notNull().references("agent_runs.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('model', 'tool')`))
    .addColumn("state", "text", (c) => c.notNull().check(sql`state in ('started', 'done', 'interrupted')`))
    .addColumn("tool_use_id", "text")
    .addColumn("tool", "text")
    .addColumn("input", "jsonb")
    .addColumn("output", "text")
    .addColumn("is_error", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("model", "text")
    .addColumn("usage", "jsonb")
    .addColumn("cost_micros", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("duration_ms", "integer")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("agent_steps_run_idx").on("agent_steps").columns(["run_id", "id"]).execute();

  await db.schema
    .createTable("agent_approvals")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("run_id", "uuid", (c) => c.notNull().references("agent_runs.id").onDelete("cascade"))
    .addColumn("conversation_id", "uuid", (c) => c.notNull().references("agent_conversations.id").onDelete("cascade"))
    .addColumn("tool_use_id", "text", (c) => c.notNull())
    .addColumn("tool", "text", (c) => c.notNull())
    .addColumn("input", "jsonb", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) =>
      c.notNull().defaultTo("pending").check(sql`status in ('pending', 'approved', 'denied', 'cancelled')`),
    )
    .addColumn("decided_by", "uuid")
    .addColumn("decided_via", "text")
    .addColumn("note", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("decided_at", "timestamptz")
    .addUniqueConstraint("agent_approvals_call_uq", ["run_id", "tool_use_id"])
    .execute();

  // What happened in a run, in order, so a client on any node can stream it (SSE) or poll it.
  await db.schema
    .createTable("agent_run_events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("run_id", "uuid", (c) => c.notNull().references("agent_runs.id").onDelete("cascade"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("agent_run_events_run_idx").on("agent_run_events").columns(["run_id", "id"]).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    "agent_run_events",
    "agent_approvals",
    "agent_steps",
    "agent_messages",
    "agent_runs",
    "agent_conversations",
    "jobs",
  ]) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema.alterTable("instances").dropColumn("agent_command_rules").execute();
}
