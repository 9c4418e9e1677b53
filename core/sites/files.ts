// Draft files: the site's working copy, edited by people and agents; nothing here is live until published.
import { z } from "zod";
import { ProjectRef } from "../kernel/common.ts";
import { conflict, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { exactReplace } from "../text-edit.ts";
import { getBlob } from "./blobs.ts";
import {
  deleteDraftFile,
  deleteDraftFiles,
  diffManifests,
  draftEntry,
  draftManifest,
  releaseManifest,
  setDraftEntry,
  writeDraftFile,
} from "./draft.ts";
import {
  blockedReason,
  contentTypeOf,
  invalidPath,
  isText,
  MAX_PATH_LENGTH,
  normalisePath,
  normalisePrefix,
} from "./paths.ts";
import { unpublishedSettings } from "./settings.ts";
import { liveSettings, loadSite, lockSite, siteProject, touchSite } from "./site.ts";

export const FilePath = z
  .string()
  .min(1)
  .max(MAX_PATH_LENGTH)
  .meta({ description: "Path inside the site, e.g. `about.html` or `assets/css/site.css`", example: "index.html" });

export const FileEntry = z
  .object({ path: z.string(), bytes: z.number().int(), sha256: z.string(), content_type: z.string() })
  .meta({ id: "SiteFile" });

export const fileEntry = (e: { path: string; bytes: number; sha256: string }) => ({
  ...e,
  content_type: contentTypeOf(e.path),
});

/** The draft file at `path`, or 404 naming it. */
export async function requireDraftFile(db: Parameters<typeof draftEntry>[0], projectId: string, path: string) {
  const entry = await draftEntry(db, projectId, path);
  if (!entry) throw notFound("file", path);
  return entry;
}

export const listFiles = defineOperation({
  id: "list_files",
  summary: "List the draft's files",
  description: "The draft manifest: path, size, SHA-256 and content type of every file, optionally under a prefix.",
  tags: ["sites"],
  scope: "files:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/files" },
  input: z.object({
    project: ProjectRef,
    prefix: z
      .string()
      .max(MAX_PATH_LENGTH)
      .optional()
      .meta({ description: "Only paths starting with this, e.g. `assets/`" }),
  }),
  output: z.object({ files: z.array(FileEntry), count: z.number().int(), total_bytes: z.number().int() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const files = await draftManifest(ctx.db, project.id, normalisePrefix(input.prefix));
    return { files: files.map(fileEntry), count: files.length, total_bytes: files.reduce((s, f) => s + f.bytes, 0) };
  },
});

export const readFile = defineOperation({
  id: "read_file",
  summary: "Read a draft file",
  description: "Text comes back as UTF-8 (optionally only lines start_line..end_line), anything else as base64.",
  tags: ["sites"],
  scope: "files:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/files/content" },
  input: z.object({
    project: ProjectRef,
    path: FilePath,
    start_line: z.number().int().min(1).optional().meta({ description: "First line (1-based), text files only" }),
    end_line: z.number().int().min(1).optional().meta({ description: "Last line (inclusive), text files only" }),
  }),
  output: FileEntry.extend({
    encoding: z.enum(["utf8", "base64"]),
    content: z.string(),
    total_lines: z.number().int().nullable(),
  }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = normalisePath(input.path);
    if (input.start_line && input.end_line && input.end_line < input.start_line) {
      throw validationError([{ path: "end_line", message: "must not be before start_line" }]);
    }
    const entry = await requireDraftFile(ctx.db, project.id, path);
    const data = await getBlob(ctx.db, entry.sha256);
    if (!isText(data)) {
      if (input.start_line || input.end_line)
        throw validationError([{ path: "start_line", message: "line ranges apply to text files only" }]);
      return { ...fileEntry(entry), encoding: "base64" as const, content: data.toString("base64"), total_lines: null };
    }
    const text = data.toString("utf8");
    const lines = text.split("\n");
    const content =
      input.start_line || input.end_line
        ? lines.slice((input.start_line ?? 1) - 1, input.end_line ?? lines.length).join("\n")
        : text;
    return { ...fileEntry(entry), encoding: "utf8" as const, content, total_lines: lines.length };
  },
});

export const writeFile = defineOperation({
  id: "write_file",
  summary: "Write a draft file",
  description: "Creates or replaces the file. Send text as UTF-8, or binary content as base64 with encoding=base64.",
  tags: ["sites"],
  scope: "files:write",
  effect: "write",
  http: { method: "put", path: "/projects/{project}/files" },
  input: z.object({
    project: ProjectRef,
    path: FilePath,
    content: z.string(),
    encoding: z.enum(["utf8", "base64"]).default("utf8"),
  }),
  output: FileEntry.extend({ created: z.boolean() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = normalisePath(input.path);
    const data = decodeContent(input.content, input.encoding, "content");
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const written = await writeDraftFile(trx, project.id, path, data, ctx.platform.config.siteQuotaBytes);
      await touchSite(trx, project.id);
      return { ...fileEntry({ path, sha256: written.sha256, bytes: written.bytes }), created: written.created };
    });
  },
});

/** Base64 is checked, not trusted: Buffer.from would silently skip characters that are not base64. */
export function decodeContent(content: string, encoding: "utf8" | "base64", field: string): Buffer {
  if (encoding === "utf8") return Buffer.from(content, "utf8");
  const compact = content.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact))
    throw validationError([{ path: field, message: "is not valid base64" }]);
  return Buffer.from(compact, "base64");
}

export const deleteFile = defineOperation({
  id: "delete_file",
  summary: "Delete a draft file",
  tags: ["sites"],
  scope: "files:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/files" },
  input: z.object({ project: ProjectRef, path: FilePath }),
  output: z.object({ deleted: z.literal(true), path: z.string() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = normalisePath(input.path);
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      if (!(await deleteDraftFile(trx, project.id, path))) throw notFound("file", path);
      return { deleted: true as const, path };
    });
  },
});

export const deleteFiles = defineOperation({
  id: "delete_files",
  summary: "Delete many draft files at once",
  description:
    "Deletes every listed path that exists, in one transaction (folder sync: what is gone locally). Paths that do not exist are listed in `missing`, not an error.",
  tags: ["sites"],
  scope: "files:write",
  effect: "destructive",
  http: { method: "post", path: "/projects/{project}/files/delete" },
  input: z.object({ project: ProjectRef, paths: z.array(FilePath).min(1).max(10_000) }),
  output: z.object({ deleted: z.number().int(), missing: z.array(z.string()) }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const wanted = new Set(input.paths.map((p, i) => normalisePath(p, `paths.${i}`)));
    const paths = [...wanted];
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const existing = new Set((await draftManifest(trx, project.id)).map((e) => e.path).filter((p) => wanted.has(p)));
      const deleted = await deleteDraftFiles(trx, project.id, [...existing]);
      if (deleted) await touchSite(trx, project.id);
      return { deleted, missing: paths.filter((p) => !existing.has(p)) };
    });
  },
});

export const renameFile = defineOperation({
  id: "rename_file",
  summary: "Rename (move) a draft file",
  description:
    "Moves the file to a new path. Refused when the new path exists, unless overwrite is true. Links are not rewritten (update_page does that for pages).",
  tags: ["sites"],
  scope: "files:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/files/rename" },
  input: z.object({ project: ProjectRef, from: FilePath, to: FilePath, overwrite: z.boolean().default(false) }),
  output: FileEntry.extend({ from: z.string() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const from = normalisePath(input.from, "from");
    const to = normalisePath(input.to, "to");
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const entry = await requireDraftFile(trx, project.id, from);
      if (from === to) return { ...fileEntry(entry), from };
      if (!input.overwrite && (await draftEntry(trx, project.id, to)))
        throw conflict(`'${to}' already exists; pass overwrite=true to replace it`, { field: "to" });
      const blocked = blockedReason(to);
      if (blocked) throw invalidPath(blocked, "to");
      await deleteDraftFile(trx, project.id, from);
      await setDraftEntry(trx, project.id, { ...entry, path: to });
      return { ...fileEntry({ ...entry, path: to }), from };
    });
  },
});

export const editFile = defineOperation({
  id: "edit_file",
  summary: "Edit a draft file by exact replacement",
  description:
    "Replaces old_str with new_str. old_str must occur exactly once in the file (the error says how many times it occurs otherwise). Returns the lines around the edit.",
  tags: ["sites"],
  scope: "files:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/files/edit" },
  input: z.object({ project: ProjectRef, path: FilePath, old_str: z.string().min(1), new_str: z.string() }),
  output: FileEntry.extend({ line: z.number().int(), snippet: z.string() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = normalisePath(input.path);
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const entry = await requireDraftFile(trx, project.id, path);
      const data = await getBlob(trx, entry.sha256);
      if (!isText(data))
        throw validationError([{ path: "path", message: "is a binary file; edit_file works on text" }]);
      const edit = exactReplace(data.toString("utf8"), input.old_str, input.new_str);
      if (!edit.ok) throw validationError([{ path: "old_str", message: edit.reason }]);
      const written = await writeDraftFile(
        trx,
        project.id,
        path,
        Buffer.from(edit.text, "utf8"),
        ctx.platform.config.siteQuotaBytes,
      );
      return {
        ...fileEntry({ path, sha256: written.sha256, bytes: written.bytes }),
        line: edit.line,
        snippet: edit.snippet,
      };
    });
  },
});

export const diffDraft = defineOperation({
  id: "diff_draft",
  summary: "Compare the draft with the live site",
  description:
    "Paths added, modified and deleted in the draft relative to the live release (all added when nothing is live), and the " +
    "setting keys that differ (settings go live with publish too).",
  tags: ["sites"],
  scope: "files:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/draft/diff" },
  input: z.object({ project: ProjectRef }),
  output: z.object({
    live_release: z.number().int().nullable(),
    added: z.array(z.string()),
    modified: z.array(z.string()),
    deleted: z.array(z.string()),
    settings: z
      .array(z.string())
      .meta({ description: 'Setting keys ("password" included) that differ from the live site' }),
    changed: z.boolean(),
  }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    const site = await loadSite(ctx.db, project.id);
    const diff = diffManifests(
      await releaseManifest(ctx.db, project.id, site.live_release),
      await draftManifest(ctx.db, project.id),
    );
    const settings = unpublishedSettings(site, await liveSettings(ctx.db, project.id, site.live_release));
    return {
      live_release: site.live_release,
      ...diff,
      settings,
      changed: diff.added.length + diff.modified.length + diff.deleted.length + settings.length > 0,
    };
  },
});

export const fileOperations = [
  listFiles,
  readFile,
  writeFile,
  deleteFile,
  deleteFiles,
  renameFile,
  editFile,
  diffDraft,
];
