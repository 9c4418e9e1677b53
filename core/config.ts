// Operator configuration, read from the environment once. Customers never set any of this.
import { Resolver } from "node:dns";
import path from "node:path";
import proxyAddr from "proxy-addr";
import { MAX_MICROS } from "./billing/money.ts";

export interface Config {
  dataDir: string;
  databaseUrl: string | undefined;
  /** Strangers may call `register`. */
  allowRegistration: boolean;
  /** Requests per minute per credential. */
  rateLimitPerMinute: number;
  /** Password/code entries per minute per client IP (login, register, TOTP). */
  authRateLimitPerMinute: number;
  /** base64 of 32 bytes; when unset a key file in the data dir is used (created on first start). */
  masterKey: string | undefined;
  /**
   * Which proxies in front of Bosun to believe about the client's address (BOSUN_TRUST_PROXY), as Express's
   * `trust proxy`: false (unset) trusts none; a number trusts that many hops from the socket (`true` = 1); a
   * list trusts peers inside those CIDRs (or `loopback`, `linklocal`, `uniquelocal`). The client IP is then
   * the first untrusted address, read from the right of X-Forwarded-For: a client cannot choose it.
   */
  trustProxy: TrustProxy;
  sessionTtlSeconds: number;
  /** AI credit a newly registered account starts with, in micro-dollars. */
  trialCreditMicros: number;
  logLevel: string;
  /** Days an audit record is kept at least (at most a month more); 0 keeps them forever (core/partitions.ts). */
  auditRetentionDays: number;
  /** The same for agent run events; events of runs not yet finished are kept (core/partitions.ts). */
  runEventRetentionDays: number;
  /** Where published sites are served: their own origin, never the API's (BOSUN_SITES_PORT / --sites-port). */
  sitesPort: number;
  /** When set, `{slug}.{sitesDomain}` serves a site by Host header (BOSUN_SITES_DOMAIN). */
  sitesDomain: string | undefined;
  /** The public base URL of the sites listener, for preview links (BOSUN_SITES_URL; default from host and port). */
  sitesUrl: string | undefined;
  /**
   * Serve every site under `/s/{slug}/` of one shared origin (BOSUN_SITES_PATH_MODE) instead of each on its own
   * host. Sites can then read each other's pages and cookies as same-origin: only for trusted content.
   */
  sitesPathMode: boolean;
  /** A site's draft may hold at most this many bytes (BOSUN_SITE_QUOTA_MB, default 200). */
  siteQuotaBytes: number;
  /** Custom domains: the HTTPS sites port (certificates by ACME, chosen by SNI); unset, no HTTPS and no ACME. */
  sitesHttpsPort: number | undefined;
  /** The DNS servers verify_domain asks (`host` or `host:port`); empty: the system's resolvers. */
  dnsServers: string[];
  /** The ACME directory certificates come from, the account's contact, and extra roots to trust for it. */
  acme: { directoryUrl: string; email: string | undefined; caFile: string | undefined };
  /** Archive deploys: most bytes uploaded, most entries, and the largest uncompressed/compressed ratio. */
  siteArchiveMaxBytes: number;
  siteArchiveMaxFiles: number;
  siteArchiveMaxRatio: number;
  /** Outbound connections for customers (instance hosts) may reach private, loopback and link-local addresses. */
  egressAllowPrivate: boolean;
  /** Extra root certificates for Bosun's own outbound HTTPS (webhooks, OAuth client metadata documents). */
  egressCaFile: string | undefined;
  /** Workers answer at `{worker}.{project}.{workersDomain}` (BOSUN_WORKERS_DOMAIN, default localhost). */
  workersDomain: string;
  workersRequestTimeoutMs: number;
  workersLogRetention: number;
  /** Most bytes a visitor's request body to a worker may have (a worker's `limits.body_bytes` may lower it). */
  workersMaxBodyBytes: number;
  workersBillingFlushMs: number;
  /** Each worker isolate's V8 heap limit (MB); past it workerd aborts and the generation restarts. */
  workersMemoryMb: number;
  /** A generation's resident memory ceiling (MB, array buffers included); past it the process is recycled. */
  workersProcessMemoryMb: number;
  /** Subrequests (outbound fetches and binding calls) one invocation may make; a deploy's `limits` may lower it. */
  workersSubrequests: number;
  /** Instances: the longest a run_command may be given, and how long an unused SSH connection stays open. */
  sshMaxCommandSeconds: number;
  sshIdleSeconds: number;
  sshConnectTimeoutSeconds: number;
  /** How often each instance's metrics are sampled into the history; 0 turns sampling off. */
  metricsIntervalSeconds: number;
  /** Seconds between the agent scheduler's looks for due schedules in each `bosun serve`; 0: none in this process. */
  agentSchedulerSeconds: number;
  /** Seconds between the workers' cron scheduler's looks for due triggers in each `bosun serve`; 0: none here. */
  workersCronSeconds: number;
  /** The agent runner's model: operator configuration only, never chosen by a customer. */
  agent: AgentConfig;
  /** The Telegram bridge; off unless a bot token is set. */
  telegram: TelegramConfig;
  /** Outgoing email: invitations, set-password, verification and reset links. */
  mail: MailConfig;
  /** Where people reach this server (BOSUN_PUBLIC_URL), for links in emails; `bosun serve` fills it from its address. */
  publicUrl: string | undefined;
  /** Event fan-out, webhook deliveries and notifications (core/events). */
  events: EventsConfig;
}

export interface EventsConfig {
  /** Delivery workers in each `bosun serve` process; 0 leaves deliveries to other processes. */
  workers: number;
  /** The first retry's delay; each next one doubles (with jitter), up to six hours. */
  retryBaseMs: number;
  /** Attempts per delivery before it fails for good and its endpoint is disabled. */
  maxAttempts: number;
  /** How long one delivery attempt may take. */
  timeoutMs: number;
}

export interface MailConfig {
  /** BOSUN_SMTP_URL, e.g. smtp://user:pass@mail.example.com:587 or smtps://…; unset, links go back to the operator or inviter. */
  smtpUrl: string | undefined;
  /** BOSUN_MAIL_FROM: the From of every email. */
  from: string;
}

export type TrustProxy = boolean | number | string[];

/** BOSUN_TRUST_PROXY: unset/false/0 → none; true → 1 hop; `2` → 2 hops; `10.0.0.0/8, loopback` → those peers. */
export function parseTrustProxy(v: string | undefined): TrustProxy {
  const value = (v ?? "").trim();
  if (value === "" || /^(0|false|no|off)$/i.test(value)) return false;
  // `true` once meant "believe the left-most entry", which any client can write; now it is the one proxy in front.
  if (/^(true|yes|on)$/i.test(value)) return 1;
  if (/^\d+$/.test(value)) return Number(value);
  const list = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    proxyAddr.compile(list);
  } catch (err) {
    throw new Error(
      `BOSUN_TRUST_PROXY: ${(err as Error).message} (give a hop count, or proxy addresses/CIDRs separated by commas)`,
    );
  }
  return list;
}

export interface TelegramConfig {
  /** BOSUN_TELEGRAM_BOT_TOKEN: enables the bot inside `bosun serve`. */
  botToken: string | undefined;
  /** BOSUN_TELEGRAM_API_ROOT: the Bot API's root URL (tests point it at a local fake). */
  apiRoot: string;
  /** BOSUN_PUBLIC_URL: set, the bot takes updates by webhook at {publicUrl}/telegram/webhook instead of polling. */
  publicUrl: string | undefined;
  /** BOSUN_TELEGRAM_WEBHOOK_SECRET; unset, one is derived from the master key (the same on every process). */
  webhookSecret: string | undefined;
}

export interface AgentConfig {
  provider: "anthropic" | "openai";
  model: string;
  /** ANTHROPIC_API_KEY or OPENAI_API_KEY; unset, agent operations answer which variable to set. */
  apiKey: string | undefined;
  /** BOSUN_ANTHROPIC_BASE_URL / BOSUN_OPENAI_BASE_URL: another endpoint (a proxy, or a local OpenAI-compatible server). */
  baseUrl: string | undefined;
  maxOutputTokens: number;
  /** Run workers in each `bosun serve` process; 0 leaves runs to other processes. */
  workers: number;
  maxSteps: number;
  maxWallSeconds: number;
  maxCostMicros: number;
}

const bool = (v: string | undefined, dflt: boolean) =>
  v === undefined || v === "" ? dflt : /^(1|true|yes|on)$/i.test(v);
const int = (v: string | undefined, dflt: number) => {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};
const noTrailingSlash = (v: string | undefined) => v?.replace(/\/+$/, "") || undefined;
const optional = (v: string | undefined) => v || undefined;

/** BOSUN_TRIAL_CREDIT_USD in micro-dollars: unset is $1, unreadable is none; past the money bound (or below 0)
 * it is refused at start, rather than by every registration. */
function trialCredit(v: string | undefined): number {
  const micros = Math.round(Number(v ?? 1) * 1e6) || 0;
  if (!Number.isSafeInteger(micros) || micros < 0 || BigInt(micros) > MAX_MICROS)
    throw new Error(`BOSUN_TRIAL_CREDIT_USD must be a dollar amount from 0 to ${Number(MAX_MICROS) / 1e6}`);
  return micros;
}

/** Sections of docs/configuration.md, in order. */
export const variableGroups = [
  "Server",
  "Security",
  "Accounts and email",
  "Billing",
  "Sites",
  "Workers",
  "Instances",
  "Agent",
  "Telegram",
  "Events and webhooks",
  "Command-line client",
  "Development",
] as const;

/** One environment variable: what docs/configuration.md says about it, and how it is read. */
export interface Variable<T = unknown> {
  group: (typeof variableGroups)[number];
  /** For people: integer, boolean, string, URL, JSON, … */
  type: string;
  /** As the docs show it; "" means unset. */
  default: string;
  description: string;
  /** The raw value (undefined when unset) → the value Bosun uses. */
  parse: (raw: string | undefined) => T;
  /** Set when something other than loadConfig reads it (a CLI flag default, the client, tests). */
  readBy?: string;
}

// Builders that derive the documented default from the one used, so the two cannot differ.
const integer = (dflt: number, group: Variable["group"], description: string): Variable<number> => ({
  group,
  type: "integer",
  default: String(dflt),
  description,
  parse: (v) => int(v, dflt),
});
const boolean = (dflt: boolean, group: Variable["group"], description: string): Variable<boolean> => ({
  group,
  type: "boolean",
  default: String(dflt),
  description,
  parse: (v) => bool(v, dflt),
});
const text = (
  group: Variable["group"],
  type: string,
  description: string,
  extra: Partial<Variable<string | undefined>> = {},
): Variable<string | undefined> => ({ group, type, default: "", description, parse: optional, ...extra });
const withDefault = (
  dflt: string,
  group: Variable["group"],
  type: string,
  description: string,
  readBy?: string,
): Variable<string> => ({ group, type, default: dflt, description, parse: (v) => v || dflt, readBy });

/**
 * Every environment variable Bosun reads, the one table: loadConfig reads through it, `npm run docs` writes
 * docs/configuration.md from it, and core/config.test.ts fails when a variable is read that is not here.
 */
export const variables = {
  // Server
  DATABASE_URL: text("Server", "URL", "`postgres://…` to use PostgreSQL; unset: embedded PGlite in the data dir"),
  BOSUN_DATA_DIR: {
    ...withDefault("./.bosun", "Server", "path", "embedded database, master key file, first-start admin token"),
    parse: (v: string | undefined) => path.resolve(v || "./.bosun"),
  },
  BOSUN_PORT: withDefault("8787", "Server", "integer", "where `bosun serve` listens (`--port`)", "cli/main.ts"),
  BOSUN_HOST: withDefault(
    "127.0.0.1",
    "Server",
    "address",
    "the address `bosun serve` binds (`--host`)",
    "cli/main.ts",
  ),
  BOSUN_PUBLIC_URL: text(
    "Server",
    "URL",
    "where people reach this server: the base of links in emails, the OAuth issuer and the MCP URL OAuth tokens are bound to (`{url}/mcp`), and set, the Telegram webhook (`{url}/telegram/webhook`); `bosun serve` fills it from its address",
    { parse: noTrailingSlash },
  ),
  BOSUN_LOG_LEVEL: withDefault("info", "Server", "string", "pino log level"),
  BOSUN_AUDIT_RETENTION_DAYS: {
    ...integer(
      0,
      "Server",
      "audit records are kept at least this many days: hourly, each calendar month (UTC) of records wholly older than that is dropped at once, so a record goes between this many days and a month later; `0` keeps them forever",
    ),
    parse: (v: string | undefined) => int(v, 0),
  },
  BOSUN_RUN_EVENT_RETENTION_DAYS: {
    ...integer(
      0,
      "Server",
      "agent run events (what `list_agent_run_events` and the run stream read) are kept like audit records: months wholly older than this many days are dropped, except a month holding an event of a run still queued, running or awaiting approval, which stays until that run ends; the runs and their transcripts stay; `0` keeps them forever",
    ),
    parse: (v: string | undefined) => int(v, 0),
  },
  BOSUN_ADMIN_EMAIL: withDefault(
    "admin@localhost",
    "Server",
    "email",
    "the owner account created on first start",
    "core/identity/bootstrap.ts",
  ),
  // Security
  BOSUN_MASTER_KEY: text(
    "Security",
    "base64",
    "32 bytes; encrypts secrets at rest and signs sessions. Unset: a key file in the data dir (created on first start). **Set the same value on every process** when several share one Postgres",
  ),
  BOSUN_RATE_LIMIT_PER_MINUTE: integer(
    1200,
    "Security",
    "calls per minute per credential (and per client IP for anonymous calls)",
  ),
  BOSUN_AUTH_RATE_LIMIT_PER_MINUTE: integer(
    10,
    "Security",
    "login, register, two-factor code and one-time link entries per minute per client IP",
  ),
  BOSUN_TRUST_PROXY: {
    group: "Security",
    type: "hops or CIDR list",
    default: "false",
    parse: parseTrustProxy,
    description:
      "which proxies in front of Bosun to believe about the client IP (as Express's `trust proxy`): a hop count (`1`: one proxy you run; `true` means `1`) or a comma-separated list of proxy addresses/CIDRs (`10.0.0.0/8, loopback`). `X-Forwarded-For` is read from the right, past the trusted hops; a malformed value stops the start",
  } satisfies Variable<TrustProxy>,
  BOSUN_SESSION_TTL_SECONDS: integer(12 * 3600, "Security", "lifetime of a `login` session token"),
  BOSUN_EGRESS_ALLOW_PRIVATE: boolean(
    false,
    "Security",
    "let instance hosts (and other customer-directed connections) be private, loopback or link-local addresses; a self-hosted single-user install usually wants `true`",
  ),
  BOSUN_EGRESS_CA_FILE: text(
    "Security",
    "path",
    "a PEM file of extra root certificates to trust, besides Node's own, for the HTTPS requests Bosun makes itself (webhook deliveries, OAuth client metadata documents): a private PKI",
  ),
  // Accounts and email
  BOSUN_ALLOW_REGISTRATION: boolean(false, "Accounts and email", "whether strangers may call `register`"),
  BOSUN_SMTP_URL: text(
    "Accounts and email",
    "URL",
    "`smtp://user:pass@host:587` or `smtps://…`: email for set-password, invitation, verification and reset links; unset, the link is returned to the operator or inviter instead",
  ),
  BOSUN_MAIL_FROM: withDefault("Bosun <bosun@localhost>", "Accounts and email", "string", "the From of every email"),
  // Billing
  BOSUN_TRIAL_CREDIT_USD: {
    group: "Billing",
    type: "dollars",
    default: "1",
    parse: trialCredit,
    description:
      "AI credit a customer account gets once its email address is verified; outside 0 … 10^9 the start is refused",
  } satisfies Variable<number>,
  BOSUN_MODEL_PRICES: text(
    "Billing",
    "JSON",
    "model → `{input, output, cache_write?, cache_read?}` in USD per million tokens; adds to or overrides the built-in table",
    { readBy: "core/billing/prices.ts" },
  ),
  BOSUN_PRICE_MARGIN: {
    ...withDefault("0", "Billing", "fraction", "margin on model list prices (`0.2` = 20%)", "core/billing/prices.ts"),
  },
  BOSUN_DEFAULT_MODEL_PRICE: text(
    "Billing",
    "JSON",
    "price for models not in the table (JSON as above); unset: such models are refused",
    { readBy: "core/billing/prices.ts" },
  ),
  // Sites
  BOSUN_SITES_PORT: {
    group: "Sites",
    type: "integer",
    default: "8788",
    description: "the sites listener (`--sites-port`): published sites and draft previews, on their own origin",
    parse: (v: string | undefined) => (Number.isInteger(Number(v)) && v ? Number(v) : 8788),
  } satisfies Variable<number>,
  BOSUN_SITES_DOMAIN: text(
    "Sites",
    "domain",
    "sites are served at `{project}.{domain}` by Host header (point a wildcard DNS record at the listener); unset, at `{project}.localhost:{sites port}`",
    {
      parse: (v) =>
        v
          ?.trim()
          .toLowerCase()
          .replace(/^\.+|\.+$/g, "") || undefined,
    },
  ),
  BOSUN_SITES_URL: text(
    "Sites",
    "URL",
    "the sites listener's public URL: its scheme and port are used in site and preview links (`https://…` behind a TLS proxy); unset, `http://{host}:{sites port}`",
    { parse: noTrailingSlash },
  ),
  BOSUN_SITES_PATH_MODE: boolean(
    false,
    "Sites",
    "serve every site under `/s/{project}/` of one shared origin instead (warned at start): sites can then read each other's pages and cookies — only for content you trust",
  ),
  BOSUN_SITE_QUOTA_MB: integer(200, "Sites", "most megabytes a site's draft may hold (a single file: 10 MB)"),
  BOSUN_WORKERS_DOMAIN: {
    group: "Workers",
    type: "domain",
    default: "localhost",
    description:
      "workers answer at `{worker}.{project}.{domain}` on the sites listener's port (point a wildcard DNS record at it)",
    parse: (v: string | undefined) =>
      v
        ?.trim()
        .toLowerCase()
        .replace(/^\.+|\.+$/g, "") || "localhost",
  } satisfies Variable<string>,
  BOSUN_WORKERS_REQUEST_TIMEOUT_MS: integer(
    30_000,
    "Workers",
    "a worker request's time budget in ms: past it the visitor gets 503, and a worker spinning on the CPU has its runtime recycled",
  ),
  BOSUN_WORKERS_MEMORY_MB: integer(
    128,
    "Workers",
    "each worker isolate's JavaScript heap limit in MB: a worker past it gets its requests answered 503 and the workers runtime restarts",
  ),
  BOSUN_WORKERS_PROCESS_MEMORY_MB: integer(
    2048,
    "Workers",
    "the workers runtime process's resident memory ceiling in MB (array buffers count here, not in the heap limit): past it the process is recycled and its requests answered 503",
  ),
  BOSUN_WORKERS_SUBREQUESTS: integer(
    1000,
    "Workers",
    "outbound fetches and binding calls one worker invocation may make (a deploy's `limits.subrequests` may lower it); past it the call throws `Too many subrequests`",
  ),
  BOSUN_WORKERS_LOG_RETENTION: integer(1000, "Workers", "invocations (logs and metric samples) kept per worker"),
  BOSUN_WORKERS_MAX_BODY_MB: integer(
    100,
    "Workers",
    "most megabytes a visitor's request body to a worker may have, counted as it streams (413 past it; Cloudflare's default); a worker's `limits.body_bytes` may lower it",
  ),
  BOSUN_WORKERS_PRICES: text(
    "Workers",
    "JSON",
    'workers\' prices: `{"requests": USD per million, "cpu_ms": USD per million CPU ms}` (default 0.30 and 0.02), charged to the owner\'s wallet',
    { readBy: "core/billing/prices.ts" },
  ),
  BOSUN_WORKERS_BILLING_FLUSH_MS: integer(
    5000,
    "Workers",
    "how often workers' usage is charged to the ledger (one entry per account per flush)",
  ),
  BOSUN_SITES_HTTPS_PORT: {
    group: "Sites",
    type: "integer",
    default: "",
    description:
      "the HTTPS sites listener for custom domains: certificates come from ACME (HTTP-01, answered on the sites port, which must be reachable on port 80) and are chosen by SNI; unset, custom domains are served over HTTP only and no certificate is requested",
    parse: (v: string | undefined) => {
      if (!v) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535)
        throw new Error(`BOSUN_SITES_HTTPS_PORT must be a port number, not '${v}'`);
      return n;
    },
  } satisfies Variable<number | undefined>,
  BOSUN_DNS_SERVERS: {
    group: "Sites",
    type: "list",
    default: "",
    description:
      "comma-separated DNS servers (`1.1.1.1`, `[::1]:5353`, `127.0.0.1:5353`) `verify_domain` asks for a custom domain's records; unset, the system's resolvers",
    parse: (v: string | undefined) => {
      const servers = (v ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      // Checked at start: a malformed address would otherwise fail every verify_domain.
      try {
        new Resolver().setServers(servers);
      } catch (err) {
        throw new Error(`BOSUN_DNS_SERVERS: ${(err as Error).message}`);
      }
      return servers;
    },
  } satisfies Variable<string[]>,
  BOSUN_ACME_DIRECTORY_URL: withDefault(
    "https://acme-v02.api.letsencrypt.org/directory",
    "Sites",
    "URL",
    "the ACME directory custom domains' certificates come from (default Let's Encrypt production; staging: `https://acme-staging-v02.api.letsencrypt.org/directory`)",
  ),
  BOSUN_ACME_EMAIL: text("Sites", "email", "the contact address of the ACME account (expiry notices)"),
  BOSUN_ACME_CA_FILE: text(
    "Sites",
    "path",
    "a PEM file of extra root certificates to trust when talking to the ACME directory (a private ACME server such as step-ca, or pebble in tests)",
  ),
  BOSUN_SITE_ARCHIVE_MAX_MB: integer(100, "Sites", "most megabytes of one uploaded archive (`deploy_site_archive`)"),
  BOSUN_SITE_ARCHIVE_MAX_FILES: integer(10000, "Sites", "most entries of one uploaded archive"),
  BOSUN_SITE_ARCHIVE_MAX_RATIO: integer(
    100,
    "Sites",
    "largest ratio of unpacked to packed bytes an archive (or a zip entry) may have, past its first MB: zip bombs",
  ),
  // Instances
  BOSUN_SSH_MAX_COMMAND_SECONDS: integer(
    3600,
    "Instances",
    "the largest `timeout_seconds` a `run_command` may ask for",
  ),
  BOSUN_SSH_IDLE_SECONDS: integer(
    300,
    "Instances",
    "an instance's pooled SSH connection closes after this long unused",
  ),
  BOSUN_SSH_CONNECT_TIMEOUT_SECONDS: integer(10, "Instances", "TCP connect plus SSH handshake"),
  BOSUN_METRICS_INTERVAL_SECONDS: {
    ...integer(
      60,
      "Instances",
      "how often each instance's metrics are recorded for `get_instance_metrics` history; `0` turns it off",
    ),
    parse: (v: string | undefined) => (v === "0" ? 0 : int(v, 60)),
  },
  // Agent
  BOSUN_AGENT_PROVIDER: {
    group: "Agent",
    type: "`anthropic` or `openai`",
    default: "anthropic",
    description: "`anthropic` (Messages API) or `openai` (Chat Completions, or any compatible server)",
    parse: (v: string | undefined) => (v === "openai" ? "openai" : "anthropic"),
  } satisfies Variable<"anthropic" | "openai">,
  BOSUN_AGENT_MODEL: text("Agent", "string", "the model every run uses", {
    default: "claude-sonnet-5-5 (anthropic), gpt-6-sol (openai)",
  }),
  ANTHROPIC_API_KEY: text(
    "Agent",
    "secret",
    "the Anthropic key (or `BOSUN_ANTHROPIC_API_KEY`); without the chosen provider's key, agent operations answer 503 `not_configured` naming it",
  ),
  BOSUN_ANTHROPIC_API_KEY: text("Agent", "secret", "takes precedence over `ANTHROPIC_API_KEY`"),
  OPENAI_API_KEY: text(
    "Agent",
    "secret",
    "the OpenAI key (or `BOSUN_OPENAI_API_KEY`); not needed with a base URL of a local server",
  ),
  BOSUN_OPENAI_API_KEY: text("Agent", "secret", "takes precedence over `OPENAI_API_KEY`"),
  BOSUN_ANTHROPIC_BASE_URL: text("Agent", "URL", "another Anthropic-compatible endpoint (a proxy)", {
    parse: optional,
  }),
  BOSUN_OPENAI_BASE_URL: text(
    "Agent",
    "URL",
    "another endpoint, e.g. a local Ollama or vLLM (`…/v1`); with the `openai` provider and a base URL, no key is needed",
  ),
  BOSUN_AGENT_MAX_OUTPUT_TOKENS: integer(4096, "Agent", "`max_tokens` of every model call"),
  BOSUN_AGENT_WORKERS: {
    ...integer(2, "Agent", "run workers in each `bosun serve`; `0` leaves runs to other processes"),
    parse: (v: string | undefined) => (v === "0" ? 0 : int(v, 2)),
  },
  BOSUN_AGENT_SCHEDULER_SECONDS: {
    ...integer(
      15,
      "Agent",
      "how often each `bosun serve` looks for due agent schedules; `0` leaves them to other processes",
    ),
    parse: (v: string | undefined) => (v === "0" ? 0 : int(v, 15)),
  },
  BOSUN_WORKERS_CRON_SECONDS: {
    ...integer(
      10,
      "Workers",
      "how often each `bosun serve` looks for due cron triggers of workers; `0` leaves them to other processes",
    ),
    parse: (v: string | undefined) => (v === "0" ? 0 : int(v, 10)),
  },
  BOSUN_AGENT_MAX_STEPS: integer(40, "Agent", "model calls per run"),
  BOSUN_AGENT_MAX_WALL_SECONDS: integer(1800, "Agent", "wall time per run"),
  BOSUN_AGENT_MAX_COST_USD: {
    group: "Agent",
    type: "dollars",
    default: "2",
    description: "cost per run",
    parse: (v: string | undefined) => Math.round(Number(v ?? 2) * 1e6) || 2_000_000,
  } satisfies Variable<number>,
  TAVILY_API_KEY: text("Agent", "secret", "web search for the agents; without a key the tool says so", {
    readBy: "agent-runner/bridges/web-search.ts",
  }),
  BOSUN_TAVILY_BASE_URL: text("Agent", "URL", "another Tavily endpoint (the tests' fake)", {
    readBy: "agent-runner/bridges/web-search.ts",
  }),
  // Telegram
  BOSUN_TELEGRAM_BOT_TOKEN: text(
    "Telegram",
    "secret",
    "the bot's token; set, `bosun serve` runs the bot (long polling, or a webhook when `BOSUN_PUBLIC_URL` is set)",
  ),
  BOSUN_TELEGRAM_WEBHOOK_SECRET: text(
    "Telegram",
    "secret",
    "the secret Telegram sends with each webhook call (calls without it are refused); unset, derived from the master key, the same on every process",
  ),
  BOSUN_TELEGRAM_API_ROOT: {
    ...withDefault(
      "https://api.telegram.org",
      "Telegram",
      "URL",
      "another Bot API server (a self-hosted one, or the tests' fake)",
    ),
    parse: (v: string | undefined) => noTrailingSlash(v) || "https://api.telegram.org",
  },
  // Events and webhooks
  BOSUN_EVENT_WORKERS: {
    ...integer(
      2,
      "Events and webhooks",
      "event workers (fan-out, webhook deliveries, notification email and Telegram) in each `bosun serve`; `0` leaves them to other processes",
    ),
    parse: (v: string | undefined) => (v === "0" ? 0 : int(v, 2)),
  },
  BOSUN_WEBHOOK_RETRY_BASE_MS: integer(
    10_000,
    "Events and webhooks",
    "delay before a failed webhook delivery's first retry; each next one doubles (±25% jitter), capped at six hours",
  ),
  BOSUN_WEBHOOK_MAX_ATTEMPTS: integer(
    15,
    "Events and webhooks",
    "attempts per webhook delivery (15 from 10 s span about a day); when the last fails the endpoint is disabled and its owner notified",
  ),
  BOSUN_WEBHOOK_TIMEOUT_SECONDS: integer(10, "Events and webhooks", "how long one webhook delivery attempt may take"),
  // Command-line client
  BOSUN_URL: text(
    "Command-line client",
    "URL",
    "the server `bosun call` and `bosun sites` talk to (default `http://127.0.0.1:8787`) and `bosun mcp` relays to (unset: it opens the database itself)",
    { readBy: "cli/call.ts, cli/mcp.ts, cli/sites.ts" },
  ),
  BOSUN_TOKEN: text(
    "Command-line client",
    "secret",
    "the bearer token `bosun call`, `bosun sites` and `bosun mcp` send",
    {
      readBy: "cli/call.ts, cli/mcp.ts, cli/sites.ts",
    },
  ),
  BOSUN_DEBUG: text("Command-line client", "boolean", "print the stack of an error the `bosun` command exits with", {
    readBy: "bin/bosun.js",
  }),
  // Development
  BOSUN_SSHD_PATH: text(
    "Development",
    "path",
    "the OpenSSH `sshd` the tests and `bosun eval` run (default: found on PATH or in /usr/sbin)",
    { readBy: "core/programs.ts" },
  ),
  BOSUN_TEST_LOG: text("Development", "string", "log level inside tests (default `silent`)", {
    readBy: "testkit/harness.ts",
  }),
} satisfies Record<string, Variable<unknown>>;

export type VariableName = keyof typeof variables;
type Parsed<N extends VariableName> = ReturnType<(typeof variables)[N]["parse"]>;

/** A variable's value as Bosun uses it: the table's parse of env[name]. */
export function readVariable<N extends VariableName>(name: N, env: NodeJS.ProcessEnv = process.env): Parsed<N> {
  return variables[name].parse(env[name]) as Parsed<N>;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const read = <N extends VariableName>(name: N) => readVariable(name, env);
  return {
    dataDir: read("BOSUN_DATA_DIR"),
    databaseUrl: read("DATABASE_URL"),
    allowRegistration: read("BOSUN_ALLOW_REGISTRATION"),
    rateLimitPerMinute: read("BOSUN_RATE_LIMIT_PER_MINUTE"),
    authRateLimitPerMinute: read("BOSUN_AUTH_RATE_LIMIT_PER_MINUTE"),
    masterKey: read("BOSUN_MASTER_KEY"),
    trustProxy: read("BOSUN_TRUST_PROXY"),
    sessionTtlSeconds: read("BOSUN_SESSION_TTL_SECONDS"),
    trialCreditMicros: read("BOSUN_TRIAL_CREDIT_USD"),
    logLevel: read("BOSUN_LOG_LEVEL"),
    auditRetentionDays: read("BOSUN_AUDIT_RETENTION_DAYS"),
    runEventRetentionDays: read("BOSUN_RUN_EVENT_RETENTION_DAYS"),
    sitesPort: read("BOSUN_SITES_PORT"),
    sitesDomain: read("BOSUN_SITES_DOMAIN"),
    sitesUrl: read("BOSUN_SITES_URL"),
    sitesPathMode: read("BOSUN_SITES_PATH_MODE"),
    siteQuotaBytes: read("BOSUN_SITE_QUOTA_MB") * 1024 * 1024,
    sitesHttpsPort: read("BOSUN_SITES_HTTPS_PORT"),
    dnsServers: read("BOSUN_DNS_SERVERS"),
    acme: {
      directoryUrl: read("BOSUN_ACME_DIRECTORY_URL"),
      email: read("BOSUN_ACME_EMAIL"),
      caFile: read("BOSUN_ACME_CA_FILE"),
    },
    siteArchiveMaxBytes: read("BOSUN_SITE_ARCHIVE_MAX_MB") * 1024 * 1024,
    siteArchiveMaxFiles: read("BOSUN_SITE_ARCHIVE_MAX_FILES"),
    siteArchiveMaxRatio: read("BOSUN_SITE_ARCHIVE_MAX_RATIO"),
    egressAllowPrivate: read("BOSUN_EGRESS_ALLOW_PRIVATE"),
    egressCaFile: read("BOSUN_EGRESS_CA_FILE"),
    workersDomain: read("BOSUN_WORKERS_DOMAIN"),
    workersRequestTimeoutMs: read("BOSUN_WORKERS_REQUEST_TIMEOUT_MS"),
    workersLogRetention: read("BOSUN_WORKERS_LOG_RETENTION"),
    workersMaxBodyBytes: read("BOSUN_WORKERS_MAX_BODY_MB") * 1024 * 1024,
    workersBillingFlushMs: read("BOSUN_WORKERS_BILLING_FLUSH_MS"),
    workersMemoryMb: read("BOSUN_WORKERS_MEMORY_MB"),
    workersProcessMemoryMb: read("BOSUN_WORKERS_PROCESS_MEMORY_MB"),
    workersSubrequests: read("BOSUN_WORKERS_SUBREQUESTS"),
    sshMaxCommandSeconds: read("BOSUN_SSH_MAX_COMMAND_SECONDS"),
    sshIdleSeconds: read("BOSUN_SSH_IDLE_SECONDS"),
    sshConnectTimeoutSeconds: read("BOSUN_SSH_CONNECT_TIMEOUT_SECONDS"),
    metricsIntervalSeconds: read("BOSUN_METRICS_INTERVAL_SECONDS"),
    agentSchedulerSeconds: read("BOSUN_AGENT_SCHEDULER_SECONDS"),
    workersCronSeconds: read("BOSUN_WORKERS_CRON_SECONDS"),
    agent: loadAgentConfig(env),
    telegram: {
      botToken: read("BOSUN_TELEGRAM_BOT_TOKEN"),
      apiRoot: read("BOSUN_TELEGRAM_API_ROOT"),
      publicUrl: read("BOSUN_PUBLIC_URL"),
      webhookSecret: read("BOSUN_TELEGRAM_WEBHOOK_SECRET"),
    },
    mail: { smtpUrl: read("BOSUN_SMTP_URL"), from: read("BOSUN_MAIL_FROM") },
    publicUrl: read("BOSUN_PUBLIC_URL"),
    events: {
      workers: read("BOSUN_EVENT_WORKERS"),
      retryBaseMs: read("BOSUN_WEBHOOK_RETRY_BASE_MS"),
      maxAttempts: read("BOSUN_WEBHOOK_MAX_ATTEMPTS"),
      timeoutMs: read("BOSUN_WEBHOOK_TIMEOUT_SECONDS") * 1000,
    },
    ...overrides,
  };
}

function loadAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const read = <N extends VariableName>(name: N) => readVariable(name, env);
  const provider = read("BOSUN_AGENT_PROVIDER");
  const openai = provider === "openai";
  return {
    provider,
    model: read("BOSUN_AGENT_MODEL") || (openai ? "gpt-6-sol" : "claude-sonnet-5-5"),
    apiKey: openai
      ? read("BOSUN_OPENAI_API_KEY") || read("OPENAI_API_KEY")
      : read("BOSUN_ANTHROPIC_API_KEY") || read("ANTHROPIC_API_KEY"),
    baseUrl: openai ? read("BOSUN_OPENAI_BASE_URL") : read("BOSUN_ANTHROPIC_BASE_URL"),
    maxOutputTokens: read("BOSUN_AGENT_MAX_OUTPUT_TOKENS"),
    workers: read("BOSUN_AGENT_WORKERS"),
    maxSteps: read("BOSUN_AGENT_MAX_STEPS"),
    maxWallSeconds: read("BOSUN_AGENT_MAX_WALL_SECONDS"),
    maxCostMicros: read("BOSUN_AGENT_MAX_COST_USD"),
  };
}

/** Why the agent cannot run with this configuration, naming what to set; null when it can. */
export function agentUnavailable(agent: AgentConfig): string | null {
  if (agent.apiKey) return null;
  // A local OpenAI-compatible server (Ollama, vLLM, llama.cpp) usually takes no key.
  if (agent.provider === "openai" && agent.baseUrl) return null;
  const vendor = agent.provider === "openai" ? "OPENAI" : "ANTHROPIC";
  return `the agent is not configured on this server: the operator must set ${vendor}_API_KEY (provider ${agent.provider}, BOSUN_AGENT_PROVIDER)`;
}
