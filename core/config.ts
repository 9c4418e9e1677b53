// Operator configuration, read from the environment once. Customers never set any of this.
import path from "node:path";

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
  /** Trust X-Forwarded-For for the client IP (set only behind a proxy you run). */
  trustProxy: boolean;
  sessionTtlSeconds: number;
  /** AI credit a newly registered account starts with, in micro-dollars. */
  trialCreditMicros: number;
  logLevel: string;
}

const bool = (v: string | undefined, dflt: boolean) => (v === undefined || v === "" ? dflt : /^(1|true|yes|on)$/i.test(v));
const int = (v: string | undefined, dflt: number) => {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  return {
    dataDir: path.resolve(env.BOSUN_DATA_DIR || "./.bosun"),
    databaseUrl: env.DATABASE_URL || undefined,
    allowRegistration: bool(env.BOSUN_ALLOW_REGISTRATION, false),
    rateLimitPerMinute: int(env.BOSUN_RATE_LIMIT_PER_MINUTE, 1200),
    authRateLimitPerMinute: int(env.BOSUN_AUTH_RATE_LIMIT_PER_MINUTE, 10),
    masterKey: env.BOSUN_MASTER_KEY || undefined,
    trustProxy: bool(env.BOSUN_TRUST_PROXY, false),
    sessionTtlSeconds: int(env.BOSUN_SESSION_TTL_SECONDS, 12 * 3600),
    trialCreditMicros: Math.round(Number(env.BOSUN_TRIAL_CREDIT_USD ?? 1) * 1e6) || 0,
    logLevel: env.BOSUN_LOG_LEVEL || "info",
    ...overrides,
  };
}
