import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // The outbox: an event is written in the same transaction as the change that caused it, so a crash loses
  // neither; a fan-out job (core/jobs) turns it into webhook deliveries and notifications.
  await db.schema
    .createTable("events")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("account_id", "uuid", (c) => c.references("accounts.id").onDelete("cascade"))
    .addColumn("project_id", "uuid", (c) => c.references("projects.id").onDelete("cascade"))
    .addColumn("data", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("events_created_idx").on("events").column("created_at").execute();

  // Webhook endpoints: owned by an account, narrowed to one project when project_id is set. The signing secret
  // is encrypted at rest (core/secrets.ts) and shown only when created or rotated.
  await db.schema
    .createTable("webhook_endpoints")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("project_id", "uuid", (c) => c.references("projects.id").onDelete("cascade"))
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("event_types", sql`text[]`, (c) => c.notNull()) // empty: every event
    .addColumn("enabled", "boolean", (c) => c.notNull().defaultTo(true))
    .addColumn("disabled_reason", "text")
    .addColumn("secret_enc", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("webhook_endpoints_account_idx").on("webhook_endpoints").column("account_id").execute();
  await db.schema.createIndex("webhook_endpoints_project_idx").on("webhook_endpoints").column("project_id").execute();

  // One delivery per (endpoint, event): its id is the stable `webhook-id` every attempt carries.
  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("endpoint_id", "uuid", (c) => c.notNull().references("webhook_endpoints.id").onDelete("cascade"))
    .addColumn("event_id", "uuid", (c) => c.notNull().references("events.id").onDelete("cascade"))
    .addColumn("status", "text", (c) =>
      c.notNull().defaultTo("pending").check(sql`status in ('pending', 'succeeded', 'failed')`),
    )
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz")
    .addColumn("response_status", "integer")
    .addColumn("latency_ms", "integer")
    .addColumn("response_excerpt", "text")
    .addColumn("error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("webhook_deliveries_endpoint_event_uq", ["endpoint_id", "event_id"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_endpoint_idx")
    .on("webhook_deliveries")
    .columns(["endpoint_id", "created_at"])
    .execute();
  // Every attempt, for the delivery log.
  await db.schema
    .createTable("webhook_attempts")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("delivery_id", "uuid", (c) => c.notNull().references("webhook_deliveries.id").onDelete("cascade"))
    .addColumn("attempt", "integer", (c) => c.notNull())
    .addColumn("response_status", "integer")
    .addColumn("latency_ms", "integer", (c) => c.notNull())
    .addColumn("error", "text")
    .addColumn("at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("webhook_attempts_delivery_idx").on("webhook_attempts").column("delivery_id").execute();

  // Notifications to people: the in-app list; email and Telegram copies are sent by jobs.
  await db.schema
    .createTable("notifications")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("event_id", "uuid", (c) => c.references("events.id").onDelete("cascade"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("project_id", "uuid", (c) => c.references("projects.id").onDelete("cascade"))
    .addColumn("title", "text", (c) => c.notNull())
    .addColumn("body", "text", (c) => c.notNull())
    .addColumn("read_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("notifications_account_event_uq", ["account_id", "event_id"])
    .execute();
  await db.schema
    .createIndex("notifications_account_idx")
    .on("notifications")
    .columns(["account_id", "created_at"])
    .execute();
  await db.schema
    .createTable("notification_preferences")
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("event_type", "text", (c) => c.notNull())
    .addColumn("in_app", "boolean", (c) => c.notNull())
    .addColumn("email", "boolean", (c) => c.notNull())
    .addColumn("telegram", "boolean", (c) => c.notNull())
    .addPrimaryKeyConstraint("notification_preferences_pk", ["account_id", "event_type"])
    .execute();
}
