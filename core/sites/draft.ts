// The draft and release manifests: path → blob hash maps. The draft is one row per file; every write also
// marks the path dirty, so publishing looks only at what changed since the newest release. A release's
// manifest is the set of release-file rows valid at its number (from_release <= n < to_release).
import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "../../schema/database.ts";
import { BosunError } from "../kernel/errors.ts";
import { prepared } from "../kernel/prepared.ts";
import { putBlob } from "./blobs.ts";
import { blockedReason, invalidPath } from "./paths.ts";

export const MAX_FILE_BYTES = 10 * 1024 * 1024;

export interface ManifestEntry {
  path: string;
  sha256: string;
  bytes: number;
}

type Db = Kysely<Database>;

export async function draftEntry(db: Db, projectId: string, path: string): Promise<ManifestEntry | undefined> {
  return db
    .selectFrom("site_draft_files")
    .select(["path", "sha256", "bytes"])
    .where("project_id", "=", projectId)
    .where("path", "=", path)
    .executeTakeFirst();
}

/** Escapes LIKE wildcards so a prefix matches literally. */
const likePrefix = (prefix: string) => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The draft's files under `prefix` (all without one), by path: `list_files`, an agent's commonest call. */
export function draftManifest(db: Db, projectId: string, prefix = ""): Promise<ManifestEntry[]> {
  return manifestQuery(db, { projectId, pattern: likePrefix(prefix) });
}

const manifestQuery = prepared<{ projectId: string; pattern: string }, ManifestEntry>(
  (db, $) =>
    db
      .selectFrom("site_draft_files")
      .select(["path", "sha256", "bytes"])
      .where("project_id", "=", $("projectId"))
      .where("path", "like", $("pattern"))
      .orderBy("path"),
  { name: "site_draft_manifest" },
);

/** The draft entries at these paths (those that exist), read in chunks. */
export async function draftEntries(db: Db, projectId: string, paths: string[]): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  for (let i = 0; i < paths.length; i += 1000) {
    out.push(
      ...(await db
        .selectFrom("site_draft_files")
        .select(["path", "sha256", "bytes"])
        .where("project_id", "=", projectId)
        .where("path", "in", paths.slice(i, i + 1000))
        .execute()),
    );
  }
  return out;
}

export async function draftBytes(db: Db, projectId: string): Promise<number> {
  const row = await db
    .selectFrom("site_draft_files")
    .select(sql<string>`coalesce(sum(bytes), 0)`.as("total"))
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  return Number(row.total);
}

/** Rows of release `n`: introduced at or before it, not yet replaced at it. */
const validAt = (n: number) => sql<boolean>`from_release <= ${n} and (to_release is null or to_release > ${n})`;

export async function releaseEntry(
  db: Db,
  projectId: string,
  release: number,
  path: string,
): Promise<ManifestEntry | undefined> {
  return db
    .selectFrom("site_release_files")
    .select(["path", "sha256", "bytes"])
    .where("project_id", "=", projectId)
    .where("path", "=", path)
    .where(validAt(release))
    .executeTakeFirst();
}

export async function releaseManifest(
  db: Db,
  projectId: string,
  release: number | null,
  prefix = "",
): Promise<ManifestEntry[]> {
  if (!release) return [];
  let q = db
    .selectFrom("site_release_files")
    .select(["path", "sha256", "bytes"])
    .where("project_id", "=", projectId)
    .where(validAt(release))
    .orderBy("path");
  if (prefix) q = q.where("path", "like", likePrefix(prefix));
  return q.execute();
}

export interface ManifestDiff {
  added: string[];
  modified: string[];
  deleted: string[];
}

export function diffManifests(from: ManifestEntry[], to: ManifestEntry[]): ManifestDiff {
  const before = new Map(from.map((e) => [e.path, e.sha256]));
  const after = new Map(to.map((e) => [e.path, e.sha256]));
  const diff: ManifestDiff = { added: [], modified: [], deleted: [] };
  for (const [path, sha] of after) {
    const old = before.get(path);
    if (old === undefined) diff.added.push(path);
    else if (old !== sha) diff.modified.push(path);
  }
  for (const path of before.keys()) if (!after.has(path)) diff.deleted.push(path);
  return diff;
}

async function markDirty(trx: Transaction<Database>, projectId: string, path: string) {
  await trx
    .insertInto("site_dirty_paths")
    .values({ project_id: projectId, path })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/**
 * Writes one draft file (bytes stored as a blob), inside the caller's transaction, after the checks that keep
 * a refused write from changing anything: blocked type, file size, and the site quota.
 */
export async function writeDraftFile(
  trx: Transaction<Database>,
  projectId: string,
  path: string,
  data: Buffer,
  quotaBytes: number,
  field = "path",
): Promise<{ created: boolean; sha256: string; bytes: number }> {
  const blocked = blockedReason(path);
  if (blocked) throw invalidPath(blocked, field);
  if (data.length > MAX_FILE_BYTES) {
    throw new BosunError(
      "payload_too_large",
      `a file may be at most ${MAX_FILE_BYTES / 1024 / 1024} MB; this one is ${data.length} bytes`,
      {
        limit: MAX_FILE_BYTES,
      },
    );
  }
  const existing = await draftEntry(trx, projectId, path);
  const total = await trx
    .selectFrom("site_draft_files")
    .select(sql<string>`coalesce(sum(bytes), 0)`.as("total"))
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  const after = Number(total.total) - (existing?.bytes ?? 0) + data.length;
  if (after > quotaBytes) {
    throw new BosunError("payload_too_large", `the site would hold ${after} bytes, over its quota of ${quotaBytes}`, {
      quota: quotaBytes,
    });
  }
  const blob = await putBlob(trx, data, path);
  if (existing?.sha256 !== blob.sha256) {
    await trx
      .insertInto("site_draft_files")
      .values({ project_id: projectId, path, sha256: blob.sha256, bytes: blob.bytes })
      .onConflict((oc) =>
        oc
          .columns(["project_id", "path"])
          .doUpdateSet({ sha256: blob.sha256, bytes: blob.bytes, updated_at: sql`now()` }),
      )
      .execute();
    await markDirty(trx, projectId, path);
  }
  return { created: !existing, ...blob };
}

/** Points a draft path at an existing blob (rename, discard): no body is read or written. */
export async function setDraftEntry(trx: Transaction<Database>, projectId: string, entry: ManifestEntry) {
  await trx
    .insertInto("site_draft_files")
    .values({ project_id: projectId, ...entry })
    .onConflict((oc) =>
      oc
        .columns(["project_id", "path"])
        .doUpdateSet({ sha256: entry.sha256, bytes: entry.bytes, updated_at: sql`now()` }),
    )
    .execute();
  await markDirty(trx, projectId, entry.path);
}

export async function deleteDraftFile(trx: Transaction<Database>, projectId: string, path: string): Promise<boolean> {
  const res = await trx
    .deleteFrom("site_draft_files")
    .where("project_id", "=", projectId)
    .where("path", "=", path)
    .executeTakeFirst();
  if (!res.numDeletedRows) return false;
  await markDirty(trx, projectId, path);
  return true;
}

/** Points many draft paths at existing blobs at once (an archive deploy): chunked multi-row statements. */
export async function setDraftEntries(trx: Transaction<Database>, projectId: string, entries: ManifestEntry[]) {
  for (let i = 0; i < entries.length; i += 500) {
    const chunk = entries.slice(i, i + 500);
    await trx
      .insertInto("site_draft_files")
      .values(chunk.map((e) => ({ project_id: projectId, ...e })))
      .onConflict((oc) =>
        oc.columns(["project_id", "path"]).doUpdateSet((eb) => ({
          sha256: eb.ref("excluded.sha256"),
          bytes: eb.ref("excluded.bytes"),
          updated_at: sql`now()`,
        })),
      )
      .execute();
    await markDirtyMany(
      trx,
      projectId,
      chunk.map((e) => e.path),
    );
  }
}

/** Deletes many draft paths at once; answers how many existed. */
export async function deleteDraftFiles(trx: Transaction<Database>, projectId: string, paths: string[]) {
  let deleted = 0;
  for (let i = 0; i < paths.length; i += 500) {
    const chunk = paths.slice(i, i + 500);
    const res = await trx
      .deleteFrom("site_draft_files")
      .where("project_id", "=", projectId)
      .where("path", "in", chunk)
      .returning("path")
      .execute();
    deleted += res.length;
    await markDirtyMany(
      trx,
      projectId,
      res.map((r) => r.path),
    );
  }
  return deleted;
}

async function markDirtyMany(trx: Transaction<Database>, projectId: string, paths: string[]) {
  if (!paths.length) return;
  await trx
    .insertInto("site_dirty_paths")
    .values(paths.map((path) => ({ project_id: projectId, path })))
    .onConflict((oc) => oc.doNothing())
    .execute();
}
