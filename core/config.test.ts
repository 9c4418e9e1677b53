import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig, variables } from "./config.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE_DIRS = [
  "bin",
  "core",
  "cli",
  "http",
  "sites-server",
  "mcp-server",
  "telegram",
  "agent-runner",
  "testkit",
  "evals",
  "schema",
  "scripts",
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|js)$/.test(e.name) && !e.name.endsWith(".test.ts") ? [p] : [];
  });
}

describe("config variables", () => {
  it("every BOSUN_* (and provider key) variable named in the source is in the table, so docs/configuration.md lists it", () => {
    const named = new Set<string>();
    for (const dir of SOURCE_DIRS.map((d) => path.join(root, d)).filter((d) => fs.existsSync(d))) {
      for (const file of sourceFiles(dir)) {
        for (const m of fs
          .readFileSync(file, "utf8")
          .matchAll(/\b(BOSUN_[A-Z0-9_]*[A-Z0-9]|[A-Z]+_API_KEY|DATABASE_URL)\b/g))
          named.add(m[1]!);
      }
    }
    const missing = [...named].filter((n) => !(n in variables)).sort();
    expect(missing, "add these to `variables` in core/config.ts, then run `npm run docs`").toEqual([]);
  });

  it("reads the same defaults as before the table", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      dataDir: path.resolve("./.bosun"),
      databaseUrl: undefined,
      allowRegistration: false,
      rateLimitPerMinute: 1200,
      authRateLimitPerMinute: 10,
      trustProxy: false,
      sessionTtlSeconds: 43200,
      trialCreditMicros: 1_000_000,
      logLevel: "info",
      sitesPort: 8788,
      sitesPathMode: false,
      siteQuotaBytes: 200 * 1024 * 1024,
      metricsIntervalSeconds: 60,
      telegram: { botToken: undefined, apiRoot: "https://api.telegram.org", publicUrl: undefined },
      mail: { smtpUrl: undefined, from: "Bosun <bosun@localhost>" },
    });
    expect(c.agent).toEqual({
      provider: "anthropic",
      model: "claude-sonnet-5-5",
      apiKey: undefined,
      baseUrl: undefined,
      maxOutputTokens: 4096,
      workers: 2,
      maxSteps: 40,
      maxWallSeconds: 1800,
      maxCostMicros: 2_000_000,
    });
  });

  it("parses set values as before", () => {
    const c = loadConfig({
      BOSUN_SITES_DOMAIN: " .Sites.Example.COM. ",
      BOSUN_PUBLIC_URL: "https://b.example//",
      BOSUN_METRICS_INTERVAL_SECONDS: "0",
      BOSUN_AGENT_WORKERS: "0",
      BOSUN_AGENT_PROVIDER: "openai",
      OPENAI_API_KEY: "k",
      BOSUN_OPENAI_API_KEY: "bk",
      BOSUN_OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
      BOSUN_TRUST_PROXY: "10.0.0.0/8, loopback",
      BOSUN_RATE_LIMIT_PER_MINUTE: "nonsense",
      BOSUN_ALLOW_REGISTRATION: "yes",
      BOSUN_AGENT_MAX_COST_USD: "0.5",
    });
    expect(c.sitesDomain).toBe("sites.example.com");
    expect(c.publicUrl).toBe("https://b.example");
    expect(c.telegram.publicUrl).toBe("https://b.example");
    expect(c.metricsIntervalSeconds).toBe(0);
    expect(c.trustProxy).toEqual(["10.0.0.0/8", "loopback"]);
    expect(c.rateLimitPerMinute).toBe(1200);
    expect(c.allowRegistration).toBe(true);
    expect(c.agent).toMatchObject({
      provider: "openai",
      model: "gpt-6-sol",
      apiKey: "bk",
      baseUrl: "http://127.0.0.1:11434/v1",
      workers: 0,
      maxCostMicros: 500_000,
    });
    expect(() => loadConfig({ BOSUN_TRIAL_CREDIT_USD: "-1" })).toThrow(/BOSUN_TRIAL_CREDIT_USD/);
  });

  it("reads the custom-domain settings, and stops the start on a malformed DNS server or HTTPS port", () => {
    const c = loadConfig({ BOSUN_DNS_SERVERS: "127.0.0.1:5353, [::1]:53", BOSUN_SITES_HTTPS_PORT: "8443" });
    expect(c.dnsServers).toEqual(["127.0.0.1:5353", "[::1]:53"]);
    expect(c.sitesHttpsPort).toBe(8443);
    expect(loadConfig({}).dnsServers).toEqual([]);
    expect(loadConfig({}).sitesHttpsPort).toBeUndefined();
    expect(loadConfig({}).acme.directoryUrl).toBe("https://acme-v02.api.letsencrypt.org/directory");
    expect(() => loadConfig({ BOSUN_DNS_SERVERS: "not an address" })).toThrow(/BOSUN_DNS_SERVERS/);
    expect(() => loadConfig({ BOSUN_SITES_HTTPS_PORT: "99999" })).toThrow(/BOSUN_SITES_HTTPS_PORT/);
  });
});
