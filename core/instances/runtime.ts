// What instance operations share at run time: the platform's SSH pool (pinning host keys and recording
// connection outcomes in the database, never inside a transaction), and the lookup of an instance a caller
// named, with the project-kind and pin checks every instance operation needs.
import type { Selectable } from "kysely";
import type { InstancesTable } from "../../schema/database.ts";
import { BosunError, notFound } from "../kernel/errors.ts";
import type { Context } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import { sampleDueInstances } from "./metrics.ts";
import { SshPool, type SshTarget } from "./pool.ts";

export type InstanceRow = Selectable<InstancesTable>;

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
      const current = await db.selectFrom("instances").select("host_key_fingerprint").where("id", "=", target.id).executeTakeFirst();
      return current?.host_key_fingerprint ?? fingerprint;
    },
    onOutcome: async (target, error) => {
      // The observer's failures are worth showing the owner; its successes say nothing of the operator login.
      if (target.login === "observer" && !error) return;
      const who = target.login === "observer" ? `observer login '${target.username}': ` : "";
      const set = error ? { last_error: `${who}${error.code}: ${error.message}`.slice(0, 500) } : { last_connected_at: new Date(), last_error: null };
      await db
        .updateTable("instances")
        .set(set)
        .where("id", "=", target.id)
        .execute()
        .catch((err) => log.debug({ err }, "could not record an instance's connection outcome"));
    },
  });
  const interval = config.metricsIntervalSeconds;
  let running: Promise<number> | null = null;
  const sampleMetrics = () =>
    (running ??= sampleDueInstances({ db, pool, target: (row) => targetOf(platform, row), intervalSeconds: Math.max(interval, 1), log }).finally(() => (running = null)));
  const timer = interval > 0 ? setInterval(() => void sampleMetrics().catch((err) => log.warn({ err }, "metrics sampler failed")), interval * 1000) : null;
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

/** The connection parameters of an instance, private key decrypted in memory only. */
export function targetOf(platform: Pick<Platform, "secrets">, row: InstanceRow): SshTarget {
  return {
    id: row.id,
    host: row.host,
    port: row.port,
    username: row.username,
    privateKey: platform.secrets.decrypt(row.private_key_enc),
    hostKeyFingerprint: row.host_key_fingerprint,
    version: new Date(row.updated_at).toISOString(),
  };
}

/** The instance's observer login as a target (same host, port and pinned host key), or null when it has none. */
export function observerTargetOf(platform: Pick<Platform, "secrets">, row: InstanceRow): SshTarget | null {
  if (!row.observer_username || !row.observer_private_key_enc) return null;
  return {
    ...targetOf(platform, row),
    username: row.observer_username,
    privateKey: platform.secrets.decrypt(row.observer_private_key_enc),
    login: "observer",
  };
}

/** Instances live in projects of kind 'instance'; any other project is refused before anything else. */
export function requireInstanceProject(ctx: Context) {
  const project = ctx.project!;
  if (project.kind !== "instance") {
    throw new BosunError(
      "unprocessable",
      `project '${project.slug}' is a ${project.kind} project; instances belong to projects of kind 'instance'`,
      { field: "project" },
    );
  }
}

/** The named instance of the call's project, or not_found (also when a pinned principal names another). */
export async function loadInstance(ctx: Context, name: string): Promise<InstanceRow> {
  requireInstanceProject(ctx);
  const pin = ctx.principal.pins.instance;
  const row = await ctx.db
    .selectFrom("instances")
    .selectAll()
    .where("project_id", "=", ctx.project!.id)
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row || (pin && pin !== row.name && pin !== row.id)) throw notFound("instance", name);
  return row;
}

/**
 * The instance and its SSH target, for operations that reach the server. A principal narrowed to the
 * observer login (principal.serverLogin, set by the agent runner for what runs without approval) reaches the
 * server as the instance's observer when it has one; with no observer configured, as the operator, as before.
 */
export async function reach(ctx: Context, name: string): Promise<{ row: InstanceRow; target: SshTarget; pool: SshPool }> {
  const row = await loadInstance(ctx, name);
  return { row, target: targetFor(ctx, row), pool: ctx.platform.instances.pool };
}

/** The login this call reaches the instance as (see reach()). */
export function targetFor(ctx: Context, row: InstanceRow): SshTarget {
  const observer = ctx.principal.serverLogin === "observer" ? observerTargetOf(ctx.platform, row) : null;
  return observer ?? targetOf(ctx.platform, row);
}
