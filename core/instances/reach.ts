// The lookup of an instance a caller named, with the project-kind and pin checks every instance operation
// needs, and the SSH target (operator or observer login) a call reaches it as. Kept apart from runtime.ts,
// which starts the pool and the metrics sampler, so operations that import this do not import the runtime.
import type { Selectable } from "kysely";
import type { InstancesTable } from "../../schema/database.ts";
import { BosunError, notFound } from "../kernel/errors.ts";
import type { ProjectContext } from "../kernel/operation.ts";
import type { Platform } from "../platform.ts";
import type { SshPool, SshTarget } from "./pool.ts";

export type InstanceRow = Selectable<InstancesTable>;

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
export function requireInstanceProject(ctx: ProjectContext) {
  const project = ctx.project;
  if (project.kind !== "instance") {
    throw new BosunError(
      "unprocessable",
      `project '${project.slug}' is a ${project.kind} project; instances belong to projects of kind 'instance'`,
      { field: "project" },
    );
  }
}

/** The named instance of the call's project, or not_found (also when a pinned principal names another). */
export async function loadInstance(ctx: ProjectContext, name: string): Promise<InstanceRow> {
  requireInstanceProject(ctx);
  const pin = ctx.principal.pins.instance;
  const row = await ctx.db
    .selectFrom("instances")
    .selectAll()
    .where("project_id", "=", ctx.project.id)
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
export async function reach(
  ctx: ProjectContext,
  name: string,
): Promise<{ row: InstanceRow; target: SshTarget; pool: SshPool }> {
  const row = await loadInstance(ctx, name);
  return { row, target: targetFor(ctx, row), pool: ctx.platform.instances.pool };
}

/** The login this call reaches the instance as (see reach()). */
export function targetFor(ctx: ProjectContext, row: InstanceRow): SshTarget {
  const observer = ctx.principal.serverLogin === "observer" ? observerTargetOf(ctx.platform, row) : null;
  return observer ?? targetOf(ctx.platform, row);
}
