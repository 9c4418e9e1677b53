// The platform: everything an operation needs at run time, opened once per process and shared by every
// surface. Nothing here holds state that matters across a restart; Postgres does.
import pino, { type Logger } from "pino";
import { migrateToLatest } from "../schema/migrations.ts";
import { type DatabaseKind, openDatabase } from "../schema/open-database.ts";
import { agentRunChecker } from "./agent/principal.ts";
import { telegramLinkChecker } from "./agent/telegram-links.ts";
import { AuditWriter } from "./audit/writer.ts";
import { sweepExpiredHolds } from "./billing/holds.ts";
import { Meter } from "./billing/meter.ts";
import { loadPriceConfig, loadWorkerPrices } from "./billing/prices.ts";
import { type Config, loadConfig } from "./config.ts";
import { Authenticator } from "./identity/authenticate.ts";
import { sweepOAuth } from "./identity/oauth.ts";
import { sweepLinkTokens } from "./identity/one-time.ts";
import { type InstancesRuntime, startInstances } from "./instances/runtime.ts";
import { IdempotencyStore } from "./kernel/idempotency.ts";
import type { AuthenticatedPrincipal, Credential, DB, Operation } from "./kernel/operation.ts";
import { RateLimiter, SharedRateLimiter } from "./kernel/rate-limit.ts";
import { allOperations, OperationRegistry } from "./kernel/registry.ts";
import { Mailer } from "./mail.ts";
import { Notifier } from "./notify.ts";
import { maintainPartitions } from "./partitions.ts";
import { SecretBox } from "./secrets.ts";
import { sweepOrphanBlobs } from "./sites/blobs.ts";
import type { ResourceBindings } from "./workers/binding-port.ts";
import { sweepExpiredKv } from "./workers/kv.ts";
import { WorkersMeter } from "./workers/metering.ts";
import { databaseResources } from "./workers/resources.ts";
import { WorkersRuntime } from "./workers/runtime.ts";
import type { WorkersRuntime as ScheduledRuntime } from "./workers/runtime-port.ts";

export type CredentialChecker = (principal: AuthenticatedPrincipal) => Promise<void>;

export interface Platform {
  config: Config;
  db: DB;
  dbKind: DatabaseKind;
  log: Logger;
  secrets: SecretBox;
  notifier: Notifier;
  /** Outgoing email (core/mail.ts); `configured` is false without BOSUN_SMTP_URL. */
  mail: Mailer;
  rateLimiter: RateLimiter;
  /** Security limits (login, codes, pairing, form posts), shared by every process on the database. */
  securityLimiter: SharedRateLimiter;
  audit: AuditWriter;
  idempotency: IdempotencyStore;
  auth: Authenticator;
  /** Holds and settles the cost of metered work (model calls) against AI credit. */
  meter: Meter;
  /** Instances: the pooled SSH client (one connection per instance in this process) and metrics sampling. */
  instances: InstancesRuntime;
  operations: OperationRegistry;
  /**
   * What cron triggers run a worker's `scheduled` handler with (core/workers/runtime-port.ts): this process's
   * `workers`, or a test's stand-in; null records a due run as failed.
   */
  workersRuntime: ScheduledRuntime | null;
  /** Customers' workers on workerd (core/workers/runtime.ts); started on first use. */
  workers: WorkersRuntime;
  /** Workers' requests and CPU charged to owners' wallets in batches; stops an account that cannot pay. */
  workersMeter: WorkersMeter;
  /** One checker per credential kind, run by the invoker on every call; later kinds register theirs here. */
  credentialCheckers: Map<Credential["kind"], CredentialChecker>;
  close(): Promise<void>;
}

export interface PlatformOptions {
  config?: Partial<Config>;
  /** Overrides config.databaseUrl; `memory://` for a throwaway embedded database. */
  databaseUrl?: string;
  log?: Logger;
  /** Told of each migration as it is applied. */
  onMigration?: (name: string, index: number, total: number) => void;
  /** Operations served besides the built-in ones (tests use it to exercise plumbing no built-in one reaches). */
  operations?: Operation[];
  /** KV stores and buckets for worker bindings (core/workers/binding-port.ts). */
  workerResources?: ResourceBindings;
}

export async function createPlatform(options: PlatformOptions = {}): Promise<Platform> {
  const config = loadConfig(process.env, options.config);
  const url = options.databaseUrl ?? config.databaseUrl;
  const log = options.log ?? pino({ level: config.logLevel, redact: ["*.password", "*.token", "*.authorization"] });
  const opened = await openDatabase({ url, dataDir: config.dataDir });
  try {
    await migrateToLatest(opened.db, options.onMigration);
    // The log tables' months ahead exist before anything writes (and expired months go) at start, then hourly.
    const retention = { auditDays: config.auditRetentionDays, runEventDays: config.runEventRetentionDays };
    await maintainPartitions(opened.db, retention);
    const secrets = SecretBox.fromConfig(config.masterKey, config.dataDir);
    const notifier = await Notifier.start(opened.kind, opened.pool);
    // What the longer-lived services are built from; each is complete before the platform object exists.
    const base = { config, db: opened.db, log, secrets, notifier };
    const auth = new Authenticator(base);
    const instances = startInstances(base);
    const workersMeter = new WorkersMeter(opened.db, loadWorkerPrices(), log, config.workersBillingFlushMs);
    const credentialCheckers = new Map<Credential["kind"], CredentialChecker>([
      ["token", (p) => auth.recheckToken(p.credential.id)],
      ["session", (p) => auth.recheckSession(p.credential.id)],
    ]);
    const platform: Platform = {
      ...base,
      dbKind: opened.kind,
      mail: new Mailer(config.mail, log),
      rateLimiter: new RateLimiter(),
      securityLimiter: new SharedRateLimiter(opened.db),
      audit: new AuditWriter(opened.db, log),
      idempotency: new IdempotencyStore(opened.db, secrets),
      auth,
      meter: new Meter(opened.db, loadPriceConfig()),
      instances,
      operations: options.operations?.length
        ? new OperationRegistry([...allOperations, ...options.operations])
        : OperationRegistry.default(),
      credentialCheckers,
      workers: new WorkersRuntime({
        db: opened.db,
        log,
        secrets,
        dataDir: config.dataDir,
        allowPrivateEgress: config.egressAllowPrivate,
        requestTimeoutMs: config.workersRequestTimeoutMs,
        memoryMb: config.workersMemoryMb,
        processMemoryMb: config.workersProcessMemoryMb,
        subrequests: config.workersSubrequests,
        logRetention: config.workersLogRetention,
        maxBodyBytes: config.workersMaxBodyBytes,
        resources: options.workerResources ?? databaseResources(opened.db),
        mayServe: (account) => workersMeter.mayServe(account),
        notifier,
      }),
      workersMeter,
      workersRuntime: null,
      close: async () => {
        clearInterval(sweeper);
        clearInterval(holdSweeper);
        clearInterval(limitSweeper);
        await platform.workers.close();
        await workersMeter.close();
        await platform.audit.flush();
        await platform.instances.close();
        await notifier.close();
        platform.mail.close();
        await opened.close();
      },
    };
    // These two check through other credential kinds' checkers, so they need the finished platform.
    credentialCheckers.set("agent_run", agentRunChecker(platform));
    credentialCheckers.set("telegram_link", telegramLinkChecker(platform));
    // Hourly: expired idempotency records, site blobs nothing refers to any more, the log tables' partitions
    // (months ahead made, months past retention dropped), expired KV entries (already invisible to reads).
    const sweeper = setInterval(() => {
      platform.idempotency.sweep().catch((err) => log.warn({ err }, "idempotency sweep failed"));
      sweepOrphanBlobs(opened.db).catch((err) => log.warn({ err }, "site blob sweep failed"));
      sweepLinkTokens(opened.db).catch((err) => log.warn({ err }, "one-time link sweep failed"));
      sweepOAuth(opened.db).catch((err) => log.warn({ err }, "OAuth sweep failed"));
      maintainPartitions(opened.db, retention).catch((err) => log.warn({ err }, "partition upkeep failed"));
      sweepExpiredKv(opened.db).catch((err) => log.warn({ err }, "KV expiry sweep failed"));
    }, 3600_000);
    sweeper.unref();
    // Holds a crash left behind go back to the balance; every process sweeps, the row lock keeps it exact.
    const holdSweeper = setInterval(() => {
      sweepExpiredHolds(opened.db).catch((err) => log.warn({ err }, "hold sweep failed"));
    }, 30_000);
    holdSweeper.unref();
    const limitSweeper = setInterval(() => {
      platform.securityLimiter.prune().catch((err) => log.warn({ err }, "rate-limit sweep failed"));
    }, 60_000);
    limitSweeper.unref();
    platform.workersRuntime = platform.workers;
    return platform;
  } catch (err) {
    await opened.close();
    throw err;
  }
}
