// Operator configuration, read from the environment once. Customers never set any of this.
import path from "node:path";
import { MAX_MICROS } from "./billing/money.ts";
import proxyAddr from "proxy-addr";

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
  /** Outbound connections for customers (instance hosts) may reach private, loopback and link-local addresses. */
  egressAllowPrivate: boolean;
  /** Instances: the longest a run_command may be given, and how long an unused SSH connection stays open. */
  sshMaxCommandSeconds: number;
  sshIdleSeconds: number;
  sshConnectTimeoutSeconds: number;
  /** How often each instance's metrics are sampled into the history; 0 turns sampling off. */
  metricsIntervalSeconds: number;
  /** The agent runner's model: operator configuration only, never chosen by a customer. */
  agent: AgentConfig;
  /** The Telegram bridge; off unless a bot token is set. */
  telegram: TelegramConfig;
  /** Outgoing email: invitations, set-password, verification and reset links. */
  mail: MailConfig;
  /** Where people reach this server (BOSUN_PUBLIC_URL), for links in emails; `bosun serve` fills it from its address. */
  publicUrl: string | undefined;
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
  const list = value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    proxyAddr.compile(list);
  } catch (err) {
    throw new Error(`BOSUN_TRUST_PROXY: ${(err as Error).message} (give a hop count, or proxy addresses/CIDRs separated by commas)`);
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

const bool = (v: string | undefined, dflt: boolean) => (v === undefined || v === "" ? dflt : /^(1|true|yes|on)$/i.test(v));
const int = (v: string | undefined, dflt: number) => {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};

/** BOSUN_TRIAL_CREDIT_USD in micro-dollars: unset is $1, unreadable is none; past the money bound (or below 0)
 * it is refused at start, rather than by every registration. */
function trialCredit(v: string | undefined): number {
  const micros = Math.round(Number(v ?? 1) * 1e6) || 0;
  if (!Number.isSafeInteger(micros) || micros < 0 || BigInt(micros) > MAX_MICROS) throw new Error(`BOSUN_TRIAL_CREDIT_USD must be a dollar amount from 0 to ${Number(MAX_MICROS) / 1e6}`);
  return micros;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  return {
    dataDir: path.resolve(env.BOSUN_DATA_DIR || "./.bosun"),
    databaseUrl: env.DATABASE_URL || undefined,
    allowRegistration: bool(env.BOSUN_ALLOW_REGISTRATION, false),
    rateLimitPerMinute: int(env.BOSUN_RATE_LIMIT_PER_MINUTE, 1200),
    authRateLimitPerMinute: int(env.BOSUN_AUTH_RATE_LIMIT_PER_MINUTE, 10),
    masterKey: env.BOSUN_MASTER_KEY || undefined,
    trustProxy: parseTrustProxy(env.BOSUN_TRUST_PROXY),
    sessionTtlSeconds: int(env.BOSUN_SESSION_TTL_SECONDS, 12 * 3600),
    trialCreditMicros: trialCredit(env.BOSUN_TRIAL_CREDIT_USD),
    logLevel: env.BOSUN_LOG_LEVEL || "info",
    sitesPort: Number.isInteger(Number(env.BOSUN_SITES_PORT)) && env.BOSUN_SITES_PORT ? Number(env.BOSUN_SITES_PORT) : 8788,
    sitesDomain: env.BOSUN_SITES_DOMAIN?.trim().toLowerCase().replace(/^\.+|\.+$/g, "") || undefined,
    sitesUrl: env.BOSUN_SITES_URL?.replace(/\/+$/, "") || undefined,
    sitesPathMode: bool(env.BOSUN_SITES_PATH_MODE, false),
    siteQuotaBytes: int(env.BOSUN_SITE_QUOTA_MB, 200) * 1024 * 1024,
    egressAllowPrivate: bool(env.BOSUN_EGRESS_ALLOW_PRIVATE, false),
    sshMaxCommandSeconds: int(env.BOSUN_SSH_MAX_COMMAND_SECONDS, 3600),
    sshIdleSeconds: int(env.BOSUN_SSH_IDLE_SECONDS, 300),
    sshConnectTimeoutSeconds: int(env.BOSUN_SSH_CONNECT_TIMEOUT_SECONDS, 10),
    metricsIntervalSeconds: env.BOSUN_METRICS_INTERVAL_SECONDS === "0" ? 0 : int(env.BOSUN_METRICS_INTERVAL_SECONDS, 60),
    agent: loadAgentConfig(env),
    telegram: {
      botToken: env.BOSUN_TELEGRAM_BOT_TOKEN || undefined,
      apiRoot: env.BOSUN_TELEGRAM_API_ROOT?.replace(/\/+$/, "") || "https://api.telegram.org",
      publicUrl: env.BOSUN_PUBLIC_URL?.replace(/\/+$/, "") || undefined,
      webhookSecret: env.BOSUN_TELEGRAM_WEBHOOK_SECRET || undefined,
    },
    mail: { smtpUrl: env.BOSUN_SMTP_URL || undefined, from: env.BOSUN_MAIL_FROM || "Bosun <bosun@localhost>" },
    publicUrl: env.BOSUN_PUBLIC_URL?.replace(/\/+$/, "") || undefined,
    ...overrides,
  };
}

function loadAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const provider = env.BOSUN_AGENT_PROVIDER === "openai" ? "openai" : "anthropic";
  const vendor = provider === "openai" ? "OPENAI" : "ANTHROPIC";
  return {
    provider,
    model: env.BOSUN_AGENT_MODEL || (provider === "openai" ? "gpt-6-sol" : "claude-sonnet-5-5"),
    apiKey: env[`BOSUN_${vendor}_API_KEY`] || env[`${vendor}_API_KEY`] || undefined,
    baseUrl: env[`BOSUN_${vendor}_BASE_URL`] || undefined,
    maxOutputTokens: int(env.BOSUN_AGENT_MAX_OUTPUT_TOKENS, 4096),
    workers: env.BOSUN_AGENT_WORKERS === "0" ? 0 : int(env.BOSUN_AGENT_WORKERS, 2),
    maxSteps: int(env.BOSUN_AGENT_MAX_STEPS, 40),
    maxWallSeconds: int(env.BOSUN_AGENT_MAX_WALL_SECONDS, 1800),
    maxCostMicros: Math.round(Number(env.BOSUN_AGENT_MAX_COST_USD ?? 2) * 1e6) || 2_000_000,
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
