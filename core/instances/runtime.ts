// What instance operations share at run time: the platform's SSH pool (pinning host keys and recording
// connection outcomes in the database, never inside a transaction) and the metrics sampler. Looking up the
// instance a call names is reach.ts.
import { publishEvent } from "../events/publish.ts";
import type { Platform } from "../platform.ts";
import { sampleDueInstances } from "./metrics.ts";
import { SshPool } from "./pool.ts";
import { targetOf } from "./reach.ts";

export interface InstancesRuntime {
  pool: SshPool;
  /** One metrics sampler pass now (the timer runs them every metricsIntervalSeconds); resolves to how many were sampled. */
  sampleMetrics(): Promise<number>;
  close(): Promise<void>;
}

export function startInstances(platform: Pick<Platform, "config" | "db" | "log" | "secrets">): InstancesRuntime {
  const { config, db, log } = platform;
  const pool = new SshPool({
    policy: { allowPrivate: config.egressAllowPrivate },
    connectTimeoutMs: config.sshConnectTimeoutSeconds * 1000,
    idleMs: config.sshIdleSeconds * 1000,
    pin: async (target, fingerprint) => {
      // Only an unpinned instance takes the fingerprint; if another process pinned first, its pin wins.
      const row = await db
        .updateTable("instances")
        .set({ host_key_fingerprint: fingerprint, host_key_pinned_at: new Date() })
        .where("id", "=", target.id)
        .where("host_key_fingerprint", "is", null)
        .returning("host_key_fingerprint")
        .executeTakeFirst();
      if (row) return fingerprint;
      const current = await db
        .selectFrom("instances")
        .select("host_key_fingerprint")
        .where("id", "=", target.id)
        .executeTakeFirst();
      return current?.host_key_fingerprint ?? fingerprint;
    },
    onOutcome: async (target, error) => {
      // The observer's failures are worth showing the owner; its successes say nothing of the operator login.
      if (target.login === "observer" && !error) return;
      const who = target.login === "observer" ? `observer login '${target.username}': ` : "";
      const set = error
        ? { last_error: `${who}${error.code}: ${error.message}`.slice(0, 500) }
        : { last_connected_at: new Date(), last_error: null };
      await db
        .transaction()
        .execute(async (trx) => {
          const before = await trx
            .selectFrom("instances")
            .innerJoin("projects", "projects.id", "instances.project_id")
            .select([
              "instances.last_error",
              "instances.name",
              "instances.host_key_fingerprint",
              "projects.id",
              "projects.slug",
              "projects.owner_account_id",
            ])
            .where("instances.id", "=", target.id)
            .forUpdate()
            .executeTakeFirst();
          await trx.updateTable("instances").set(set).where("id", "=", target.id).execute();
          // Told once per change of state (the first failure of its kind), not on every failing call.
          const type =
            error?.code === "unreachable"
              ? "instance.unreachable"
              : error?.code === "host_key_mismatch"
                ? "instance.host_key_changed"
                : null;
          if (!before || !type || !error || before.last_error?.includes(`${error.code}:`)) return;
          await publishEvent(trx, {
            type,
            account: before.owner_account_id,
            project: { id: before.id, slug: before.slug },
            data:
              type === "instance.unreachable"
                ? { instance: before.name, error: error.message.slice(0, 300) }
                : { instance: before.name, pinned_fingerprint: before.host_key_fingerprint },
          });
        })
        .catch((err) => log.debug({ err }, "could not record an instance's connection outcome"));
    },
  });
  const interval = config.metricsIntervalSeconds;
  let running: Promise<number> | null = null;
  const sampleMetrics = () =>
    (running ??= sampleDueInstances({
      db,
      pool,
      target: (row) => targetOf(platform, row),
      intervalSeconds: Math.max(interval, 1),
      log,
    }).finally(() => (running = null)));
  const timer =
    interval > 0
      ? setInterval(
          () => void sampleMetrics().catch((err) => log.warn({ err }, "metrics sampler failed")),
          interval * 1000,
        )
      : null;
  timer?.unref();
  return {
    pool,
    sampleMetrics,
    close: async () => {
      if (timer) clearInterval(timer);
      await running?.catch(() => {});
      await pool.close();
    },
  };
}
