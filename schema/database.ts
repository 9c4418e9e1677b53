// Kysely table types. One interface per table, matching the migrations in ./migrations.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T = unknown> = ColumnType<T, string, string>;

export interface AccountsTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  is_operator: Generated<boolean>;
  totp_secret_enc: string | null;
  totp_enabled: Generated<boolean>;
  /** The last accepted TOTP time step, so a code cannot be replayed. */
  totp_last_step: ColumnType<string | null, number | null | undefined, number | null>;
  totp_backup_hashes: Generated<string[]>;
  created_at: CreatedAt;
}

export interface ApiTokensTable {
  id: string;
  account_id: string;
  name: string;
  prefix: string;
  token_hash: string;
  scopes: string[];
  projects: string[] | null;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface ProjectsTable {
  id: string;
  slug: string;
  name: string;
  kind: "site" | "instance";
  owner_account_id: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ProjectMembersTable {
  project_id: string;
  account_id: string;
  role: "owner" | "maintainer" | "developer" | "viewer";
  created_at: CreatedAt;
}

export interface AuditEventsTable {
  id: Generated<string>;
  request_id: string;
  at: Timestamp;
  account_id: string | null;
  token_prefix: string | null;
  operation: string;
  surface: string;
  project: string | null;
  outcome: string;
  duration_ms: number;
  client_ip: string | null;
  input: Json<Record<string, unknown>> | null;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  operation: string;
  input_hash: string;
  state: "pending" | "done";
  /** JSON of the first response, or AES-GCM ciphertext when the response carries a secret. */
  response: string | null;
  response_encrypted: Generated<boolean>;
  created_at: CreatedAt;
}

export interface SettingsTable {
  key: string;
  value: Json;
  updated_at: Timestamp;
}

/** bigint columns come back from pg as strings; money is integer micro-dollars (1e-6 USD). */
type Micros = ColumnType<string, number | bigint | string | undefined, number | bigint | string>;
export type Pool = "wallet" | "ai_credits";

export interface BalancesTable {
  account_id: string;
  pool: Pool;
  balance: Micros;
  /** Sum of active holds; spendable = balance - held. */
  held: Micros;
  /** Actual cost that exceeded what was spendable; blocks metered work until paid. */
  shortfall: Micros;
  /** The month (YYYY-MM, UTC) period_spend counts. */
  period: Generated<string>;
  period_spend: Micros;
}

export interface LedgerEntriesTable {
  id: Generated<string>;
  account_id: string;
  pool: Pool;
  amount: ColumnType<string, number | bigint | string, never>;
  balance_after: ColumnType<string, number | bigint | string, never>;
  reason: string;
  metadata: Json<Record<string, unknown>>;
  idempotency_key: string | null;
  created_at: CreatedAt;
}

export interface HoldsTable {
  id: string;
  account_id: string;
  pool: Pool;
  amount: ColumnType<string, number | bigint | string, never>;
  state: "active" | "settled" | "released" | "expired";
  charged: ColumnType<string | null, never, number | bigint | string>;
  ledger_entry_id: ColumnType<string | null, never, string>;
  metadata: Json<Record<string, unknown>>;
  expires_at: Timestamp;
  created_at: CreatedAt;
  closed_at: Timestamp | null;
}

export interface SpendLimitsTable {
  account_id: string;
  pool: Pool;
  low_balance_alert: Micros | null;
  soft_cap: Micros | null;
  hard_cap: Micros | null;
}

export interface BillingEventsTable {
  id: Generated<string>;
  account_id: string;
  pool: Pool;
  kind: "low_balance" | "soft_cap" | "hard_cap";
  window: string;
  detail: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface Database {
  accounts: AccountsTable;
  api_tokens: ApiTokensTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  audit_events: AuditEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  settings: SettingsTable;
  balances: BalancesTable;
  ledger_entries: LedgerEntriesTable;
  holds: HoldsTable;
  spend_limits: SpendLimitsTable;
  billing_events: BillingEventsTable;
}

export type Account = Selectable<AccountsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type ProjectRow = Selectable<ProjectsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
