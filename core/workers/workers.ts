// Workers: customers' code on workerd. A worker is a name in a project; a deploy makes an immutable,
// content-addressed version of a bundle of ES modules and switches the worker to it atomically (the runtime
// starts the next generation with it and commits only when workerd accepts the code); rollback switches back.
import crypto from "node:crypto";
import { z } from "zod";
import { iso, ProjectRef, Slug, Timestamp } from "../kernel/common.ts";
import { conflict, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import type { Bundle, WorkerSpec } from "./runtime.ts";

export const MAX_BUNDLE_BYTES = 10 * 1024 * 1024;

export const WorkerName = Slug.meta({ description: "The worker's name, unique in the project", example: "api" });

const VersionRef = z.object({ id: z.string(), hash: z.string() });

const Worker = z
  .object({
    id: z.string(),
    name: z.string(),
    project: z.string(),
    url: z.string().meta({ description: "Where the worker answers" }),
    active_version: VersionRef.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Worker" });

const WorkerVersion = z
  .object({
    id: z.string(),
    hash: z.string().meta({ description: "SHA-256 of the bundle: the same bundle is the same version" }),
    size_bytes: z.number().int(),
    main_module: z.string(),
    compatibility_date: z.string(),
    module_names: z.array(z.string()),
    bindings: z.array(z.object({ name: z.string(), type: z.string(), resource: z.string() })),
    active: z.boolean(),
    created_at: Timestamp,
  })
  .meta({ id: "WorkerVersion" });

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "letters, digits and _, not starting with a digit")
  .meta({ description: "A binding name, e.g. API_KEY" });

export const BundleInput = z.object({
  modules: z
    .array(
      z.object({
        name: z
          .string()
          .min(1)
          .max(200)
          .regex(/^[A-Za-z0-9_.\-/]+$/, "letters, digits, . _ - /"),
        content: z.string().max(MAX_BUNDLE_BYTES),
      }),
    )
    .min(1)
    .max(200)
    .meta({ description: "ES modules (`.js`/`.mjs`), `.json` and `.txt` modules" }),
  main_module: z.string().min(1).max(200).meta({ description: "The module exporting the handlers" }),
  compatibility_date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .default("2025-01-01"),
  compatibility_flags: z
    .array(z.string().regex(/^[a-z0-9_]{1,64}$/))
    .max(20)
    .default([]),
  vars: z.record(EnvName, z.string().max(5000)).default({}),
  bindings: z
    .array(
      z.object({
        name: EnvName,
        type: z
          .enum(["kv", "bucket", "sql"])
          .meta({ description: "kv store, bucket (R2 API) or sql database (D1 API)" }),
        resource: z.string().min(1).max(100).meta({ description: "The resource's name in the project" }),
      }),
    )
    .max(50)
    .default([]),
  routes: z.array(z.string().max(200)).max(20).default([]),
  // Optional, so a bundle without it keeps its hash (its version).
  limits: z
    .object({
      subrequests: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .optional()
        .meta({ description: "Fetches and binding calls per invocation (the platform's limit caps it)" }),
      body_bytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().meta({
        description: "Most bytes a request body may have (413 past it); lowers, never raises, the server's limit",
      }),
    })
    .optional()
    .meta({ description: "Limits lower than the platform's for this worker" }),
});

type WorkerRow = {
  id: string;
  name: string;
  project_id: string;
  active_version_id: string | null;
  created_at: Date;
  updated_at: Date;
};

export function workerUrl(ctx: ProjectContext, name: string): string {
  const c = ctx.platform.config;
  return `http://${name}.${ctx.project.slug}.${c.workersDomain}:${c.sitesPort}`;
}

async function toWorker(ctx: ProjectContext, w: WorkerRow) {
  const v = w.active_version_id
    ? await ctx.db
        .selectFrom("worker_versions")
        .select(["id", "hash"])
        .where("id", "=", w.active_version_id)
        .executeTakeFirst()
    : undefined;
  return {
    id: w.id,
    name: w.name,
    project: ctx.project.slug,
    url: workerUrl(ctx, w.name),
    active_version: v ? { id: v.id, hash: v.hash } : null,
    created_at: iso(w.created_at),
    updated_at: iso(w.updated_at),
  };
}

export async function findWorker(ctx: ProjectContext, name: string): Promise<WorkerRow> {
  const w = await ctx.db
    .selectFrom("workers")
    .selectAll()
    .where("project_id", "=", ctx.project.id)
    .where("name", "=", name)
    .executeTakeFirst();
  if (!w) throw notFound("worker", name);
  return w;
}

/** The worker as the runtime would run it now, with `bundle` (its active one unless given). */
export async function specOf(ctx: ProjectContext, w: WorkerRow, bundle?: Bundle): Promise<WorkerSpec | null> {
  const runtime = ctx.platform.workers;
  const current = (await runtime.loadSpecs()).find((s) => s.workerId === w.id);
  if (current) return bundle ? { ...current, bundle } : current;
  if (!bundle) return null;
  return {
    workerId: w.id,
    name: w.name,
    projectId: ctx.project.id,
    projectSlug: ctx.project.slug,
    ownerAccountId: ctx.project.owner_account_id,
    bundle,
    vars: {},
    secrets: {},
  };
}

function checkBundle(b: z.output<typeof BundleInput>): void {
  const names = new Set<string>();
  for (const m of b.modules) {
    if (names.has(m.name)) throw validationError([{ path: "modules", message: `module ${m.name} appears twice` }]);
    names.add(m.name);
  }
  if (!names.has(b.main_module))
    throw validationError([{ path: "main_module", message: "must be the name of one of the modules" }]);
  const bindingNames = new Set(Object.keys(b.vars));
  for (const x of b.bindings) {
    if (bindingNames.has(x.name)) throw validationError([{ path: "bindings", message: `${x.name} is bound twice` }]);
    bindingNames.add(x.name);
  }
}

/** Canonical JSON: keys sorted, so the same bundle always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

const workerInput = z.object({ project: ProjectRef, worker: WorkerName });

export const createWorker = defineOperation({
  id: "create_worker",
  summary: "Create a worker (deploy code to it with deploy_worker)",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/workers", status: 201 },
  input: z.object({ project: ProjectRef, name: WorkerName }),
  output: Worker,
  handler: async (ctx, input) => {
    const existing = await ctx.db
      .selectFrom("workers")
      .select("id")
      .where("project_id", "=", ctx.project.id)
      .where("name", "=", input.name)
      .executeTakeFirst();
    if (existing) throw conflict(`a worker named ${input.name} already exists`);
    const row = await ctx.db
      .insertInto("workers")
      .values({ id: crypto.randomUUID(), project_id: ctx.project.id, name: input.name, updated_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toWorker(ctx, row);
  },
});

export const listWorkers = defineOperation({
  id: "list_workers",
  summary: "List a project's workers",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/workers" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ items: z.array(Worker) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("workers")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .orderBy("name")
      .execute();
    return { items: await Promise.all(rows.map((r) => toWorker(ctx, r))) };
  },
});

export const getWorker = defineOperation({
  id: "get_worker",
  summary: "Get a worker and its active version",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/workers/{worker}" },
  input: workerInput,
  output: Worker,
  handler: async (ctx, input) => toWorker(ctx, await findWorker(ctx, input.worker)),
});

export const deleteWorker = defineOperation({
  id: "delete_worker",
  summary: "Delete a worker, its versions, vars, secrets and logs",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/workers/{worker}" },
  input: workerInput,
  output: z.object({ deleted: z.boolean() }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const commit = async () => {
      // Its usage is charged first: its invocation rows are deleted with it.
      await ctx.platform.workers.flush();
      await ctx.platform.workersMeter.chargeWorker(w.id);
      await ctx.db.deleteFrom("workers").where("id", "=", w.id).execute();
    };
    if (w.active_version_id) await ctx.platform.workers.apply({ workerId: w.id, remove: true }, commit);
    else await commit();
    return { deleted: true };
  },
});

export const deployWorker = defineOperation({
  id: "deploy_worker",
  summary: "Deploy a bundle of ES modules as the worker's new version (atomic; creates the worker if needed)",
  description:
    "Same bundle, same version (content-addressed). The switch is atomic: the new code serves only once the runtime accepted it; in-flight requests finish on the old one.",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/workers/{worker}/deployments", status: 201 },
  input: workerInput.extend(BundleInput.shape),
  output: z.object({ worker: Worker, version: WorkerVersion, created: z.boolean(), deploy_ms: z.number() }),
  auditInput: (i) => ({
    project: i.project,
    worker: i.worker,
    main_module: i.main_module,
    modules: i.modules.map((m) => m.name),
    bindings: i.bindings,
  }),
  handler: async (ctx, input) => {
    const started = performance.now();
    const { project: _p, worker: name, ...rest } = input;
    const bundle: Bundle = rest;
    checkBundle(bundle);
    const text = canonical(bundle);
    const size = Buffer.byteLength(text);
    if (size > MAX_BUNDLE_BYTES)
      throw validationError([{ path: "modules", message: `the bundle is over ${MAX_BUNDLE_BYTES} bytes` }]);
    const hash = crypto.hash("sha256", text, "hex");
    ctx.progress({ progress: 1, total: 3, message: "validated the bundle" });
    let w = await ctx.db
      .selectFrom("workers")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .where("name", "=", name)
      .executeTakeFirst();
    w ??= await ctx.db
      .insertInto("workers")
      .values({ id: crypto.randomUUID(), project_id: ctx.project.id, name, updated_at: new Date() })
      .onConflict((oc) => oc.columns(["project_id", "name"]).doUpdateSet({ updated_at: new Date() }))
      .returningAll()
      .executeTakeFirstOrThrow();
    const worker = w;
    const spec = await specOf(ctx, worker, bundle);
    if (!spec) throw notFound("worker", name);
    ctx.progress({ progress: 2, total: 3, message: "starting the new version" });
    const { version, created } = await ctx.platform.workers.apply(spec, () =>
      ctx.tx(async (trx) => {
        const inserted = await trx
          .insertInto("worker_versions")
          .values({ id: crypto.randomUUID(), worker_id: worker.id, hash, bundle: text, size_bytes: size })
          .onConflict((oc) => oc.columns(["worker_id", "hash"]).doNothing())
          .returningAll()
          .executeTakeFirst();
        const v =
          inserted ??
          (await trx
            .selectFrom("worker_versions")
            .selectAll()
            .where("worker_id", "=", worker.id)
            .where("hash", "=", hash)
            .executeTakeFirstOrThrow());
        await trx
          .updateTable("workers")
          .set({ active_version_id: v.id, updated_at: new Date() })
          .where("id", "=", worker.id)
          .execute();
        return { version: v, created: !!inserted };
      }),
    );
    const fresh = await findWorker(ctx, name);
    return {
      worker: await toWorker(ctx, fresh),
      version: toVersion(version, version.id),
      created,
      deploy_ms: Math.round(performance.now() - started),
    };
  },
});

function toVersion(
  v: { id: string; hash: string; size_bytes: number; bundle: unknown; created_at: Date },
  activeId: string | null,
): z.infer<typeof WorkerVersion> {
  const b = v.bundle as Bundle;
  return {
    id: v.id,
    hash: v.hash,
    size_bytes: v.size_bytes,
    main_module: b.main_module,
    compatibility_date: b.compatibility_date,
    module_names: b.modules.map((m) => m.name),
    bindings: b.bindings,
    active: v.id === activeId,
    created_at: iso(v.created_at),
  };
}

export const listWorkerVersions = defineOperation({
  id: "list_worker_versions",
  summary: "List a worker's versions, newest first",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/workers/{worker}/versions" },
  input: workerInput,
  output: z.object({ items: z.array(WorkerVersion) }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const rows = await ctx.db
      .selectFrom("worker_versions")
      .selectAll()
      .where("worker_id", "=", w.id)
      .orderBy("created_at", "desc")
      .orderBy("id")
      .limit(200)
      .execute();
    return { items: rows.map((r) => toVersion(r, w.active_version_id)) };
  },
});

export const rollbackWorker = defineOperation({
  id: "rollback_worker",
  summary: "Switch a worker back to an earlier version (default: the one before the active one)",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/workers/{worker}/rollback" },
  input: workerInput.extend({
    version: z.string().max(100).optional().meta({ description: "A version id or hash" }),
  }),
  output: z.object({ worker: Worker, version: WorkerVersion }),
  handler: async (ctx, input) => {
    const w = await findWorker(ctx, input.worker);
    const versions = await ctx.db
      .selectFrom("worker_versions")
      .selectAll()
      .where("worker_id", "=", w.id)
      .orderBy("created_at", "desc")
      .orderBy("id")
      .execute();
    const active = versions.find((v) => v.id === w.active_version_id);
    const target = input.version
      ? versions.find((v) => v.id === input.version || v.hash === input.version)
      : versions.find((v) => v.id !== w.active_version_id && (!active || v.created_at <= active.created_at));
    if (!target) throw notFound("worker version", input.version ?? "previous");
    const spec = await specOf(ctx, w, target.bundle as Bundle);
    if (!spec) throw notFound("worker", input.worker);
    await ctx.platform.workers.apply(spec, () =>
      ctx.db
        .updateTable("workers")
        .set({ active_version_id: target.id, updated_at: new Date() })
        .where("id", "=", w.id)
        .execute(),
    );
    return { worker: await toWorker(ctx, await findWorker(ctx, input.worker)), version: toVersion(target, target.id) };
  },
});

export const workerCoreOperations = [
  createWorker,
  listWorkers,
  getWorker,
  deleteWorker,
  deployWorker,
  listWorkerVersions,
  rollbackWorker,
];
