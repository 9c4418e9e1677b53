// KV stores: a project's key-value namespaces, with Cloudflare KV's semantics (keys ≤ 512 bytes, values ≤ 25 MiB,
// metadata ≤ 1024 bytes of JSON, expiration as an absolute time or a TTL of at least 60 s). Values are bytes; REST
// and MCP carry them as UTF-8 text or base64 (`encoding`). An entry is invisible from the moment it expires (every
// read compares its expiry with the clock); the sweep deletes expired rows later, in batches, from any process.
// `kvBinding` is the plain-function API the workers runtime wraps into `env.MY_KV`.
import crypto from "node:crypto";
import { type Kysely, sql } from "kysely";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { conflict, isUniqueViolation, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor, pageOf } from "../kernel/pagination.ts";
import type { Platform } from "../platform.ts";
import { decodeContent } from "../sites/files.ts";
import { isText } from "../sites/paths.ts";

export const KV_MAX_KEY_BYTES = 512;
export const KV_MAX_VALUE_BYTES = 25 * 1024 * 1024;
export const KV_MAX_METADATA_BYTES = 1024;
export const KV_MIN_TTL_SECONDS = 60;
export const KV_MAX_LIST = 1000;

type Db = Kysely<Database>;

/** A store or bucket name: what a worker's binding names and what REST paths carry. */
export const ResourceName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/, "lowercase letters, digits, - and _; no leading or trailing - or _")
  .meta({ description: "Name, unique in the project", example: "cache" });

const StoreName = ResourceName.meta({ description: "The KV store's name" });
const Key = z
  .string()
  .min(1)
  .refine((k) => Buffer.byteLength(k) <= KV_MAX_KEY_BYTES, `at most ${KV_MAX_KEY_BYTES} bytes`)
  .refine((k) => k !== "." && k !== "..", "'.' and '..' are not keys")
  .meta({ description: `The key (1-${KV_MAX_KEY_BYTES} bytes of UTF-8)` });
const Encoding = z.enum(["utf8", "base64"]);

const KvStore = z.object({ id: z.string(), name: z.string(), created_at: Timestamp }).meta({ id: "KvStore" });
const KvKey = z
  .object({
    name: z.string(),
    expiration: z.number().int().nullable().meta({ description: "Seconds since the epoch when it expires" }),
    metadata: z.unknown().nullable(),
  })
  .meta({ id: "KvKey" });

// ---- the core functions (operations and the binding share them) ------------------------------------------------

export interface KvPutOptions {
  /** Seconds from now; at least 60. */
  expirationTtl?: number;
  /** Seconds since the epoch; at least 60 s from now. */
  expiration?: number;
  /** Any JSON, at most 1024 bytes serialized. */
  metadata?: unknown;
}

export interface KvEntry {
  value: Buffer;
  metadata: unknown;
  expiration: number | null;
}

/** Refuses what Cloudflare refuses, naming the field; answers the expiry time (null: never). */
function checkPut(key: string, value: Uint8Array, opts: KvPutOptions, now: Date): Date | null {
  const issues: { path: string; message: string }[] = [];
  const keyCheck = Key.safeParse(key);
  if (!keyCheck.success) issues.push({ path: "key", message: keyCheck.error.issues[0]?.message ?? "invalid key" });
  if (value.byteLength > KV_MAX_VALUE_BYTES)
    issues.push({ path: "value", message: `is over ${KV_MAX_VALUE_BYTES} bytes` });
  if (opts.metadata !== undefined && opts.metadata !== null) {
    const json = JSON.stringify(opts.metadata);
    if (json === undefined || Buffer.byteLength(json) > KV_MAX_METADATA_BYTES)
      issues.push({ path: "metadata", message: `must be JSON of at most ${KV_MAX_METADATA_BYTES} bytes` });
  }
  let expires: Date | null = null;
  if (opts.expirationTtl !== undefined) {
    if (!Number.isInteger(opts.expirationTtl) || opts.expirationTtl < KV_MIN_TTL_SECONDS)
      issues.push({
        path: "expiration_ttl",
        message: `must be a whole number of seconds, at least ${KV_MIN_TTL_SECONDS}`,
      });
    // Whole seconds, as Cloudflare keeps expirations: what a read answers is exactly when it expires.
    else expires = new Date(Math.floor(now.getTime() / 1000 + opts.expirationTtl) * 1000);
  }
  if (opts.expiration !== undefined) {
    if (!Number.isInteger(opts.expiration) || opts.expiration * 1000 < now.getTime() + KV_MIN_TTL_SECONDS * 1000)
      issues.push({
        path: "expiration",
        message: `must be seconds since the epoch, at least ${KV_MIN_TTL_SECONDS} s ahead`,
      });
    else if (!expires) expires = new Date(opts.expiration * 1000);
  }
  if (issues.length) throw validationError(issues);
  return expires;
}

const live = (now: Date) => sql<boolean>`(expires_at is null or expires_at > ${now})`;
const epochSeconds = (d: Date | null) => (d ? Math.floor(new Date(d).getTime() / 1000) : null);

export async function kvGet(db: Db, storeId: string, key: string, now = new Date()): Promise<KvEntry | null> {
  const row = await db
    .selectFrom("worker_kv_entries")
    .select(["value", "metadata", "expires_at"])
    .where("store_id", "=", storeId)
    .where("key", "=", key)
    .where(live(now))
    .executeTakeFirst();
  if (!row) return null;
  return { value: Buffer.from(row.value), metadata: row.metadata ?? null, expiration: epochSeconds(row.expires_at) };
}

export async function kvPut(
  db: Db,
  storeId: string,
  key: string,
  value: Uint8Array | string,
  opts: KvPutOptions = {},
  now = new Date(),
): Promise<void> {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  const expires = checkPut(key, bytes, opts, now);
  const metadata = opts.metadata === undefined || opts.metadata === null ? null : JSON.stringify(opts.metadata);
  await db
    .insertInto("worker_kv_entries")
    .values({ store_id: storeId, key, value: bytes, metadata, expires_at: expires, updated_at: now })
    .onConflict((oc) =>
      oc.columns(["store_id", "key"]).doUpdateSet({ value: bytes, metadata, expires_at: expires, updated_at: now }),
    )
    .execute()
    .catch(goneIfDeleted("kv_store", storeId));
}

/** A write into a store or bucket deleted meanwhile meets its foreign key: that is a 404, not a 500. */
export const goneIfDeleted = (what: string, id: string) => (err: unknown) => {
  if (typeof err === "object" && err !== null && "code" in err && String(err.code) === "23503")
    throw notFound(what, id);
  throw err;
};

export async function kvDelete(db: Db, storeId: string, key: string): Promise<boolean> {
  const res = await db
    .deleteFrom("worker_kv_entries")
    .where("store_id", "=", storeId)
    .where("key", "=", key)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** The opaque cursor of a key list: the last key, base64url (keys may hold any character). */
const keyCursor = (key: string) => Buffer.from(key, "utf8").toString("base64url");
function afterKey(cursor: string | undefined): string | null {
  if (!cursor) return null;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw validationError([{ path: "cursor", message: "invalid cursor" }]);
  return Buffer.from(cursor, "base64url").toString("utf8");
}

export interface KvListResult {
  keys: { name: string; expiration: number | null; metadata: unknown }[];
  /** Null on the last page. */
  cursor: string | null;
}

/** Live keys in byte order, from after `cursor`, starting with `prefix`. */
export async function kvList(
  db: Db,
  storeId: string,
  opts: { prefix?: string; limit?: number; cursor?: string },
  now = new Date(),
): Promise<KvListResult> {
  const limit = opts.limit ?? KV_MAX_LIST;
  if (!Number.isInteger(limit) || limit < 1 || limit > KV_MAX_LIST)
    throw validationError([{ path: "limit", message: `must be 1-${KV_MAX_LIST}` }]);
  const after = afterKey(opts.cursor);
  let q = db
    .selectFrom("worker_kv_entries")
    .select(["key", "metadata", "expires_at"])
    .where("store_id", "=", storeId)
    .where(live(now))
    .orderBy("key")
    .limit(limit + 1);
  // The range lets the primary key's index find the start; starts_with ends it.
  if (opts.prefix) q = q.where("key", ">=", opts.prefix).where(sql<boolean>`starts_with(key, ${opts.prefix})`);
  if (after !== null) q = q.where("key", ">", after);
  const { page, next_cursor } = pageOf(await q.execute(), limit, (last) => keyCursor(last.key));
  return {
    keys: page.map((r) => ({ name: r.key, expiration: epochSeconds(r.expires_at), metadata: r.metadata ?? null })),
    cursor: next_cursor,
  };
}

/**
 * Deletes expired entries, oldest first, in batches (each its own statement, SKIP LOCKED so processes share the
 * work); answers how many. Reads already hide them: this only gives the space back.
 */
export async function sweepExpiredKv(db: Db, now = new Date(), batch = 5000, maxBatches = 100): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const res = await sql`
      delete from worker_kv_entries where ctid in (
        select ctid from worker_kv_entries
        where expires_at is not null and expires_at <= ${now}
        order by expires_at limit ${batch} for update skip locked)`.execute(db);
    const n = Number(res.numAffectedRows ?? 0);
    total += n;
    if (n < batch) break;
  }
  return total;
}

// ---- binding ---------------------------------------------------------------------------------------------------

export type KvValueType = "text" | "json" | "arrayBuffer" | "bytes";

function decodeAs(value: Buffer, type: KvValueType): unknown {
  switch (type) {
    case "text":
      return value.toString("utf8");
    case "json":
      return JSON.parse(value.toString("utf8"));
    case "arrayBuffer":
      return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
    case "bytes":
      return new Uint8Array(value);
  }
}

/**
 * Cloudflare KV's API over one store, as plain functions: what the runtime's `env.MY_KV` calls. `list` answers
 * Cloudflare's shape (`list_complete`, `cursor`). Errors are BosunErrors (validation_error naming the field).
 */
export function kvBinding(platform: Pick<Platform, "db">, store: { projectId: string; storeId: string }) {
  const { db } = platform;
  const { storeId } = store;
  return {
    async get(key: string, type: KvValueType = "text"): Promise<unknown> {
      const entry = await kvGet(db, storeId, key);
      return entry ? decodeAs(entry.value, type) : null;
    },
    async getWithMetadata(key: string, type: KvValueType = "text"): Promise<{ value: unknown; metadata: unknown }> {
      const entry = await kvGet(db, storeId, key);
      return entry ? { value: decodeAs(entry.value, type), metadata: entry.metadata } : { value: null, metadata: null };
    },
    async put(key: string, value: Uint8Array | string, opts: KvPutOptions = {}): Promise<void> {
      await kvPut(db, storeId, key, value, opts);
    },
    async delete(key: string): Promise<void> {
      await kvDelete(db, storeId, key);
    },
    async list(opts: { prefix?: string; limit?: number; cursor?: string } = {}) {
      const res = await kvList(db, storeId, opts);
      return {
        keys: res.keys.map((k) => ({
          name: k.name,
          ...(k.expiration === null ? {} : { expiration: k.expiration }),
          ...(k.metadata === null ? {} : { metadata: k.metadata }),
        })),
        list_complete: res.cursor === null,
        ...(res.cursor === null ? {} : { cursor: res.cursor }),
      };
    },
  };
}

/** The id of a project's KV store or bucket by name, for binding a worker to it; not_found otherwise. */
export async function resolveBindingResource(
  db: Db,
  projectId: string,
  kind: "kv" | "bucket",
  name: string,
): Promise<string> {
  const table = kind === "kv" ? "worker_kv_stores" : "worker_buckets";
  const row = await db
    .selectFrom(table)
    .select("id")
    .where("project_id", "=", projectId)
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row) throw notFound(kind === "kv" ? "kv_store" : "bucket", name);
  return row.id;
}

// ---- operations ----------------------------------------------------------------------------------------------

async function storeOf(ctx: ProjectContext, name: string): Promise<string> {
  return resolveBindingResource(ctx.db, ctx.project.id, "kv", name);
}

export const createKvStore = defineOperation({
  id: "create_kv_store",
  summary: "Create a KV store",
  description: "A key-value namespace in the project, which workers bind to (Cloudflare KV's API).",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  errors: ["conflict"],
  http: { method: "post", path: "/projects/{project}/kv", status: 201 },
  input: z.object({ project: ProjectRef, name: StoreName }),
  output: KvStore,
  handler: async (ctx, input) => {
    const id = crypto.randomUUID();
    try {
      const row = await ctx.db
        .insertInto("worker_kv_stores")
        .values({ id, project_id: ctx.project.id, name: input.name })
        .returning(["id", "name", "created_at"])
        .executeTakeFirstOrThrow();
      return { ...row, created_at: iso(row.created_at) };
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a KV store named '${input.name}' already exists in this project`);
      throw err;
    }
  },
});

export const listKvStores = defineOperation({
  id: "list_kv_stores",
  summary: "List the project's KV stores",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/kv" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ stores: z.array(KvStore) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("worker_kv_stores")
      .select(["id", "name", "created_at"])
      .where("project_id", "=", ctx.project.id)
      .orderBy("name")
      .execute();
    return { stores: rows.map((r) => ({ ...r, created_at: iso(r.created_at) })) };
  },
});

export const deleteKvStore = defineOperation({
  id: "delete_kv_store",
  summary: "Delete a KV store and all its entries",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/kv/{store}" },
  input: z.object({ project: ProjectRef, store: StoreName }),
  output: z.object({ deleted: z.literal(true) }),
  handler: async (ctx, input) => {
    const id = await storeOf(ctx, input.store);
    await ctx.db.deleteFrom("worker_kv_stores").where("id", "=", id).execute();
    return { deleted: true as const };
  },
});

export const listKvKeys = defineOperation({
  id: "list_kv_keys",
  summary: "List keys of a KV store",
  description: "In byte order; expired keys are not listed. Page with `cursor` (the previous page's next_cursor).",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/kv/{store}/keys" },
  input: z.object({
    project: ProjectRef,
    store: StoreName,
    prefix: z.string().max(KV_MAX_KEY_BYTES).optional(),
    limit: z.number().int().min(1).max(KV_MAX_LIST).default(KV_MAX_LIST),
    cursor: Cursor,
  }),
  output: z.object({ keys: z.array(KvKey), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const id = await storeOf(ctx, input.store);
    const res = await kvList(ctx.db, id, input);
    return { keys: res.keys, next_cursor: res.cursor };
  },
});

export const getKvValue = defineOperation({
  id: "get_kv_value",
  summary: "Read a KV value",
  description: "`encoding` utf8 when the value is valid UTF-8 text (unless you ask for base64), else base64.",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/kv/{store}/value" },
  input: z.object({ project: ProjectRef, store: StoreName, key: Key, encoding: Encoding.optional() }),
  output: z.object({
    key: z.string(),
    value: z.string(),
    encoding: Encoding,
    metadata: z.unknown().nullable(),
    expiration: z.number().int().nullable(),
    expires_at: Timestamp.nullable(),
  }),
  handler: async (ctx, input) => {
    const id = await storeOf(ctx, input.store);
    const entry = await kvGet(ctx.db, id, input.key);
    if (!entry) throw notFound("key", input.key);
    const encoding = input.encoding ?? (isText(entry.value) ? "utf8" : "base64");
    return {
      key: input.key,
      value: entry.value.toString(encoding),
      encoding,
      metadata: entry.metadata,
      expiration: entry.expiration,
      expires_at: isoOrNull(entry.expiration === null ? null : new Date(entry.expiration * 1000)),
    };
  },
});

export const putKvValue = defineOperation({
  id: "put_kv_value",
  summary: "Write a KV value",
  description:
    `Overwrites. \`value\` is UTF-8 text, or base64 with \`encoding: base64\`. Expiry: \`expiration_ttl\` seconds ` +
    `(≥ ${KV_MIN_TTL_SECONDS}) or \`expiration\` (epoch seconds); \`metadata\`: JSON ≤ ${KV_MAX_METADATA_BYTES} bytes.`,
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "put", path: "/projects/{project}/kv/{store}/value" },
  input: z.object({
    project: ProjectRef,
    store: StoreName,
    key: Key,
    value: z.string(),
    encoding: Encoding.default("utf8"),
    expiration_ttl: z.number().int().optional(),
    expiration: z.number().int().optional(),
    metadata: z.unknown().optional(),
  }),
  output: z.object({ key: z.string(), bytes: z.number().int(), expires_at: Timestamp.nullable() }),
  auditInput: ({ value, ...rest }) => ({ ...rest, value: `(${value.length} characters)` }),
  handler: async (ctx, input) => {
    const id = await storeOf(ctx, input.store);
    const bytes = decodeContent(input.value, input.encoding, "value");
    const now = new Date();
    await kvPut(
      ctx.db,
      id,
      input.key,
      bytes,
      { expirationTtl: input.expiration_ttl, expiration: input.expiration, metadata: input.metadata },
      now,
    );
    const entry = await kvGet(ctx.db, id, input.key, now);
    const exp = entry?.expiration ?? null;
    return { key: input.key, bytes: bytes.length, expires_at: exp === null ? null : iso(new Date(exp * 1000)) };
  },
});

export const deleteKvValue = defineOperation({
  id: "delete_kv_value",
  summary: "Delete a KV value",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/kv/{store}/value" },
  input: z.object({ project: ProjectRef, store: StoreName, key: Key }),
  output: z.object({ deleted: z.boolean().meta({ description: "false: there was no such key" }) }),
  handler: async (ctx, input) => {
    const id = await storeOf(ctx, input.store);
    return { deleted: await kvDelete(ctx.db, id, input.key) };
  },
});

export const kvOperations = [
  createKvStore,
  listKvStores,
  deleteKvStore,
  listKvKeys,
  getKvValue,
  putKvValue,
  deleteKvValue,
];
