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
  /** Set once the owner proved they read this mailbox; trial credit waits for it. */
  email_verified_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
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
  /** Issued through OAuth (core/identity/oauth.ts): the grant it belongs to. */
  oauth_grant_id: Generated<string | null>;
  /** The resource (RFC 8707) the token is bound to: it is accepted there only. */
  resource: Generated<string | null>;
}

export type SessionEndReason = "logout" | "revoked" | "password_changed" | "password_reset" | "two_factor_changed";

/** A login session; its token is a JWT whose `jti` is this id. */
export interface SessionsTable {
  id: string;
  account_id: string;
  surface: string;
  client_ip: string | null;
  created_at: CreatedAt;
  expires_at: Timestamp;
  last_used_at: Timestamp | null;
  ended_at: Timestamp | null;
  end_reason: SessionEndReason | null;
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

/** Money is integer micro-dollars (1e-6 USD) in int8 columns. pg and PGlite both return int8 and numeric as
 * exact decimal strings (no type parser is set: other int8 columns, e.g. ids and chat ids, rely on that);
 * core/billing converts them to bigint with toMicros and writes bigint, never a JS number that may be rounded. */
type Micros = ColumnType<string, bigint | string | undefined, bigint | string>;
type MicrosOnce = ColumnType<string, bigint | string, never>;
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
  amount: MicrosOnce;
  balance_after: MicrosOnce;
  reason: string;
  metadata: Json<Record<string, unknown>>;
  idempotency_key: string | null;
  created_at: CreatedAt;
}

export interface HoldsTable {
  id: string;
  account_id: string;
  pool: Pool;
  amount: MicrosOnce;
  state: "active" | "settled" | "released" | "expired";
  charged: ColumnType<string | null, never, bigint | string>;
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

/** Sites (0003-sites). Releases are a temporal table: a row is valid for from_release <= n < to_release. */
export interface SiteBlobsTable {
  sha256: string;
  data: Buffer;
  bytes: number;
  width: number | null;
  height: number | null;
  created_at: CreatedAt;
}

export interface SitesTable {
  project_id: string;
  live_release: number | null;
  head_release: Generated<number>;
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  password_hash: string | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface SiteDraftFilesTable {
  project_id: string;
  path: string;
  sha256: string;
  bytes: number;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type ProposalStatus = "pending" | "applied" | "discarded";

export interface SiteProposalsTable {
  id: string;
  project_id: string;
  run_id: string;
  conversation_id: string;
  message_id: string | null;
  status: ColumnType<ProposalStatus, ProposalStatus | undefined, ProposalStatus>;
  settings_changed: ColumnType<boolean, boolean | undefined, boolean>;
  settings: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  password_hash: string | null;
  base_settings: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  base_password_hash: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
  decided_at: Timestamp | null;
  decided_by: string | null;
}

export interface SiteProposalFilesTable {
  proposal_id: string;
  path: string;
  sha256: string | null;
  bytes: number | null;
  base_sha256: string | null;
}

export interface SiteDirtyPathsTable {
  project_id: string;
  path: string;
}

export interface SiteReleasesTable {
  project_id: string;
  number: number;
  files: number;
  bytes: ColumnType<string, number | bigint | string, never>;
  changed: number;
  published_by: string | null;
  published_at: CreatedAt;
  /** The settings and password hash this release was published with: what the live site serves. */
  settings: ColumnType<Record<string, unknown>, string | undefined, string>;
  password_hash: string | null;
}

export interface SiteReleaseFilesTable {
  project_id: string;
  path: string;
  from_release: number;
  to_release: number | null;
  sha256: string;
  bytes: number;
}

export interface SiteSubmissionsTable {
  id: Generated<string>;
  project_id: string;
  form_id: string;
  data: Json<Record<string, unknown>>;
  status: ColumnType<"new" | "read" | "archived", "new" | "read" | "archived" | undefined, "new" | "read" | "archived">;
  created_at: CreatedAt;
}

/** Custom domains of sites and their certificates (0013-domains). */
export type CertStatus = "none" | "pending" | "issued" | "failed";

export interface SiteDomainsTable {
  id: string;
  project_id: string;
  domain: string;
  token: string;
  verified_at: Timestamp | null;
  last_check_at: Timestamp | null;
  last_check_error: string | null;
  cert_status: ColumnType<CertStatus, CertStatus | undefined, CertStatus>;
  cert_pem: string | null;
  cert_key_enc: string | null;
  cert_expires_at: Timestamp | null;
  cert_error: string | null;
  cert_attempted_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface AcmeAccountsTable {
  directory_url: string;
  key_enc: string;
  created_at: CreatedAt;
}

export interface AcmeChallengesTable {
  token: string;
  key_authorization: string;
  domain: string;
  created_at: CreatedAt;
}

/** Instances (0004-instances): customers' servers reached over SSH. */
export interface InstancesTable {
  id: string;
  project_id: string;
  name: string;
  provider: Generated<string>;
  host: string;
  port: number;
  username: string;
  private_key_enc: string;
  public_key: string;
  key_source: "generated" | "supplied";
  host_key_fingerprint: string | null;
  host_key_pinned_at: Timestamp | null;
  last_connected_at: Timestamp | null;
  last_error: string | null;
  metrics_due_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  agent_command_rules: ColumnType<{ allow: string[]; deny: string[] }, string | undefined, string>;
  /** The optional observer login (core/instances/observer.ts): all set or all null. */
  observer_username: ColumnType<string | null, string | null | undefined, string | null>;
  observer_private_key_enc: ColumnType<string | null, string | null | undefined, string | null>;
  observer_public_key: ColumnType<string | null, string | null | undefined, string | null>;
  observer_key_source: ColumnType<
    "generated" | "supplied" | "setup" | null,
    "generated" | "supplied" | "setup" | null | undefined,
    "generated" | "supplied" | "setup" | null
  >;
  observer_set_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface InstanceMetricsTable {
  id: Generated<string>;
  instance_id: string;
  at: Timestamp;
  sample: Json<Record<string, unknown>>;
}

export interface SshKeysTable {
  id: string;
  account_id: string;
  name: string;
  public_key: string;
  fingerprint: string;
  created_at: CreatedAt;
}

export interface JobsTable {
  id: Generated<string>;
  queue: string;
  key: string;
  payload: Json<Record<string, unknown>>;
  state: ColumnType<"ready" | "leased" | "done" | "failed", "ready" | "leased" | "done" | "failed" | undefined>;
  run_after: ColumnType<Date, Date | string | undefined, Date | string>;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type AgentKind = "instance_operator" | "site_editor";
export type AgentMode = "ask" | "auto" | "read_only";
export type RunStatus = "queued" | "running" | "awaiting_approval" | "done" | "failed" | "cancelled";

export interface AgentConversationsTable {
  id: string;
  project_id: string;
  account_id: string;
  kind: AgentKind;
  instance: string | null;
  title: string;
  mode: AgentMode;
  allow_publish: ColumnType<boolean, boolean | undefined, boolean>;
  credential_kind: string;
  credential_id: string;
  scopes: string[];
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AgentRunsTable {
  id: string;
  conversation_id: string;
  status: RunStatus;
  steps: ColumnType<number, number | undefined, number>;
  cost_micros: ColumnType<string, bigint | number | undefined, bigint | number | string>;
  input_tokens: ColumnType<string, number | undefined, number | string>;
  output_tokens: ColumnType<string, number | undefined, number | string>;
  error: Json<{ code: string; message: string }> | null;
  deadline: Timestamp;
  created_at: CreatedAt;
  finished_at: Timestamp | null;
  /** The first untrusted content the run took in (the lethal trifecta); null while it has read none. */
  untrusted_input: ColumnType<{ tool: string; at: string } | null, string | null | undefined, string | null>;
  /** The run's own cost cap (a schedule's budget); null: the operator's per-run limit. */
  max_cost_micros: ColumnType<string | null, bigint | number | null | undefined, bigint | number | null>;
}

export type ReportChannel = "none" | "email" | "telegram" | "webhook";
export type ScheduleRunStatus = "pending" | "started" | "skipped" | "done" | "failed" | "cancelled";

export interface AgentSchedulesTable {
  id: string;
  project_id: string;
  account_id: string;
  name: string;
  cron: string;
  timezone: string;
  instance: string | null;
  prompt: string;
  mode: AgentMode;
  allow_publish: ColumnType<boolean, boolean | undefined, boolean>;
  max_cost_micros: ColumnType<string | null, bigint | number | null | undefined, bigint | number | null>;
  report_channel: ReportChannel;
  report_telegram_link_id: string | null;
  credential_kind: string;
  credential_id: string;
  scopes: string[];
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  next_run_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface AgentScheduleRunsTable {
  id: string;
  schedule_id: string;
  slot_at: Timestamp;
  missed: ColumnType<number, number | undefined, number>;
  status: ScheduleRunStatus;
  run_id: string | null;
  conversation_id: string | null;
  cost_micros: ColumnType<string, bigint | number | undefined, bigint | number | string>;
  error: Json<{ code: string; message: string }> | null;
  relayed_at: Timestamp | null;
  created_at: CreatedAt;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface AgentMessagesTable {
  id: Generated<string>;
  conversation_id: string;
  run_id: string | null;
  role: "user" | "assistant";
  content: Json<unknown[]>;
  created_at: CreatedAt;
}

export interface AgentStepsTable {
  id: Generated<string>;
  run_id: string;
  kind: "model" | "tool";
  state: "started" | "done" | "interrupted";
  tool_use_id: string | null;
  tool: string | null;
  input: Json<Record<string, unknown>> | null;
  output: string | null;
  is_error: ColumnType<boolean, boolean | undefined, boolean>;
  model: string | null;
  usage: Json<Record<string, number>> | null;
  cost_micros: ColumnType<string, bigint | number | undefined, bigint | number>;
  duration_ms: number | null;
  created_at: CreatedAt;
}

export interface AgentApprovalsTable {
  id: string;
  run_id: string;
  conversation_id: string;
  tool_use_id: string;
  tool: string;
  input: Json<Record<string, unknown>>;
  reason: string;
  status: ColumnType<
    "pending" | "approved" | "denied" | "cancelled",
    "pending" | undefined,
    "approved" | "denied" | "cancelled"
  >;
  decided_by: string | null;
  decided_via: string | null;
  note: string | null;
  created_at: CreatedAt;
  decided_at: Timestamp | null;
}

export interface AgentRunEventsTable {
  id: Generated<string>;
  run_id: string;
  type: string;
  data: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

/** Telegram chat ids and user ids are bigints; pg returns them as strings. */
type TelegramId = ColumnType<string, number | string, number | string>;

export interface TelegramPairingCodesTable {
  id: Generated<string>;
  code_hash: string;
  chat_id: TelegramId;
  chat_type: string;
  telegram_user_id: TelegramId;
  telegram_username: string | null;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface TelegramLinksTable {
  id: string;
  account_id: string;
  project_id: string;
  /** null: the chat is linked to the site project itself (its site editor). */
  instance_id: string | null;
  chat_id: TelegramId;
  telegram_user_id: TelegramId;
  telegram_username: string | null;
  scopes: string[];
  credential_kind: string;
  credential_id: string;
  conversation_id: string | null;
  announced_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface TelegramChatStateTable {
  chat_id: TelegramId;
  selected_link_id: string | null;
  updated_at: Generated<Date>;
}

/** Security-limit windows shared by all processes (core/kernel/rate-limit.ts). */
export interface RateLimitsTable {
  key: string;
  count: number;
  reset_at: Date;
}

export interface ProjectInvitationsTable {
  id: string;
  project_id: string;
  email: string;
  role: "owner" | "maintainer" | "developer" | "viewer";
  invited_by: string | null;
  expires_at: Timestamp;
  accepted_at: Timestamp | null;
  accepted_by: string | null;
  revoked_at: Timestamp | null;
  created_at: CreatedAt;
}

export type OneTimePurpose = "set_password" | "verify_email" | "reset_password" | "invitation";

export interface OneTimeTokensTable {
  id: string;
  purpose: OneTimePurpose;
  token_hash: string;
  email: string;
  account_id: string | null;
  invitation_id: string | null;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface OAuthClientsTable {
  id: string;
  name: string;
  redirect_uris: string[];
  client_ip: string | null;
  created_at: CreatedAt;
}

export type OAuthRevokeReason = "revoked" | "refresh_reuse" | "code_reuse" | "token_revoked";

export interface OAuthGrantsTable {
  id: string;
  client_id: string;
  account_id: string;
  resource: string;
  scopes: string[];
  projects: string[] | null;
  created_at: CreatedAt;
  revoked_at: Timestamp | null;
  revoke_reason: OAuthRevokeReason | null;
}

export interface OAuthCodesTable {
  code_hash: string;
  client_id: string;
  account_id: string;
  redirect_uri: string;
  code_challenge: string;
  resource: string;
  scopes: string[];
  projects: string[] | null;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  grant_id: string | null;
  created_at: CreatedAt;
}

export interface OAuthRefreshTokensTable {
  token_hash: string;
  grant_id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

// ---- workers: resources and cron (0019-worker-resources) ----

export interface WorkerKvStoresTable {
  id: string;
  project_id: string;
  name: string;
  created_at: CreatedAt;
}

export interface WorkerKvEntriesTable {
  store_id: string;
  key: string;
  value: Buffer;
  metadata: Json | null;
  expires_at: Timestamp | null;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface WorkerBucketsTable {
  id: string;
  project_id: string;
  name: string;
  created_at: CreatedAt;
}

export interface WorkerBucketObjectsTable {
  bucket_id: string;
  key: string;
  sha256: string;
  size: ColumnType<string, number, number>;
  version: string;
  http_metadata: Json<Record<string, string>>;
  custom_metadata: Json<Record<string, string>>;
  uploaded_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface WorkerCronTriggersTable {
  id: string;
  project_id: string;
  worker_name: string;
  cron: string;
  timezone: string;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  next_run_at: Timestamp | null;
  created_at: CreatedAt;
}

export type CronRunStatus = "queued" | "running" | "succeeded" | "failed" | "skipped";

export interface WorkerCronRunsTable {
  id: string;
  trigger_id: string;
  scheduled_at: Timestamp;
  missed: ColumnType<number, number | undefined, number>;
  status: CronRunStatus;
  lease_expires_at: Timestamp | null;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
  duration_ms: number | null;
  logs: ColumnType<unknown[], string | undefined, string>;
  error: string | null;
  created_at: CreatedAt;
}

export interface Database {
  accounts: AccountsTable;
  api_tokens: ApiTokensTable;
  sessions: SessionsTable;
  oauth_clients: OAuthClientsTable;
  oauth_grants: OAuthGrantsTable;
  oauth_codes: OAuthCodesTable;
  oauth_refresh_tokens: OAuthRefreshTokensTable;
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
  site_blobs: SiteBlobsTable;
  sites: SitesTable;
  site_draft_files: SiteDraftFilesTable;
  site_dirty_paths: SiteDirtyPathsTable;
  site_proposals: SiteProposalsTable;
  site_proposal_files: SiteProposalFilesTable;
  site_releases: SiteReleasesTable;
  site_release_files: SiteReleaseFilesTable;
  site_submissions: SiteSubmissionsTable;
  site_domains: SiteDomainsTable;
  acme_accounts: AcmeAccountsTable;
  acme_challenges: AcmeChallengesTable;
  instances: InstancesTable;
  instance_metrics: InstanceMetricsTable;
  ssh_keys: SshKeysTable;
  jobs: JobsTable;
  agent_conversations: AgentConversationsTable;
  agent_runs: AgentRunsTable;
  agent_messages: AgentMessagesTable;
  agent_steps: AgentStepsTable;
  agent_approvals: AgentApprovalsTable;
  agent_run_events: AgentRunEventsTable;
  agent_schedules: AgentSchedulesTable;
  agent_schedule_runs: AgentScheduleRunsTable;
  worker_kv_stores: WorkerKvStoresTable;
  worker_kv_entries: WorkerKvEntriesTable;
  worker_buckets: WorkerBucketsTable;
  worker_bucket_objects: WorkerBucketObjectsTable;
  worker_cron_triggers: WorkerCronTriggersTable;
  worker_cron_runs: WorkerCronRunsTable;
  telegram_pairing_codes: TelegramPairingCodesTable;
  telegram_links: TelegramLinksTable;
  telegram_chat_state: TelegramChatStateTable;
  rate_limits: RateLimitsTable;
  project_invitations: ProjectInvitationsTable;
  one_time_tokens: OneTimeTokensTable;
  events: EventsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  notifications: NotificationsTable;
  notification_preferences: NotificationPreferencesTable;
  workers: WorkersTable;
  worker_versions: WorkerVersionsTable;
  worker_vars: WorkerVarsTable;
  worker_secrets: WorkerSecretsTable;
  worker_invocations: WorkerInvocationsTable;
  sql_databases: SqlDatabasesTable;
}

export interface WorkersTable {
  id: string;
  project_id: string;
  name: string;
  active_version_id: string | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface WorkerVersionsTable {
  id: string;
  worker_id: string;
  hash: string;
  bundle: Json<unknown>;
  size_bytes: number;
  created_at: CreatedAt;
}

export interface WorkerVarsTable {
  worker_id: string;
  name: string;
  value: string;
  updated_at: Timestamp;
}

export interface WorkerSecretsTable {
  worker_id: string;
  name: string;
  value_enc: string;
  updated_at: Timestamp;
}

export interface WorkerInvocationsTable {
  id: Generated<string>;
  worker_id: string;
  at: Timestamp;
  kind: string;
  outcome: string;
  status: number | null;
  method: string | null;
  url: string | null;
  wall_ms: number;
  cpu_ms: number;
  logs: Json<unknown[]>;
  exceptions: Json<unknown[]>;
  /** Whether its usage is on the ledger (the meter charges uncharged rows; retention keeps them until then). */
  charged: Generated<boolean>;
}

export interface SqlDatabasesTable {
  id: string;
  project_id: string;
  name: string;
  created_at: CreatedAt;
}

export interface EventsTable {
  id: string;
  type: string;
  version: number;
  account_id: string | null;
  project_id: string | null;
  data: Json<Record<string, unknown>>;
  created_at: CreatedAt;
}

export interface WebhookEndpointsTable {
  id: string;
  account_id: string;
  project_id: string | null;
  url: string;
  description: Generated<string>;
  event_types: string[];
  enabled: Generated<boolean>;
  disabled_reason: string | null;
  secret_enc: string;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export type WebhookDeliveryStatus = "pending" | "succeeded" | "failed";

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  status: ColumnType<WebhookDeliveryStatus, WebhookDeliveryStatus | undefined, WebhookDeliveryStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp | null;
  response_status: number | null;
  latency_ms: number | null;
  response_excerpt: string | null;
  error: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface WebhookAttemptsTable {
  id: Generated<string>;
  delivery_id: string;
  attempt: number;
  response_status: number | null;
  latency_ms: number;
  error: string | null;
  at: CreatedAt;
}

export interface NotificationsTable {
  id: string;
  account_id: string;
  event_id: string | null;
  type: string;
  project_id: string | null;
  title: string;
  body: string;
  read_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface NotificationPreferencesTable {
  account_id: string;
  event_type: string;
  in_app: boolean;
  email: boolean;
  telegram: boolean;
}

export type Account = Selectable<AccountsTable>;
export type ApiTokenRow = Selectable<ApiTokensTable>;
export type SessionRow = Selectable<SessionsTable>;
export type ProjectRow = Selectable<ProjectsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type ProjectUpdate = Updateable<ProjectsTable>;
