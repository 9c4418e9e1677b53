// Files on an instance, over the connection's SFTP session: read (a line range, capped, binary detected),
// write (atomically: a temp file beside the target, then an atomic rename; the old mode kept), edit (the
// shared exact-replace of core/text-edit.ts) and list. Paths are SFTP paths: relative ones start in the
// user's home, and "~/" means the home too. Writing is as powerful as running a command: instances:exec.
import crypto from "node:crypto";
import path from "node:path/posix";
import type { SFTPWrapper, Stats } from "ssh2";
import { z } from "zod";
import { Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { exactReplace } from "../text-edit.ts";
import { reach } from "./reach.ts";
import { InstanceRef } from "./ref.ts";

/** The most read_remote_file returns, and the largest file edit_remote_file will load. */
export const MAX_READ_BYTES = 1024 * 1024;
export const MAX_EDIT_BYTES = 5 * 1024 * 1024;
const MAX_ENTRIES = 1000;

export const RemotePath = z.string().min(1).max(4096).meta({
  description: "Path on the instance; relative paths (and `~/…`) start in the user's home",
  example: "/etc/nginx/nginx.conf",
});

const sftpPath = (p: string) => (p === "~" ? "." : p.startsWith("~/") ? p.slice(2) || "." : p);

/** SFTP status codes as Bosun errors naming the path. */
function sftpError(err: unknown, p: string): BosunError {
  if (err instanceof BosunError) return err;
  const code = (err as { code?: number }).code;
  if (code === 2) return notFound("file", p);
  if (code === 3)
    return new BosunError(
      "forbidden",
      `the instance refused access to '${p}' (permission denied for the instance's user)`,
      { path: p },
    );
  return new BosunError(
    "unprocessable",
    `the instance could not complete the file operation on '${p}': ${(err as Error).message}`,
    { path: p },
  );
}

const call = <T>(fn: (cb: (err: Error | undefined | null, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

const statOrNull = (sftp: SFTPWrapper, p: string) =>
  call<Stats>((cb) => sftp.stat(p, cb)).catch((err) => {
    if ((err as { code?: number }).code === 2) return null;
    throw err;
  });

/**
 * Reads up to `max` bytes from the start of a file, and whether there was more. Reads to EOF rather than
 * trusting the size: /proc and other virtual files report 0.
 */
async function readHead(
  sftp: SFTPWrapper,
  p: string,
  max: number,
): Promise<{ data: Buffer; size: number; more: boolean; mode: number; mtime: number }> {
  // What the path names (through symlinks), before opening it: opening a device can act (/dev/watchdog reboots
  // the machine), and a FIFO blocks or wakes its writer. A link planted in a readable place must not turn a
  // read into that, so only regular files are opened (/proc and /sys files are regular).
  const named = await call<Stats>((cb) => sftp.stat(p, cb));
  if (named.isDirectory())
    throw validationError([{ path: "path", message: "is a directory; use list_remote_directory" }]);
  if (!named.isFile())
    throw validationError([{ path: "path", message: "is not a regular file (a device, FIFO or socket is not read)" }]);
  const handle = await call<Buffer>((cb) => sftp.open(p, "r", cb));
  try {
    const st = await call<Stats>((cb) => sftp.fstat(handle, cb));
    if (!st.isFile()) throw validationError([{ path: "path", message: "is not a regular file" }]);
    const data = Buffer.alloc(max + 1); // one byte past the cap tells us there is more
    let got = 0;
    while (got < data.length) {
      const n = await new Promise<number>((resolve, reject) =>
        sftp.read(handle, data, got, Math.min(data.length - got, 64 * 1024), got, (err, bytes) => {
          if (err && (err as { code?: number }).code === 1)
            resolve(0); // SSH_FX_EOF
          else if (err) reject(err);
          else resolve(bytes);
        }),
      );
      if (!n) break;
      got += n;
    }
    const more = got > max;
    return {
      data: data.subarray(0, Math.min(got, max)),
      size: Math.max(st.size, got),
      more,
      mode: st.mode,
      mtime: st.mtime,
    };
  } finally {
    await call((cb) => sftp.close(handle, cb)).catch(() => {});
  }
}

/** Binary: a NUL byte early on, or bytes that are not UTF-8. */
export function isBinary(data: Buffer): boolean {
  if (data.subarray(0, 8192).includes(0)) return true;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(0, Math.max(0, data.length - 3))); // a cut last char is fine
    return false;
  } catch {
    return true;
  }
}

/**
 * Writes `data` to `p` atomically: a temp file in the same directory, then a rename over the target
 * (posix-rename@openssh.com, which replaces atomically). The target's mode is kept unless one is given.
 */
export async function writeAtomic(
  sftp: SFTPWrapper,
  target: string,
  data: Buffer,
  opts: { mode?: number; createDirs?: boolean } = {},
) {
  // Through a symlink, write the file it points to (renaming over the link would replace the link itself).
  const link = await call<Stats>((cb) => sftp.lstat(target, cb)).catch(() => null);
  const p = link?.isSymbolicLink() ? await call<string>((cb) => sftp.realpath(target, cb)) : target;
  const dir = path.dirname(p);
  if (opts.createDirs) await mkdirs(sftp, dir);
  const existing = await statOrNull(sftp, p);
  if (existing?.isDirectory()) throw validationError([{ path: "path", message: "is a directory" }]);
  const mode = opts.mode ?? (existing ? existing.mode & 0o7777 : 0o644);
  const tmp = path.join(dir, `.${path.basename(p)}.bosun-${crypto.randomBytes(6).toString("hex")}.tmp`);
  const handle = await call<Buffer>((cb) => sftp.open(tmp, "wx", { mode }, cb));
  let renamed = false;
  try {
    try {
      for (let off = 0; off < data.length; off += 64 * 1024) {
        const n = Math.min(64 * 1024, data.length - off);
        await call((cb) => sftp.write(handle, data, off, n, off, cb));
      }
      // The umask applied at open; the mode asked for (or kept) is set explicitly.
      await call((cb) => sftp.fchmod(handle, mode, cb));
      await call((cb) => sftp.ext_openssh_fsync(handle, cb)).catch(() => {});
    } finally {
      await call((cb) => sftp.close(handle, cb));
    }
    await call((cb) => sftp.ext_openssh_rename(tmp, p, cb));
    renamed = true;
  } finally {
    if (!renamed) await call((cb) => sftp.unlink(tmp, cb)).catch(() => {});
  }
  return { created: !existing, mode };
}

async function mkdirs(sftp: SFTPWrapper, dir: string) {
  if (dir === "." || dir === "/" || dir === "") return;
  const st = await statOrNull(sftp, dir);
  if (st) {
    if (!st.isDirectory()) throw validationError([{ path: "path", message: `'${dir}' exists and is not a directory` }]);
    return;
  }
  await mkdirs(sftp, path.dirname(dir));
  await call((cb) => sftp.mkdir(dir, cb)).catch(async (err) => {
    if (!(await statOrNull(sftp, dir))?.isDirectory()) throw err; // created meanwhile is fine
  });
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, "0");
const Mode = z
  .string()
  .regex(/^0?[0-7]{3}$/, "an octal mode such as 0644")
  .meta({ description: "Octal permission bits", example: "0644" });

export const readRemoteFile = defineOperation({
  id: "read_remote_file",
  summary: "Read a file on an instance",
  description: `Returns the text of a file, optionally only a line range. At most ${MAX_READ_BYTES} bytes are read (truncated says so); binary files are reported, not returned.`,
  tags: ["instances"],
  scope: "instances:files",
  effect: "read",
  openWorld: true,
  http: { method: "get", path: "/projects/{project}/instances/{instance}/files" },
  input: z.object({
    ...InstanceRef,
    path: RemotePath,
    start_line: z.number().int().min(1).optional().meta({ description: "First line to return (1-based)" }),
    end_line: z.number().int().min(1).optional().meta({ description: "Last line to return (inclusive)" }),
  }),
  output: z.object({
    path: z.string(),
    size: z.number().int().meta({ description: "Size of the whole file in bytes" }),
    mode: z.string(),
    modified_at: Timestamp,
    binary: z.boolean(),
    content: z.string().nullable().meta({ description: "null for a binary file" }),
    start_line: z.number().int().nullable(),
    end_line: z.number().int().nullable(),
    total_lines: z.number().int().nullable().meta({ description: "Lines in what was read" }),
    truncated: z.boolean().meta({ description: `The file is larger than the ${MAX_READ_BYTES} bytes read` }),
  }),
  handler: async (ctx, input) => {
    if (input.start_line && input.end_line && input.end_line < input.start_line) {
      throw validationError([{ path: "end_line", message: "must not be before start_line" }]);
    }
    const { target, pool } = await reach(ctx, input.instance);
    const file = await pool
      .withSftp(target, (sftp) => readHead(sftp, sftpPath(input.path), MAX_READ_BYTES), ctx.signal)
      .catch((err) => {
        throw sftpError(err, input.path);
      });
    const base = {
      path: input.path,
      size: file.size,
      mode: octal(file.mode),
      modified_at: new Date(file.mtime * 1000).toISOString(),
      truncated: file.more,
    };
    if (isBinary(file.data))
      return { ...base, binary: true, content: null, start_line: null, end_line: null, total_lines: null };
    const text = file.data.toString("utf8");
    const lines = text.split("\n");
    if (lines.at(-1) === "") lines.pop();
    const start = input.start_line ?? 1;
    const end = Math.min(input.end_line ?? lines.length, lines.length);
    const ranged = input.start_line !== undefined || input.end_line !== undefined;
    const content = ranged
      ? lines
          .slice(start - 1, end)
          .map((l) => `${l}\n`)
          .join("")
      : text;
    return {
      ...base,
      binary: false,
      content,
      start_line: lines.length ? start : null,
      end_line: lines.length ? end : null,
      total_lines: lines.length,
    };
  },
});

export const writeRemoteFile = defineOperation({
  id: "write_remote_file",
  summary: "Write a file on an instance (atomically)",
  description:
    "Replaces or creates the file with `content`, atomically (readers never see half a file). An existing file keeps its mode unless `mode` is given; new files get 0644 and belong to the instance's user; symlinks are written through. As powerful as running a command.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "destructive",
  openWorld: true,
  http: { method: "put", path: "/projects/{project}/instances/{instance}/files" },
  input: z.object({
    ...InstanceRef,
    path: RemotePath,
    content: z.string().max(MAX_EDIT_BYTES),
    mode: Mode.optional(),
    create_dirs: z.boolean().default(false).meta({ description: "Create missing parent directories" }),
  }),
  output: z.object({ path: z.string(), bytes: z.number().int(), mode: z.string(), created: z.boolean() }),
  handler: async (ctx, input) => {
    const { target, pool } = await reach(ctx, input.instance);
    const data = Buffer.from(input.content, "utf8");
    const res = await pool
      .withSftp(
        target,
        (sftp) =>
          writeAtomic(sftp, sftpPath(input.path), data, {
            mode: input.mode ? parseInt(input.mode, 8) : undefined,
            createDirs: input.create_dirs,
          }),
        ctx.signal,
      )
      .catch((err) => {
        throw sftpError(err, input.path);
      });
    return { path: input.path, bytes: data.length, mode: octal(res.mode), created: res.created };
  },
});

export const editRemoteFile = defineOperation({
  id: "edit_remote_file",
  summary: "Replace one exact string in a file on an instance",
  description:
    "`old_str` must occur exactly once (whitespace included); it is replaced by `new_str` and the file written back atomically, mode kept. " +
    "Returns the lines around the edit.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "write",
  openWorld: true,
  http: { method: "patch", path: "/projects/{project}/instances/{instance}/files" },
  input: z.object({
    ...InstanceRef,
    path: RemotePath,
    old_str: z.string().min(1).max(MAX_EDIT_BYTES),
    new_str: z.string().max(MAX_EDIT_BYTES),
  }),
  output: z.object({ path: z.string(), bytes: z.number().int(), line: z.number().int(), snippet: z.string() }),
  handler: async (ctx, input) => {
    const { target, pool } = await reach(ctx, input.instance);
    const p = sftpPath(input.path);
    return pool
      .withSftp(
        target,
        async (sftp) => {
          const file = await readHead(sftp, p, MAX_EDIT_BYTES);
          if (file.more)
            throw validationError([
              { path: "path", message: `is larger than ${MAX_EDIT_BYTES} bytes; edit it with run_command` },
            ]);
          if (isBinary(file.data))
            throw validationError([{ path: "path", message: "is a binary file; edit_remote_file works on text" }]);
          const edit = exactReplace(file.data.toString("utf8"), input.old_str, input.new_str);
          if (!edit.ok) throw validationError([{ path: "old_str", message: edit.reason }]);
          // Someone else wrote the file since we read it: refuse rather than lose their change.
          const now = await statOrNull(sftp, p);
          if (!now || now.mtime !== file.mtime || now.size !== file.size)
            throw conflict(`'${input.path}' changed while it was being edited; read it again`);
          const data = Buffer.from(edit.text, "utf8");
          await writeAtomic(sftp, p, data, { mode: file.mode & 0o7777 });
          return { path: input.path, bytes: data.length, line: edit.line, snippet: edit.snippet };
        },
        ctx.signal,
      )
      .catch((err) => {
        throw sftpError(err, input.path);
      });
  },
});

const Entry = z.object({
  name: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
  size: z.number().int(),
  mode: z.string(),
  modified_at: Timestamp,
});

export const listRemoteDirectory = defineOperation({
  id: "list_remote_directory",
  summary: "List a directory on an instance",
  description: `Entries sorted by name, hidden ones included; at most ${MAX_ENTRIES}.`,
  tags: ["instances"],
  scope: "instances:files",
  effect: "read",
  openWorld: true,
  http: { method: "get", path: "/projects/{project}/instances/{instance}/directory" },
  input: z.object({ ...InstanceRef, path: RemotePath.default("~") }),
  output: z.object({ path: z.string(), entries: z.array(Entry), truncated: z.boolean() }),
  handler: async (ctx, input) => {
    const { target, pool } = await reach(ctx, input.instance);
    const list = await pool
      .withSftp(
        target,
        async (sftp) => {
          const st = await call<Stats>((cb) => sftp.stat(sftpPath(input.path), cb));
          if (!st.isDirectory()) throw validationError([{ path: "path", message: "is not a directory" }]);
          return call<{ filename: string; attrs: Stats }[]>((cb) => sftp.readdir(sftpPath(input.path), cb));
        },
        ctx.signal,
      )
      .catch((err) => {
        throw sftpError(err, input.path);
      });
    const entries = list
      .filter((e) => e.filename !== "." && e.filename !== "..")
      .sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0))
      .map((e) => ({
        name: e.filename,
        type: e.attrs.isDirectory()
          ? ("directory" as const)
          : e.attrs.isFile()
            ? ("file" as const)
            : e.attrs.isSymbolicLink()
              ? ("symlink" as const)
              : ("other" as const),
        size: e.attrs.size,
        mode: octal(e.attrs.mode),
        modified_at: new Date(e.attrs.mtime * 1000).toISOString(),
      }));
    return { path: input.path, entries: entries.slice(0, MAX_ENTRIES), truncated: entries.length > MAX_ENTRIES };
  },
});
