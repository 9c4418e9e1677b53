import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("balances")
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("pool", "text", (c) => c.notNull().check(sql`pool in ('wallet', 'ai_credits')`))
    .addColumn("balance", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("held", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("shortfall", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("period", "text", (c) => c.notNull().defaultTo(""))
    .addColumn("period_spend", "bigint", (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("balances_pk", ["account_id", "pool"])
    // The guards that make overdraft impossible, whatever the code above them does.
    .addCheckConstraint("balances_nonnegative", sql`balance >= 0 and held >= 0 and held <= balance and shortfall >= 0`)
    .execute();

  await db.schema
    .createTable("ledger_entries")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("pool", "text", (c) => c.notNull())
    .addColumn("amount", "bigint", (c) => c.notNull())
    .addColumn("balance_after", "bigint", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("idempotency_key", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("ledger_idempotency_uq")
    .on("ledger_entries")
    .columns(["account_id", "pool", "idempotency_key"])
    .unique()
    .execute();
  await db.schema
    .createIndex("ledger_account_idx")
    .on("ledger_entries")
    .columns(["account_id", "pool", "id"])
    .execute();

  await db.schema
    .createTable("holds")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("pool", "text", (c) => c.notNull())
    .addColumn("amount", "bigint", (c) => c.notNull().check(sql`amount > 0`))
    .addColumn("state", "text", (c) => c.notNull().check(sql`state in ('active', 'settled', 'released', 'expired')`))
    .addColumn("charged", "bigint")
    .addColumn("ledger_entry_id", "bigint")
    .addColumn("metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("closed_at", "timestamptz")
    .execute();
  await db.schema
    .createIndex("holds_active_expiry_idx")
    .on("holds")
    .column("expires_at")
    .where(sql.ref("state"), "=", "active")
    .execute();

  await db.schema
    .createTable("spend_limits")
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("pool", "text", (c) => c.notNull())
    .addColumn("low_balance_alert", "bigint")
    .addColumn("soft_cap", "bigint")
    .addColumn("hard_cap", "bigint")
    .addPrimaryKeyConstraint("spend_limits_pk", ["account_id", "pool"])
    .execute();

  await db.schema
    .createTable("billing_events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("pool", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("window", "text", (c) => c.notNull())
    .addColumn("detail", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("billing_events_once_per_window", ["account_id", "pool", "kind", "window"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ["billing_events", "spend_limits", "holds", "ledger_entries", "balances"])
    await db.schema.dropTable(t).execute();
}
