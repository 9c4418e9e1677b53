// A worker's environment beside its bundle: plain vars (readable) and secrets (sealed with the master key,
// write-only: listed by name, never returned, logged or audited; set again to rotate). A change reaches the
// running worker at once, through the same atomic switch as a deploy.
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { notFound } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { findWorker, specOf, WorkerName } from "./workers.ts";

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "letters, digits and _, not starting with a digit")
  .meta({ description: "The name the worker reads it by (env.NAME)" });

/** Runs `commit` and, when the worker is deployed, switches it to a generation with the changed environment. */
async function applyEnv(
  ctx: ProjectContext,
  worker: string,
  change: (env: { vars: Record<string, string>; secrets: Record<string, string> }) => void,
  commit: () => Promise<unknown>,
): Promise<void> {
  const w = await findWorker(ctx, worker);
  const spec = w.active_version_id ? await specOf(ctx, w) : null;
  if (!spec) {
    await commit();
    return;
  }
  const next = { ...spec, vars: { ...spec.vars }, secrets: { ...spec.secrets } };
  change(next);
  await ctx.platform.workers.apply(next, commit);
}

const VarsOut = z.object({ vars: z.record(z.string(), z.string()) });

export const setWorkerVar = defineOperation({
  id: "set_worker_var",
  summary: "Set a plain (readable) environment variable of a worker",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "put", path: "/projects/{project}/workers/{worker}/vars/{name}" },
  input: z.object({ project: ProjectRef, worker: WorkerName, name: EnvName, value: z.string().max(5000) }),
  output: VarsOut,
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    await applyEnv(
      ctx,
      input.worker,
      (env) => {
        env.vars[input.name] = input.value;
      },
      () =>
        ctx.db
          .insertInto("worker_vars")
          .values({ worker_id: w.id, name: input.name, value: input.value, updated_at: new Date() })
          .onConflict((oc) =>
            oc.columns(["worker_id", "name"]).doUpdateSet({ value: input.value, updated_at: new Date() }),
          )
          .execute(),
    );
    return varsOf(ctx, w.id);
  },
});

export const deleteWorkerVar = defineOperation({
  id: "delete_worker_var",
  summary: "Remove an environment variable of a worker",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "delete", path: "/projects/{project}/workers/{worker}/vars/{name}" },
  input: z.object({ project: ProjectRef, worker: WorkerName, name: EnvName }),
  output: VarsOut,
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const row = await ctx.db
      .selectFrom("worker_vars")
      .select("name")
      .where("worker_id", "=", w.id)
      .where("name", "=", input.name)
      .executeTakeFirst();
    if (!row) throw notFound("var", input.name);
    await applyEnv(
      ctx,
      input.worker,
      (env) => {
        delete env.vars[input.name];
      },
      () => ctx.db.deleteFrom("worker_vars").where("worker_id", "=", w.id).where("name", "=", input.name).execute(),
    );
    return varsOf(ctx, w.id);
  },
});

async function varsOf(ctx: ProjectContext, workerId: string) {
  const rows = await ctx.db
    .selectFrom("worker_vars")
    .select(["name", "value"])
    .where("worker_id", "=", workerId)
    .orderBy("name")
    .execute();
  return { vars: Object.fromEntries(rows.map((r) => [r.name, r.value])) };
}

const SecretList = z.object({
  items: z.array(z.object({ name: z.string(), updated_at: Timestamp })),
});

async function secretNames(ctx: ProjectContext, workerId: string) {
  const rows = await ctx.db
    .selectFrom("worker_secrets")
    .select(["name", "updated_at"])
    .where("worker_id", "=", workerId)
    .orderBy("name")
    .execute();
  return { items: rows.map((r) => ({ name: r.name, updated_at: iso(r.updated_at) })) };
}

export const setWorkerSecret = defineOperation({
  id: "set_worker_secret",
  summary: "Set or rotate a worker secret (write-only: never shown again)",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "put", path: "/projects/{project}/workers/{worker}/secrets/{name}" },
  input: z.object({ project: ProjectRef, worker: WorkerName, name: EnvName, value: z.string().min(1).max(5000) }),
  output: SecretList,
  // The value never reaches the audit trail (the redactor would catch `secret`-like keys, not `value`).
  auditInput: (i) => ({ project: i.project, worker: i.worker, name: i.name }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const sealed = ctx.platform.secrets.encrypt(input.value);
    await applyEnv(
      ctx,
      input.worker,
      (env) => {
        env.secrets[input.name] = input.value;
      },
      () =>
        ctx.db
          .insertInto("worker_secrets")
          .values({ worker_id: w.id, name: input.name, value_enc: sealed, updated_at: new Date() })
          .onConflict((oc) =>
            oc.columns(["worker_id", "name"]).doUpdateSet({ value_enc: sealed, updated_at: new Date() }),
          )
          .execute(),
    );
    return secretNames(ctx, w.id);
  },
});

export const deleteWorkerSecret = defineOperation({
  id: "delete_worker_secret",
  summary: "Remove a worker secret",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "delete", path: "/projects/{project}/workers/{worker}/secrets/{name}" },
  input: z.object({ project: ProjectRef, worker: WorkerName, name: EnvName }),
  output: SecretList,
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const row = await ctx.db
      .selectFrom("worker_secrets")
      .select("name")
      .where("worker_id", "=", w.id)
      .where("name", "=", input.name)
      .executeTakeFirst();
    if (!row) throw notFound("secret", input.name);
    await applyEnv(
      ctx,
      input.worker,
      (env) => {
        delete env.secrets[input.name];
      },
      () => ctx.db.deleteFrom("worker_secrets").where("worker_id", "=", w.id).where("name", "=", input.name).execute(),
    );
    return secretNames(ctx, w.id);
  },
});

export const listWorkerSecrets = defineOperation({
  id: "list_worker_secrets",
  summary: "List the names of a worker's secrets (values are never shown)",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/workers/{worker}/secrets" },
  input: z.object({ project: ProjectRef, worker: WorkerName }),
  output: SecretList,
  handler: async (ctx, input) => secretNames(ctx, (await findWorker(ctx, input.worker)).id),
});

export const workerEnvOperations = [
  setWorkerVar,
  deleteWorkerVar,
  setWorkerSecret,
  deleteWorkerSecret,
  listWorkerSecrets,
];
