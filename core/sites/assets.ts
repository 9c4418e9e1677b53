// Assets: files uploaded into the draft under `assets/{category}/`, the category read from the extension.
// Executable and server-side types are refused whatever the route (see paths.ts), and images get their
// width and height (stored with the blob, computed once).
import { z } from "zod";
import { ProjectRef } from "../kernel/common.ts";
import { BosunError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { Cursor, Limit, pageOf } from "../kernel/pagination.ts";
import { MAX_FILE_BYTES, writeDraftFile } from "./draft.ts";
import { decodeContent } from "./files.ts";
import { assetCategories, blockedReason, categoryOf, contentTypeOf, invalidPath, normalisePath } from "./paths.ts";
import { lockSite, siteProject } from "./site.ts";

const Category = z.enum(assetCategories);

export const Asset = z
  .object({
    path: z.string(),
    filename: z.string(),
    category: Category,
    content_type: z.string(),
    bytes: z.number().int(),
    sha256: z.string(),
    width: z.number().int().nullable(),
    height: z.number().int().nullable(),
  })
  .meta({ id: "Asset" });

const PREFIX = "assets/";

export const uploadAsset = defineOperation({
  id: "upload_asset",
  summary: "Upload an asset",
  description:
    "Stores a file under assets/{category}/{filename} in the draft (category from the extension: images, css, js, fonts, files). " +
    "REST: multipart/form-data with the file in the part `file`; MCP and JSON: content_base64. At most 10 MB; executable and server-side types are refused.",
  tags: ["sites"],
  scope: "assets:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/assets", status: 201 },
  input: z.object({
    project: ProjectRef,
    filename: z.string().min(1).max(255).meta({ description: "File name, e.g. logo.png", example: "logo.png" }),
    content_base64: z.string().meta({ description: "The file's bytes, base64" }),
  }),
  output: Asset,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    if (input.filename.includes("/") || input.filename.includes("\\"))
      throw invalidPath("must be a file name, not a path", "filename");
    const filename = normalisePath(input.filename, "filename");
    const blocked = blockedReason(filename);
    if (blocked) throw invalidPath(blocked, "filename");
    // Checked before decoding: base64 is 4/3 of the bytes, so a body far over the limit is refused unread.
    if (input.content_base64.length > Math.ceil((MAX_FILE_BYTES * 4) / 3) + 8) {
      throw new BosunError("payload_too_large", `an asset may be at most ${MAX_FILE_BYTES / 1024 / 1024} MB`, {
        limit: MAX_FILE_BYTES,
      });
    }
    const data = decodeContent(input.content_base64, "base64", "content_base64");
    const category = categoryOf(filename);
    const path = `${PREFIX}${category}/${filename}`;
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const written = await writeDraftFile(trx, project.id, path, data, ctx.platform.config.siteQuotaBytes, "filename");
      const blob = await trx
        .selectFrom("site_blobs")
        .select(["width", "height"])
        .where("sha256", "=", written.sha256)
        .executeTakeFirstOrThrow();
      return {
        path,
        filename,
        category,
        content_type: contentTypeOf(path),
        bytes: written.bytes,
        sha256: written.sha256,
        width: blob.width,
        height: blob.height,
      };
    });
  },
});

export const listAssets = defineOperation({
  id: "list_assets",
  summary: "List the draft's assets",
  tags: ["sites"],
  scope: "assets:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/assets" },
  input: z.object({
    project: ProjectRef,
    category: Category.optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ assets: z.array(Asset), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const prefix = input.category ? `${PREFIX}${input.category}/` : PREFIX;
    let q = ctx.db
      .selectFrom("site_draft_files as f")
      .innerJoin("site_blobs as b", "b.sha256", "f.sha256")
      .select(["f.path", "f.sha256", "f.bytes", "b.width", "b.height"])
      .where("f.project_id", "=", project.id)
      .where("f.path", "like", `${prefix}%`)
      .orderBy("f.path")
      .limit(input.limit + 1);
    if (input.cursor) q = q.where("f.path", ">", input.cursor);
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => last.path);
    return {
      assets: page.map((r) => ({
        path: r.path,
        filename: r.path.slice(r.path.lastIndexOf("/") + 1),
        category: categoryOf(r.path),
        content_type: contentTypeOf(r.path),
        bytes: r.bytes,
        sha256: r.sha256,
        width: r.width,
        height: r.height,
      })),
      next_cursor,
    };
  },
});

export const assetOperations = [uploadAsset, listAssets];
