// Content-addressed file bodies: SHA-256 → bytes, shared by every draft and release that holds the same
// content, so publishing, discarding and rolling back move hashes, never bodies. Blobs are immutable, which
// is what makes the small in-process cache below safe on any number of processes.
import crypto from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { Database } from "../../schema/database.ts";
import { imageSize } from "./images.ts";
import { isImage } from "./paths.ts";

export const sha256Hex = (data: Buffer) => crypto.createHash("sha256").update(data).digest("hex");

/** Stores the bytes (once: an existing blob is left alone) and answers their hash. */
export async function putBlob(
  db: Kysely<Database>,
  data: Buffer,
  path: string,
): Promise<{ sha256: string; bytes: number }> {
  const sha256 = sha256Hex(data);
  const size = isImage(path) ? imageSize(data) : null;
  await db
    .insertInto("site_blobs")
    .values({ sha256, data, bytes: data.length, width: size?.width ?? null, height: size?.height ?? null })
    // An existing blob is touched, not rewritten: the orphan sweep's grace period then covers its new user.
    .onConflict((oc) => oc.column("sha256").doUpdateSet({ created_at: sql`now()` } as never))
    .execute();
  return { sha256, bytes: data.length };
}

export async function getBlob(db: Kysely<Database>, sha256: string): Promise<Buffer> {
  const row = await db.selectFrom("site_blobs").select("data").where("sha256", "=", sha256).executeTakeFirstOrThrow();
  return Buffer.from(row.data);
}

/**
 * Deletes blobs no draft, release, proposal or bucket object (core/workers/buckets.ts) refers to any more (a
 * deleted project's, or a file overwritten before it was ever published), created more than `graceMinutes` ago so a write in flight keeps its blob.
 * Safe to run from any process at any time; answers how many were deleted.
 */
export async function sweepOrphanBlobs(db: Kysely<Database>, graceMinutes = 60): Promise<number> {
  const res = await sql`
    delete from site_blobs b
    where b.created_at < now() - make_interval(mins => ${graceMinutes})
      and not exists (select 1 from site_draft_files f where f.sha256 = b.sha256)
      and not exists (select 1 from site_release_files r where r.sha256 = b.sha256)
      and not exists (select 1 from worker_bucket_objects o where o.sha256 = b.sha256)
      and not exists (select 1 from site_proposal_files p where p.sha256 = b.sha256)`.execute(db);
  return Number(res.numAffectedRows ?? 0);
}

/** A bounded LRU of blob bodies by hash, for the serving listener (bodies never change under a hash). */
export class BlobCache {
  private entries = new Map<string, Buffer>();
  private size = 0;

  constructor(
    private readonly maxBytes = 64 * 1024 * 1024,
    private readonly maxEntryBytes = 1024 * 1024,
  ) {}

  async get(db: Kysely<Database>, sha256: string): Promise<Buffer> {
    const hit = this.entries.get(sha256);
    if (hit) {
      this.entries.delete(sha256);
      this.entries.set(sha256, hit);
      return hit;
    }
    const data = await getBlob(db, sha256);
    if (data.length <= this.maxEntryBytes) {
      this.entries.set(sha256, data);
      this.size += data.length;
      for (const [key, value] of this.entries) {
        if (this.size <= this.maxBytes) break;
        this.entries.delete(key);
        this.size -= value.length;
      }
    }
    return data;
  }
}
