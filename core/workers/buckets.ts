// Buckets: a project's object stores, with R2's semantics (head/get/put/delete/list, a delimiter folding keys into
// `delimitedPrefixes`, range reads). Bodies are content-addressed in the sites blob store (site_blobs, by SHA-256):
// the same bytes are stored once whoever holds them, and an object's etag is that hash. Object keys are at most
// 1024 bytes and bodies at most 25 MiB (Bosun's limit: bodies live in Postgres). `bucketBinding` is the
// plain-function API the workers runtime wraps into `env.MY_BUCKET`.
import crypto from "node:crypto";
import { Readable } from "node:stream";
import type { Kysely } from "kysely";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, isUniqueViolation, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor } from "../kernel/pagination.ts";
import type { Platform } from "../platform.ts";
import { getBlob, putBlob } from "../sites/blobs.ts";
import { decodeContent } from "../sites/files.ts";
import { goneIfDeleted, ResourceName, resolveBindingResource } from "./kv.ts";

export const OBJECT_MAX_KEY_BYTES = 1024;
export const OBJECT_MAX_BYTES = 25 * 1024 * 1024;
export const OBJECT_MAX_LIST = 1000;
const MAX_METADATA_BYTES = 8 * 1024;

type Db = Kysely<Database>;

const BucketName = ResourceName.meta({ description: "The bucket's name" });
const ObjectKey = z
  .string()
  .min(1)
  .refine((k) => Buffer.byteLength(k) <= OBJECT_MAX_KEY_BYTES, `at most ${OBJECT_MAX_KEY_BYTES} bytes`)
  .meta({ description: "The object's key, e.g. `images/a.png`" });
const StringMap = z.record(z.string(), z.string());

const Bucket = z.object({ id: z.string(), name: z.string(), created_at: Timestamp }).meta({ id: "Bucket" });
const BucketObject = z
  .object({
    key: z.string(),
    size: z.number().int(),
    etag: z.string().meta({ description: "SHA-256 of the body (hex)" }),
    version: z.string(),
    uploaded: Timestamp,
    content_type: z.string().nullable(),
    http_metadata: StringMap,
    custom_metadata: StringMap,
  })
  .meta({ id: "BucketObject" });

/**
 * R2's HTTP metadata fields (what a GET of the object answers with). A type, not an interface: the runtime's
 * binding port (binding-port.ts) takes it as a plain record of strings.
 */
export type HttpMetadata = {
  contentType?: string;
  contentLanguage?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  cacheControl?: string;
};
const HTTP_METADATA_FIELDS = [
  "contentType",
  "contentLanguage",
  "contentDisposition",
  "contentEncoding",
  "cacheControl",
];

/** An object's metadata, R2's `R2Object` as plain data. */
export interface ObjectMeta {
  key: string;
  version: string;
  size: number;
  etag: string;
  httpEtag: string;
  uploaded: Date;
  httpMetadata: HttpMetadata;
  customMetadata: Record<string, string>;
}

export interface ObjectBody extends ObjectMeta {
  body: Buffer;
  /** Set for a range read: the bytes of the object `body` holds. */
  range?: { offset: number; length: number };
}

/** R2's range: `{offset, length}` (either may be omitted) or `{suffix}` (the last n bytes). */
export type ObjectRange = { offset?: number; length?: number } | { suffix: number };

type ObjectRow = {
  key: string;
  sha256: string;
  size: string;
  version: string;
  http_metadata: unknown;
  custom_metadata: unknown;
  uploaded_at: Date;
};

const metaOf = (r: ObjectRow): ObjectMeta => ({
  key: r.key,
  version: r.version,
  size: Number(r.size),
  etag: r.sha256,
  httpEtag: `"${r.sha256}"`,
  uploaded: new Date(r.uploaded_at),
  httpMetadata: (r.http_metadata ?? {}) as HttpMetadata,
  customMetadata: (r.custom_metadata ?? {}) as Record<string, string>,
});

const objectColumns = ["key", "sha256", "size", "version", "http_metadata", "custom_metadata", "uploaded_at"] as const;

// ---- the core functions --------------------------------------------------------------------------------------

function checkKey(key: string, field = "key") {
  const r = ObjectKey.safeParse(key);
  if (!r.success) throw validationError([{ path: field, message: r.error.issues[0]?.message ?? "invalid key" }]);
}

function checkStringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const r = StringMap.safeParse(value);
  if (!r.success || Buffer.byteLength(JSON.stringify(r.data)) > MAX_METADATA_BYTES)
    throw validationError([
      { path: field, message: `must map strings to strings, at most ${MAX_METADATA_BYTES} bytes` },
    ]);
  return r.data;
}

export async function objectHead(db: Db, bucketId: string, key: string): Promise<ObjectMeta | null> {
  const row = await db
    .selectFrom("worker_bucket_objects")
    .select(objectColumns)
    .where("bucket_id", "=", bucketId)
    .where("key", "=", key)
    .executeTakeFirst();
  return row ? metaOf(row) : null;
}

/** The byte span a range names in an object of `size` bytes; a range past the end is refused, as R2 does (416). */
function span(range: ObjectRange, size: number): { offset: number; length: number } {
  const bad = (message: string) => validationError([{ path: "range", message }]);
  if ("suffix" in range) {
    if (!Number.isInteger(range.suffix) || range.suffix < 0) throw bad("suffix must be a whole number ≥ 0");
    const length = Math.min(range.suffix, size);
    return { offset: size - length, length };
  }
  const offset = range.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw bad("offset must be a whole number ≥ 0");
  if (offset > size || (offset === size && size > 0)) throw bad(`offset ${offset} is past the end (${size} bytes)`);
  const rest = size - offset;
  const length = range.length === undefined ? rest : range.length;
  if (!Number.isInteger(length) || length < 0) throw bad("length must be a whole number ≥ 0");
  return { offset, length: Math.min(length, rest) };
}

export async function objectGet(
  db: Db,
  bucketId: string,
  key: string,
  opts: { range?: ObjectRange } = {},
): Promise<ObjectBody | null> {
  const row = await db
    .selectFrom("worker_bucket_objects")
    .select(objectColumns)
    .where("bucket_id", "=", bucketId)
    .where("key", "=", key)
    .executeTakeFirst();
  if (!row) return null;
  const data = await getBlob(db, row.sha256);
  if (!opts.range) return { ...metaOf(row), body: data };
  const s = span(opts.range, data.length);
  return { ...metaOf(row), body: data.subarray(s.offset, s.offset + s.length), range: s };
}

export async function objectPut(
  db: Db,
  bucketId: string,
  key: string,
  bytes: Uint8Array | string,
  opts: { httpMetadata?: HttpMetadata; customMetadata?: Record<string, string> } = {},
): Promise<ObjectMeta> {
  checkKey(key);
  const data = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes);
  if (data.length > OBJECT_MAX_BYTES)
    throw new BosunError("payload_too_large", `an object is at most ${OBJECT_MAX_BYTES} bytes`, {
      limit: OBJECT_MAX_BYTES,
    });
  const httpMetadata = Object.fromEntries(
    Object.entries(checkStringMap(opts.httpMetadata, "http_metadata")).filter(([k]) =>
      HTTP_METADATA_FIELDS.includes(k),
    ),
  );
  const customMetadata = checkStringMap(opts.customMetadata, "custom_metadata");
  const { sha256 } = await putBlob(db, data, key);
  const values = {
    sha256,
    size: data.length,
    version: crypto.randomUUID(),
    http_metadata: JSON.stringify(httpMetadata),
    custom_metadata: JSON.stringify(customMetadata),
    uploaded_at: new Date(),
  };
  const row = await db
    .insertInto("worker_bucket_objects")
    .values({ bucket_id: bucketId, key, ...values })
    .onConflict((oc) => oc.columns(["bucket_id", "key"]).doUpdateSet(values))
    .returning(objectColumns)
    .executeTakeFirstOrThrow()
    .catch(goneIfDeleted("bucket", bucketId));
  return metaOf(row);
}

export async function objectDelete(db: Db, bucketId: string, keys: string | string[]): Promise<number> {
  const list = typeof keys === "string" ? [keys] : keys;
  if (!list.length) return 0;
  if (list.length > 1000) throw validationError([{ path: "keys", message: "at most 1000 keys at once" }]);
  const res = await db
    .deleteFrom("worker_bucket_objects")
    .where("bucket_id", "=", bucketId)
    .where("key", "in", list)
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

/**
 * The smallest string greater than every string that starts with `s` (in code point order, which is how the "C"
 * collation orders UTF-8): its last code point, incremented. Null when there is none.
 */
export function successor(s: string): string | null {
  const points = [...s];
  while (points.length) {
    const last = points.pop() as string;
    let cp = (last.codePointAt(0) ?? 0) + 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000;
    if (cp <= 0x10ffff) return points.join("") + String.fromCodePoint(cp);
  }
  return null;
}

/** Where a listing resumes: after a key, or (past a folded prefix) at the first key after that prefix. */
type Position = { after: string } | { from: string };
const encodePosition = (p: Position) => Buffer.from(JSON.stringify(p), "utf8").toString("base64url");
function decodePosition(cursor: string): Position {
  const invalid = () => validationError([{ path: "cursor", message: "invalid cursor" }]);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  try {
    const p = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (typeof p?.after === "string") return { after: p.after };
    if (typeof p?.from === "string") return { from: p.from };
  } catch {
    /* below */
  }
  throw invalid();
}

export interface ObjectListing {
  objects: ObjectMeta[];
  delimitedPrefixes: string[];
  /** Null on the last page. */
  cursor: string | null;
}

/**
 * Objects in key order from after `cursor`, starting with `prefix`. With a `delimiter`, keys holding it after the
 * prefix fold into one entry of `delimitedPrefixes` (up to and including the delimiter), which counts towards
 * `limit` as in R2. Each folded prefix is skipped with one indexed query, never by reading the keys under it.
 */
export async function objectList(
  db: Db,
  bucketId: string,
  opts: { prefix?: string; delimiter?: string; cursor?: string; limit?: number },
): Promise<ObjectListing> {
  const limit = opts.limit ?? OBJECT_MAX_LIST;
  if (!Number.isInteger(limit) || limit < 1 || limit > OBJECT_MAX_LIST)
    throw validationError([{ path: "limit", message: `must be 1-${OBJECT_MAX_LIST}` }]);
  const prefix = opts.prefix ?? "";
  const delimiter = opts.delimiter || null;
  const end = prefix ? successor(prefix) : null;
  let pos: Position = opts.cursor ? decodePosition(opts.cursor) : { from: prefix };
  type Item = { object: ObjectMeta; position: Position } | { prefix: string; position: Position };
  const items: Item[] = [];
  // Bounded: each round adds at least one item or ends the listing.
  scan: while (items.length <= limit) {
    const wanted = limit + 1 - items.length;
    let q = db
      .selectFrom("worker_bucket_objects")
      .select(objectColumns)
      .where("bucket_id", "=", bucketId)
      .orderBy("key")
      .limit(wanted);
    q = "after" in pos ? q.where("key", ">", pos.after) : q.where("key", ">=", pos.from);
    if (prefix) q = q.where("key", ">=", prefix);
    if (end !== null) q = q.where("key", "<", end);
    const rows = await q.execute();
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) break scan;
      const at = delimiter ? row.key.indexOf(delimiter, prefix.length) : -1;
      if (at >= 0) {
        const folded = row.key.slice(0, at + (delimiter?.length ?? 0));
        const next = successor(folded);
        items.push({ prefix: folded, position: next === null ? { after: row.key } : { from: next } });
        if (next === null) break scan;
        pos = { from: next };
        continue scan;
      }
      pos = { after: row.key };
      items.push({ object: metaOf(row), position: pos });
      if (items.length > limit) break scan;
    }
    if (rows.length < wanted) break; // the keys ran out
  }
  const page = items.slice(0, limit);
  const last = page.at(-1);
  return {
    objects: page.flatMap((i) => ("object" in i ? [i.object] : [])),
    delimitedPrefixes: page.flatMap((i) => ("prefix" in i ? [i.prefix] : [])),
    cursor: items.length > limit && last ? encodePosition(last.position) : null,
  };
}

// ---- binding ---------------------------------------------------------------------------------------------------

/**
 * R2's API over one bucket, as plain functions: what the runtime's `env.MY_BUCKET` calls. `get` answers the body as
 * bytes (and `range` for a range read); `list` answers R2's shape (`truncated`, `cursor`, `delimitedPrefixes`).
 */
export function bucketBinding(platform: Pick<Platform, "db">, bucket: { projectId: string; bucketId: string }) {
  const { db } = platform;
  const { bucketId } = bucket;
  return {
    head: (key: string) => objectHead(db, bucketId, key),
    get: (key: string, opts: { range?: ObjectRange } = {}) => objectGet(db, bucketId, key, opts),
    put: (
      key: string,
      bytes: Uint8Array | string,
      opts: { httpMetadata?: HttpMetadata; customMetadata?: Record<string, string> } = {},
    ) => objectPut(db, bucketId, key, bytes, opts),
    delete: async (keys: string | string[]): Promise<void> => {
      await objectDelete(db, bucketId, keys);
    },
    async list(opts: { prefix?: string; delimiter?: string; cursor?: string; limit?: number } = {}) {
      const res = await objectList(db, bucketId, opts);
      return {
        objects: res.objects,
        delimitedPrefixes: res.delimitedPrefixes,
        truncated: res.cursor !== null,
        ...(res.cursor === null ? {} : { cursor: res.cursor }),
      };
    },
  };
}

// ---- operations ----------------------------------------------------------------------------------------------

const bucketOf = (ctx: ProjectContext, name: string) => resolveBindingResource(ctx.db, ctx.project.id, "bucket", name);

const objectView = (m: ObjectMeta): z.input<typeof BucketObject> => ({
  key: m.key,
  size: m.size,
  etag: m.etag,
  version: m.version,
  uploaded: iso(m.uploaded),
  content_type: m.httpMetadata.contentType ?? null,
  http_metadata: { ...m.httpMetadata },
  custom_metadata: m.customMetadata,
});

/** Reads a raw upload, stopping at the limit rather than buffering whatever is sent. */
async function readBounded(source: AsyncIterable<Uint8Array | string>, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk);
    total += b.length;
    if (total > max) throw new BosunError("payload_too_large", `an object is at most ${max} bytes`, { limit: max });
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

export const createBucket = defineOperation({
  id: "create_bucket",
  summary: "Create a bucket",
  description: "An object store in the project, which workers bind to (R2's API).",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  errors: ["conflict"],
  http: { method: "post", path: "/projects/{project}/buckets", status: 201 },
  input: z.object({ project: ProjectRef, name: BucketName }),
  output: Bucket,
  handler: async (ctx, input) => {
    try {
      const row = await ctx.db
        .insertInto("worker_buckets")
        .values({ id: crypto.randomUUID(), project_id: ctx.project.id, name: input.name })
        .returning(["id", "name", "created_at"])
        .executeTakeFirstOrThrow();
      return { ...row, created_at: iso(row.created_at) };
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict(`a bucket named '${input.name}' already exists in this project`);
      throw err;
    }
  },
});

export const listBuckets = defineOperation({
  id: "list_buckets",
  summary: "List the project's buckets",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/buckets" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ buckets: z.array(Bucket) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("worker_buckets")
      .select(["id", "name", "created_at"])
      .where("project_id", "=", ctx.project.id)
      .orderBy("name")
      .execute();
    return { buckets: rows.map((r) => ({ ...r, created_at: iso(r.created_at) })) };
  },
});

export const deleteBucket = defineOperation({
  id: "delete_bucket",
  summary: "Delete a bucket",
  description: "Refused (409) while it holds objects, unless `force`: then its objects go with it.",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  errors: ["conflict"],
  http: { method: "delete", path: "/projects/{project}/buckets/{bucket}" },
  input: z.object({ project: ProjectRef, bucket: BucketName, force: z.boolean().default(false) }),
  output: z.object({ deleted: z.literal(true), objects_deleted: z.number().int() }),
  handler: async (ctx, input) => {
    const id = await bucketOf(ctx, input.bucket);
    return ctx.tx(async (trx) => {
      // Locked, so an object written meanwhile either lands first (and is counted) or finds the bucket gone.
      await trx.selectFrom("worker_buckets").select("id").where("id", "=", id).forUpdate().execute();
      const { n } = await trx
        .selectFrom("worker_bucket_objects")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("bucket_id", "=", id)
        .executeTakeFirstOrThrow();
      const count = Number(n);
      if (count > 0 && !input.force)
        throw conflict(`bucket '${input.bucket}' holds ${count} object(s); delete them or pass force`, {
          objects: count,
        });
      await trx.deleteFrom("worker_buckets").where("id", "=", id).execute();
      return { deleted: true as const, objects_deleted: count };
    });
  },
});

export const listBucketObjects = defineOperation({
  id: "list_bucket_objects",
  summary: "List objects in a bucket",
  description:
    "In key order. With `delimiter` (e.g. `/`), keys holding it after `prefix` fold into `delimited_prefixes`, like " +
    "folders. Page with `cursor`.",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/buckets/{bucket}/objects" },
  input: z.object({
    project: ProjectRef,
    bucket: BucketName,
    prefix: z.string().max(OBJECT_MAX_KEY_BYTES).optional(),
    delimiter: z.string().min(1).max(16).optional(),
    limit: z.number().int().min(1).max(OBJECT_MAX_LIST).default(OBJECT_MAX_LIST),
    cursor: Cursor,
  }),
  output: z.object({
    objects: z.array(BucketObject),
    delimited_prefixes: z.array(z.string()),
    next_cursor: z.string().nullable(),
  }),
  handler: async (ctx, input) => {
    const id = await bucketOf(ctx, input.bucket);
    const res = await objectList(ctx.db, id, input);
    return {
      objects: res.objects.map(objectView),
      delimited_prefixes: res.delimitedPrefixes,
      next_cursor: res.cursor,
    };
  },
});

export const putBucketObject = defineOperation({
  id: "put_bucket_object",
  summary: "Upload an object to a bucket",
  description:
    `Overwrites. REST takes the bytes as the raw body (Content-Type application/octet-stream; other fields in the ` +
    `query string); MCP and JSON as content_base64. At most ${OBJECT_MAX_BYTES} bytes.`,
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  errors: ["payload_too_large"],
  http: {
    method: "put",
    path: "/projects/{project}/buckets/{bucket}/object",
    rawBody: { field: "content_base64", types: ["application/octet-stream"] },
  },
  input: z.object({
    project: ProjectRef,
    bucket: BucketName,
    key: ObjectKey,
    content_base64: z.string().optional().meta({ description: "The bytes, base64 (when not the raw request body)" }),
    content_type: z.string().max(200).optional().meta({ description: "Stored as the object's Content-Type" }),
    custom_metadata: StringMap.optional(),
  }),
  output: BucketObject,
  auditInput: ({ content_base64, ...rest }) => ({
    ...rest,
    ...(content_base64 === undefined ? {} : { content_base64: `(${content_base64.length} characters)` }),
  }),
  handler: async (ctx, input) => {
    const id = await bucketOf(ctx, input.bucket);
    let data: Buffer;
    if (ctx.body) data = await readBounded(ctx.body as AsyncIterable<Uint8Array | string>, OBJECT_MAX_BYTES);
    else if (input.content_base64 !== undefined)
      data = await readBounded(
        Readable.from([decodeContent(input.content_base64, "base64", "content_base64")]),
        OBJECT_MAX_BYTES,
      );
    else
      throw validationError([
        { path: "content_base64", message: "is required unless the bytes are the body (application/octet-stream)" },
      ]);
    const meta = await objectPut(ctx.db, id, input.key, data, {
      httpMetadata: input.content_type ? { contentType: input.content_type } : {},
      customMetadata: input.custom_metadata,
    });
    return objectView(meta);
  },
});

export const getBucketObject = defineOperation({
  id: "get_bucket_object",
  summary: "Download an object from a bucket",
  description:
    "REST answers the bytes with the object's Content-Type; MCP gets `content_base64` and the metadata. " +
    "`offset`/`length` (or `suffix`) read a range.",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: {
    method: "get",
    path: "/projects/{project}/buckets/{bucket}/object",
    produces: { field: "content_base64", type: "application/octet-stream", base64: true, typeField: "content_type" },
  },
  input: z.object({
    project: ProjectRef,
    bucket: BucketName,
    key: ObjectKey,
    offset: z.number().int().min(0).optional(),
    length: z.number().int().min(0).optional(),
    suffix: z.number().int().min(0).optional().meta({ description: "Read the last n bytes" }),
  }),
  output: BucketObject.extend({
    content_base64: z.string(),
    range: z.object({ offset: z.number().int(), length: z.number().int() }).nullable(),
  }),
  handler: async (ctx, input) => {
    const id = await bucketOf(ctx, input.bucket);
    if (input.suffix !== undefined && (input.offset !== undefined || input.length !== undefined))
      throw validationError([{ path: "suffix", message: "not with offset or length" }]);
    const range: ObjectRange | undefined =
      input.suffix !== undefined
        ? { suffix: input.suffix }
        : input.offset !== undefined || input.length !== undefined
          ? { offset: input.offset, length: input.length }
          : undefined;
    const obj = await objectGet(ctx.db, id, input.key, range ? { range } : {});
    if (!obj) throw notFound("object", input.key);
    return { ...objectView(obj), content_base64: obj.body.toString("base64"), range: obj.range ?? null };
  },
});

export const deleteBucketObject = defineOperation({
  id: "delete_bucket_object",
  summary: "Delete an object from a bucket",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/buckets/{bucket}/object" },
  input: z.object({ project: ProjectRef, bucket: BucketName, key: ObjectKey }),
  output: z.object({ deleted: z.boolean().meta({ description: "false: there was no such object" }) }),
  handler: async (ctx, input) => {
    const id = await bucketOf(ctx, input.bucket);
    return { deleted: (await objectDelete(ctx.db, id, input.key)) > 0 };
  },
});

export const bucketOperations = [
  createBucket,
  listBuckets,
  deleteBucket,
  listBucketObjects,
  putBucketObject,
  getBucketObject,
  deleteBucketObject,
];
