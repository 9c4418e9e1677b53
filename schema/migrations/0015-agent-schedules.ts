import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // A run's own cost cap (a schedule's budget), below the operator's per-run limit; null: the operator's limit.
  await db.schema.alterTable("agent_runs").addColumn("max_cost_micros", "bigint").execute();

  // Scheduled agent runs: a cron expression in a timezone, a prompt, and where the report goes. Runs act under the
  // credential that created or last updated the schedule (re-checked at every step, as for any run).
  await db.schema
    .createTable("agent_schedules")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("cron", "text", (c) => c.notNull())
    .addColumn("timezone", "text", (c) => c.notNull())
    .addColumn("instance", "text")
    .addColumn("prompt", "text", (c) => c.notNull())
    .addColumn("mode", "text", (c) => c.notNull().check(sql`mode in ('ask', 'auto', 'read_only')`))
    .addColumn("allow_publish", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("max_cost_micros", "bigint")
    .addColumn("report_channel", "text", (c) =>
      c.notNull().check(sql`report_channel in ('none', 'email', 'telegram', 'webhook')`),
    )
    .addColumn("report_telegram_link_id", "uuid", (c) => c.references("telegram_links.id").onDelete("set null"))
    .addColumn("credential_kind", "text", (c) => c.notNull())
    .addColumn("credential_id", "text", (c) => c.notNull())
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("enabled", "boolean", (c) => c.notNull().defaultTo(true))
    // The next time it is due; null while disabled.
    .addColumn("next_run_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("agent_schedules_name_uq", ["project_id", "name"])
    .execute();
  await sql`CREATE INDEX agent_schedules_due_idx ON agent_schedules (next_run_at) WHERE enabled`.execute(db);

  // One row per time a schedule came due. UNIQUE (schedule_id, slot_at) is what makes two processes that claim the
  // same due time start one run, not two.
  await db.schema
    .createTable("agent_schedule_runs")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("schedule_id", "uuid", (c) => c.notNull().references("agent_schedules.id").onDelete("cascade"))
    .addColumn("slot_at", "timestamptz", (c) => c.notNull())
    // Due times that passed while Bosun was down, folded into this one run.
    .addColumn("missed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("status", "text", (c) =>
      c.notNull().check(sql`status in ('pending', 'started', 'skipped', 'done', 'failed', 'cancelled')`),
    )
    .addColumn("run_id", "uuid", (c) => c.references("agent_runs.id").onDelete("set null"))
    .addColumn("conversation_id", "uuid", (c) => c.references("agent_conversations.id").onDelete("set null"))
    .addColumn("cost_micros", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("error", "jsonb")
    // Set by the one Telegram bridge that claimed relaying this run into the schedule's chat.
    .addColumn("relayed_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("started_at", "timestamptz")
    .addColumn("finished_at", "timestamptz")
    .addUniqueConstraint("agent_schedule_runs_slot_uq", ["schedule_id", "slot_at"])
    .execute();
  await db.schema.createIndex("agent_schedule_runs_run_idx").on("agent_schedule_runs").column("run_id").execute();
}
