// Archive deploys: a zip or tar.gz unpacked into the draft, all or nothing. The upload is spooled to a temp file
// (never held in memory whole: a zip's directory is at its end, so it needs random access anyway), then read one
// entry at a time. Every entry is checked before anything changes: its name (no absolute paths, no `..`, the
// draft's path and blocked-type rules), its kind (files and directories only: no links, devices or FIFOs), its
// size and the archive's compression ratio (zip bombs). Bodies go to content-addressed blobs as they come
// (harmless if the archive is then refused: unreferenced blobs are swept); the draft changes in one
// transaction at the end, so a refused archive changes nothing.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import type { Kysely } from "kysely";
import { type ReadEntry, Parser as TarParser } from "tar";
import yauzl from "yauzl";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { ProjectRef } from "../kernel/common.ts";
import { BosunError, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { sha256Hex } from "./blobs.ts";
import {
  deleteDraftFiles,
  draftBytes,
  draftEntries,
  draftManifest,
  MAX_FILE_BYTES,
  type ManifestEntry,
  setDraftEntries,
} from "./draft.ts";
import { decodeContent } from "./files.ts";
import { imageSize } from "./images.ts";
import { blockedReason, isImage, normalisePath } from "./paths.ts";
import { lockSite, siteProject, touchSite } from "./site.ts";

export const ARCHIVE_TYPES = ["application/zip", "application/gzip", "application/x-gzip", "application/x-tar"];
/** The compression-ratio limit starts past this many unpacked bytes: tiny archives of text may compress well. */
const RATIO_FLOOR = 1024 * 1024;
/** Blob bodies are written in batches of about this many bytes (one multi-row insert each). */
const FLUSH_BYTES = 4 * 1024 * 1024;

export type ArchiveFormat = "zip" | "tar.gz" | "tar";

export interface ArchiveLimits {
  maxBytes: number;
  maxFiles: number;
  maxRatio: number;
  quotaBytes: number;
}

const shown = (name: string) => JSON.stringify(name);

/** An entry refused for its name: `invalid_path`, like any refused path, naming the entry. */
const badName = (entry: string, why: string) =>
  new BosunError("invalid_path", `archive entry ${shown(entry)}: ${why}`, {
    entry,
    field: "archive",
    issues: [{ path: "archive", message: `entry ${shown(entry)}: ${why}` }],
  });

const refused = (why: string, entry?: string) =>
  new BosunError("invalid_archive", entry === undefined ? why : `archive entry ${shown(entry)}: ${why}`, {
    field: "archive",
    ...(entry === undefined ? {} : { entry }),
  });

const tooLarge = (why: string, details: Record<string, unknown>) =>
  new BosunError("payload_too_large", why, { field: "archive", ...details });

/** Refuses names that leave the site, whatever the entry is (a directory too). */
function checkTraversal(name: string) {
  if (name.startsWith("/") || /^[a-zA-Z]:/.test(name)) throw badName(name, "is an absolute path");
  if (name.split(/[\\/]/).includes("..")) throw badName(name, "must not contain '..' segments");
}

/** The draft path of a file entry (null when strip_components removes it whole), or the reason it is refused. */
function entryPath(name: string, strip: number): string | null {
  checkTraversal(name);
  let segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (strip) {
    if (segments.length <= strip) return null;
    segments = segments.slice(strip);
  }
  let normal: string;
  try {
    normal = normalisePath(segments.join("/") || name, "archive");
  } catch (err) {
    if (err instanceof BosunError && err.code === "invalid_path")
      throw badName(name, String(err.message).replace(/^archive: /, ""));
    throw err;
  }
  const blocked = blockedReason(normal);
  if (blocked) throw badName(name, blocked);
  return normal;
}

interface PendingBlob {
  sha256: string;
  data: Buffer;
  bytes: number;
  width: number | null;
  height: number | null;
}

/** What the entries add up to, checked as they come; blob bodies written in batches. */
class Collector {
  readonly files = new Map<string, ManifestEntry>();
  entries = 0;
  unpacked = 0;
  bytes = 0;
  private pending: PendingBlob[] = [];
  pendingBytes = 0;

  constructor(
    private readonly db: Kysely<Database>,
    readonly limits: ArchiveLimits,
    private readonly archiveBytes: number,
    private readonly onProgress: (done: number) => void,
  ) {}

  countEntry(name: string) {
    if (++this.entries > this.limits.maxFiles)
      throw tooLarge(`the archive has more than ${this.limits.maxFiles} entries`, {
        limit: this.limits.maxFiles,
        entry: name,
      });
  }

  /** Counts unpacked bytes of an entry as they are read: per-file size, then the archive's ratio. */
  unpack(name: string, fileSoFar: number, chunk: number) {
    this.unpacked += chunk;
    if (fileSoFar > MAX_FILE_BYTES)
      throw tooLarge(`archive entry ${shown(name)} is over ${MAX_FILE_BYTES / 1024 / 1024} MB`, {
        limit: MAX_FILE_BYTES,
        entry: name,
      });
    this.checkRatio(name, this.unpacked, this.archiveBytes);
  }

  checkRatio(name: string, unpacked: number, packed: number) {
    const { maxRatio } = this.limits;
    if (unpacked > RATIO_FLOOR && unpacked > maxRatio * Math.max(1, packed))
      throw tooLarge(
        `archive entry ${shown(name)}: the archive unpacks to more than ${maxRatio} times its size (a zip bomb?)`,
        { entry: name, max_ratio: maxRatio },
      );
  }

  add(name: string, path: string, data: Buffer) {
    if (this.files.has(path)) throw refused(`is a second entry for '${path}'`, name);
    this.bytes += data.length;
    if (this.bytes > this.limits.quotaBytes)
      throw tooLarge(`the archive unpacks to more than the site's quota of ${this.limits.quotaBytes} bytes`, {
        quota: this.limits.quotaBytes,
        entry: name,
      });
    const sha256 = sha256Hex(data);
    this.files.set(path, { path, sha256, bytes: data.length });
    const size = isImage(path) ? imageSize(data) : null;
    this.pending.push({ sha256, data, bytes: data.length, width: size?.width ?? null, height: size?.height ?? null });
    this.pendingBytes += data.length;
    if (this.files.size % 100 === 0) this.onProgress(this.files.size);
  }

  async flush() {
    const batch = [...new Map(this.pending.map((b) => [b.sha256, b])).values()];
    this.pending = [];
    this.pendingBytes = 0;
    for (let i = 0; i < batch.length; i += 200) {
      await this.db
        .insertInto("site_blobs")
        .values(batch.slice(i, i + 200))
        // As putBlob: an existing blob is touched, so the orphan sweep's grace period covers this new use.
        .onConflict((oc) => oc.column("sha256").doUpdateSet({ created_at: new Date() } as never))
        .execute();
    }
  }
}

/** Spools the upload to `file`, counting it against the limit; answers its size and first bytes. */
async function spool(source: AsyncIterable<Uint8Array | string>, file: string, maxBytes: number, signal: AbortSignal) {
  const handle = await fs.promises.open(file, "w", 0o600);
  let bytes = 0;
  const head: Buffer[] = [];
  try {
    for await (const chunk of source) {
      const buf =
        typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      bytes += buf.length;
      if (bytes > maxBytes)
        throw tooLarge(`the archive is over ${Math.round(maxBytes / 1024 / 1024)} MB`, { limit: maxBytes });
      if (signal.aborted) throw refused("the upload was aborted");
      if (bytes - buf.length < 512) head.push(buf.subarray(0, 512));
      await handle.write(buf);
    }
  } finally {
    await handle.close();
  }
  return { bytes, head: Buffer.concat(head) };
}

function formatOf(head: Buffer): ArchiveFormat {
  if (head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6)))
    return "zip";
  if (head[0] === 0x1f && head[1] === 0x8b) return "tar.gz";
  if (head.length >= 262 && head.toString("latin1", 257, 262) === "ustar") return "tar";
  throw refused("the body is not a zip, tar.gz or tar archive");
}

/** Unix file types (mode & 0o170000) a zip entry may declare, other than a file or a directory. */
const UNIX_KINDS = new Map<number, string>([
  [0o120000, "is a symbolic link"],
  [0o020000, "is a character device"],
  [0o060000, "is a block device"],
  [0o010000, "is a FIFO"],
  [0o140000, "is a socket"],
]);

const TAR_KINDS: Partial<Record<string, string>> = {
  SymbolicLink: "is a symbolic link",
  Link: "is a hard link",
  CharacterDevice: "is a character device",
  BlockDevice: "is a block device",
  FIFO: "is a FIFO",
};

function nextZipEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const settle =
      <T>(fn: (v: T) => void) =>
      (v: T) => {
        zip.off("entry", onEntry).off("end", onEnd).off("error", onError);
        fn(v);
      };
    const onEntry = settle(resolve);
    const onEnd = settle(() => resolve(null));
    const onError = settle(reject);
    zip.on("entry", onEntry).on("end", onEnd).on("error", onError);
    zip.readEntry();
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The spooled zip, read with synchronous reads of at most 64 KB: yauzl makes a few small reads per entry, and as
 * fs.read each is a thread-pool round trip (4× slower on a 5,000-file archive); from the page cache a sync read of
 * that size costs microseconds.
 */
class SpooledZip extends yauzl.RandomAccessReader {
  constructor(private readonly fd: number) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const fd = this.fd;
    let at = start;
    return new Readable({
      read() {
        const length = Math.min(64 * 1024, end - at);
        if (length <= 0) return void this.push(null);
        const buf = Buffer.allocUnsafe(length);
        const n = fs.readSync(fd, buf, 0, length, at);
        at += n;
        this.push(n ? buf.subarray(0, n) : null);
      },
    });
  }
}

async function readZip(file: string, c: Collector, strip: number, signal: AbortSignal) {
  const fd = fs.openSync(file, "r");
  try {
    await readZipFrom(fd, fs.fstatSync(fd).size, c, strip, signal);
  } finally {
    fs.closeSync(fd);
  }
}

async function readZipFrom(fd: number, size: number, c: Collector, strip: number, signal: AbortSignal) {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromRandomAccessReader(
      new SpooledZip(fd),
      size,
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, autoClose: false },
      (e, z) => (e ? reject(e) : resolve(z)),
    ),
  );
  try {
    if (zip.entryCount > c.limits.maxFiles)
      throw tooLarge(`the archive has ${zip.entryCount} entries, more than ${c.limits.maxFiles}`, {
        limit: c.limits.maxFiles,
      });
    for (;;) {
      const entry = await nextZipEntry(zip);
      if (!entry) break;
      if (signal.aborted) throw refused("the upload was aborted");
      // decodeStrings: false hands the name over as bytes (the typings say string): judged here, not repaired.
      const field: string | Buffer = entry.fileName;
      const raw = Buffer.isBuffer(field) ? field : Buffer.from(field);
      let name: string;
      try {
        name = utf8.decode(raw);
      } catch {
        throw refused("an entry's name is not UTF-8", raw.toString("latin1"));
      }
      c.countEntry(name);
      const mode = entry.versionMadeBy >> 8 === 3 ? (entry.externalFileAttributes >>> 16) & 0o170000 : 0;
      const kind = UNIX_KINDS.get(mode);
      if (kind) throw refused(kind, name);
      if (name.endsWith("/") || mode === 0o040000) {
        checkTraversal(name);
        continue;
      }
      if (entry.generalPurposeBitFlag & 1) throw refused("is encrypted", name);
      const target = entryPath(name, strip);
      if (!target) continue;
      // Deflate never grows data by more than a little: packed bytes past that are not a file we would keep.
      if (entry.uncompressedSize > MAX_FILE_BYTES || entry.compressedSize > MAX_FILE_BYTES + 64 * 1024)
        throw tooLarge(`archive entry ${shown(name)} is over ${MAX_FILE_BYTES / 1024 / 1024} MB`, {
          limit: MAX_FILE_BYTES,
          entry: name,
        });
      // The bytes are held against the declared sizes below, so an entry's own ratio can be judged before reading it.
      c.checkRatio(name, entry.uncompressedSize, entry.compressedSize);
      if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8)
        throw refused(`uses compression method ${entry.compressionMethod}; only stored and deflate are read`, name);
      // The packed bytes, inflated in one synchronous call with a bounded output: a zlib stream per entry costs
      // thread-pool round trips that dominate an archive of small files.
      const stream = await new Promise<Readable>((resolve, reject) =>
        zip.openReadStream(entry, { decodeFileData: false }, (e, s) => (e ? reject(e) : resolve(s))),
      );
      const packed: Buffer[] = [];
      for await (const chunk of stream as AsyncIterable<Buffer>) packed.push(chunk);
      let data = Buffer.concat(packed);
      if (entry.compressionMethod === 8) {
        try {
          data = zlib.inflateRawSync(data, { maxOutputLength: MAX_FILE_BYTES + 1 });
        } catch (err) {
          if (err instanceof RangeError || (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
            throw tooLarge(`archive entry ${shown(name)} is over ${MAX_FILE_BYTES / 1024 / 1024} MB`, {
              limit: MAX_FILE_BYTES,
              entry: name,
            });
          throw refused(`its data is malformed (${(err as Error).message})`, name);
        }
      }
      // What yauzl's own checks do on its stream: the header's size and CRC, held against the bytes.
      if (data.length !== entry.uncompressedSize) throw refused("its size differs from its header", name);
      if (zlib.crc32(data) >>> 0 !== entry.crc32 >>> 0) throw refused("fails its CRC check", name);
      c.unpack(name, data.length, data.length);
      c.add(name, target, data);
      if (c.pendingBytes >= FLUSH_BYTES) await c.flush();
    }
  } finally {
    zip.close();
  }
}

async function readTar(file: string, c: Collector, strip: number, signal: AbortSignal) {
  const parser = new TarParser({ strict: true });
  let failure: unknown = null;
  let open = 0;
  const fail = (err: unknown) => {
    failure ??= err;
  };
  parser.on("entry", (entry: ReadEntry) => {
    if (failure) return void entry.resume();
    const name = entry.path;
    try {
      c.countEntry(name);
      if (entry.type === "Directory" || entry.type === "GNUDumpDir") {
        checkTraversal(name);
        return void entry.resume();
      }
      if (!["File", "OldFile", "ContiguousFile"].includes(entry.type))
        throw refused(TAR_KINDS[entry.type] ?? `is of type ${entry.type}, not a file`, name);
      const target = entryPath(name, strip);
      if (!target) return void entry.resume();
      if ((entry.size ?? 0) > MAX_FILE_BYTES)
        throw tooLarge(`archive entry ${shown(name)} is over ${MAX_FILE_BYTES / 1024 / 1024} MB`, {
          limit: MAX_FILE_BYTES,
          entry: name,
        });
      const chunks: Buffer[] = [];
      let size = 0;
      open++;
      entry.on("data", (chunk: Buffer) => {
        if (failure) return;
        try {
          size += chunk.length;
          c.unpack(name, size, chunk.length);
          chunks.push(chunk);
        } catch (err) {
          fail(err);
        }
      });
      entry.on("end", () => {
        open--;
        if (failure) return;
        try {
          c.add(name, target, Buffer.concat(chunks));
        } catch (err) {
          fail(err);
        }
      });
    } catch (err) {
      fail(err);
      entry.resume();
    }
  });
  parser.on("error", (err: Error) => fail(refused(`the archive is malformed: ${err.message}`)));
  // An aborted parser (bad gzip data, its own ratio guard) never emits `end`.
  const ended = new Promise<void>((resolve) => {
    parser.on("end", () => resolve());
    parser.on("abort", (err: Error) => {
      fail(refused(`the archive is malformed: ${err?.message ?? "aborted"}`));
      resolve();
    });
  });
  // Small chunks: a gzip bomb unpacks at most ~1000× what one write hands the parser before the checks run.
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 16 * 1024 })) {
    parser.write(chunk as Buffer);
    if (failure) throw failure;
    if (signal.aborted) throw refused("the upload was aborted");
    if (c.pendingBytes >= FLUSH_BYTES) await c.flush();
  }
  parser.end();
  await ended;
  if (failure) throw failure;
  if (open > 0) throw refused("the archive is truncated");
}

export interface ArchiveResult {
  format: ArchiveFormat;
  archive_bytes: number;
  files: Map<string, ManifestEntry>;
  bytes: number;
}

/**
 * Unpacks an archive into blobs and answers its manifest, or throws naming the first refused entry. Changes no
 * draft. `source` is the upload as it arrives.
 */
export async function unpackArchive(
  db: Kysely<Database>,
  source: AsyncIterable<Uint8Array | string>,
  opts: { limits: ArchiveLimits; strip: number; signal: AbortSignal; onProgress?: (done: number) => void },
): Promise<ArchiveResult> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "bosun-archive-"));
  try {
    const file = path.join(dir, `upload-${crypto.randomBytes(6).toString("hex")}`);
    const { bytes, head } = await spool(source, file, opts.limits.maxBytes, opts.signal);
    const format = formatOf(head);
    const c = new Collector(db, opts.limits, bytes, opts.onProgress ?? (() => {}));
    try {
      await (format === "zip" ? readZip : readTar)(file, c, opts.strip, opts.signal);
    } catch (err) {
      if (err instanceof BosunError) throw err;
      // yauzl's and tar's own complaints (bad signatures, truncated data, CRC) are about the caller's bytes.
      throw refused(`the archive is malformed: ${err instanceof Error ? err.message : String(err)}`);
    }
    await c.flush();
    return { format, archive_bytes: bytes, files: c.files, bytes: c.bytes };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

const Mode = z.enum(["merge", "replace"]);

export const deploySiteArchive = defineOperation({
  id: "deploy_site_archive",
  summary: "Deploy a zip or tar.gz archive into the draft",
  description:
    "All or nothing: a refused entry (`..` or absolute path, link or device, blocked type, too large, too many, a zip " +
    "bomb, over the quota) is named and the draft is unchanged. REST takes the archive as the raw body " +
    "(application/zip or application/gzip), other fields in the query string; MCP as archive_base64. Goes live on " +
    "publish_site.",
  tags: ["sites"],
  scope: "files:write",
  effect: "destructive",
  http: {
    method: "post",
    path: "/projects/{project}/draft/archive",
    rawBody: { field: "archive_base64", types: ARCHIVE_TYPES },
  },
  input: z.object({
    project: ProjectRef,
    mode: Mode.default("merge").meta({
      description: "merge: add and overwrite; replace: the draft becomes the archive",
    }),
    strip_components: z
      .number()
      .int()
      .min(0)
      .max(8)
      .default(0)
      .meta({ description: "Leading folders to drop from each entry's name, as tar's --strip-components" }),
    archive_base64: z
      .string()
      .optional()
      .meta({ description: "The archive, base64 (when not sent as the raw request body)" }),
  }),
  output: z.object({
    mode: Mode,
    format: z.enum(["zip", "tar.gz", "tar"]),
    archive_bytes: z.number().int(),
    files: z.number().int().meta({ description: "Files in the archive" }),
    bytes: z.number().int().meta({ description: "Their unpacked size" }),
    added: z.number().int(),
    modified: z.number().int(),
    deleted: z.number().int(),
    unchanged: z.number().int(),
  }),
  auditInput: ({ archive_base64, ...rest }) => ({
    ...rest,
    ...(archive_base64 === undefined ? {} : { archive_base64: `(${archive_base64.length} characters)` }),
  }),
  errors: ["invalid_path", "invalid_archive", "payload_too_large"],
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    let source: AsyncIterable<Uint8Array | string>;
    if (ctx.body) source = ctx.body as AsyncIterable<Uint8Array | string>;
    else if (input.archive_base64 !== undefined)
      source = Readable.from([decodeContent(input.archive_base64, "base64", "archive_base64")]);
    else
      throw validationError([
        { path: "archive_base64", message: `is required unless the archive is the body (${ARCHIVE_TYPES.join(", ")})` },
      ]);
    const { config } = ctx.platform;
    const unpacked = await unpackArchive(ctx.db, source, {
      limits: {
        maxBytes: config.siteArchiveMaxBytes,
        maxFiles: config.siteArchiveMaxFiles,
        maxRatio: config.siteArchiveMaxRatio,
        quotaBytes: config.siteQuotaBytes,
      },
      strip: input.strip_components,
      signal: ctx.signal,
      onProgress: (done) => ctx.progress({ progress: done, message: `${done} files unpacked` }),
    });
    ctx.progress({ progress: unpacked.files.size, total: unpacked.files.size, message: "applying to the draft" });
    const counts = await ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      // Merge reads only the paths the archive holds: pushing one changed file into a large draft stays cheap.
      const replace = input.mode === "replace";
      const entries = replace
        ? await draftManifest(trx, project.id)
        : await draftEntries(trx, project.id, [...unpacked.files.keys()]);
      const current = new Map(entries.map((e) => [e.path, e]));
      const changed: ManifestEntry[] = [];
      let added = 0;
      for (const entry of unpacked.files.values()) {
        const old = current.get(entry.path);
        if (!old) added++;
        if (old?.sha256 !== entry.sha256) changed.push(entry);
      }
      const gone = replace ? [...current.keys()].filter((p) => !unpacked.files.has(p)) : [];
      const replaced = entries.reduce((n, e) => n + e.bytes, 0);
      const total = replace ? unpacked.bytes : (await draftBytes(trx, project.id)) - replaced + unpacked.bytes;
      if (total > config.siteQuotaBytes)
        throw tooLarge(`the site would hold ${total} bytes, over its quota of ${config.siteQuotaBytes}`, {
          quota: config.siteQuotaBytes,
        });
      await deleteDraftFiles(trx, project.id, gone);
      await setDraftEntries(trx, project.id, changed);
      await touchSite(trx, project.id);
      return { added, modified: changed.length - added, deleted: gone.length };
    });
    return {
      mode: input.mode,
      format: unpacked.format,
      archive_bytes: unpacked.archive_bytes,
      files: unpacked.files.size,
      bytes: unpacked.bytes,
      ...counts,
      unchanged: unpacked.files.size - counts.added - counts.modified,
    };
  },
});

export const archiveOperations = [deploySiteArchive];
