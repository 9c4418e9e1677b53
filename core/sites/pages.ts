// Pages: an HTML file in the draft, named by its slug (`about` is `about.html`). Renaming a page rewrites
// every internal link to it across the site's HTML, CSS and JS; deleting one takes it out of navigation.
import type { Transaction } from "kysely";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { ProjectRef } from "../kernel/common.ts";
import { conflict, notFound, present, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { getBlob } from "./blobs.ts";
import { deleteDraftFile, draftEntry, draftManifest, setDraftEntry, writeDraftFile } from "./draft.ts";
import { pageDocument, removeNavLinks, rewriteLinks, syntaxOf, titleOf, withTitle } from "./links.ts";
import { isHtml, normalisePath } from "./paths.ts";
import { lockSite, siteProject } from "./site.ts";

/** Lowercased, spaces to hyphens, anything else dropped: "About Us!" → "about-us". */
export function normaliseSlug(raw: string): string {
  return raw
    .toLowerCase()
    .trim()
    .replace(/[\s_]+/g, "-")
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-{2,}/g, "-")
    .replace(/^-+|-+$/g, "");
}

const SlugInput = z.string().min(1).max(100).meta({
  description: "Page slug; normalised (lowercase, spaces → hyphens, other characters dropped)",
  example: "about-us",
});
const PageRef = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^%?#\\\u0000-\u001f]+$/, "a page slug (no %, ?, #, backslash or control characters)")
  .meta({
    description: "Slug of an existing page (its path without .html, e.g. `about` or `blog/post`)",
    example: "about",
  });

export const Page = z
  .object({
    slug: z.string(),
    title: z.string().nullable(),
    path: z.string(),
    bytes: z.number().int(),
    sha256: z.string(),
  })
  .meta({ id: "Page" });

const slugOfPath = (path: string) => path.replace(/\.html?$/i, "");
const pagePath = (slug: string, field = "slug") => normalisePath(`${slug}.html`, field);

function requireSlug(raw: string, field: string): string {
  const slug = normaliseSlug(raw);
  if (!slug) throw validationError([{ path: field, message: "needs at least one letter or digit" }]);
  return slug;
}

const readText = async (db: Parameters<typeof getBlob>[0], sha256: string) =>
  (await getBlob(db, sha256)).toString("utf8");

/**
 * The draft files `keep` selects, with their text, bodies loaded a batch at a time: a site-wide rewrite runs
 * inside one transaction, which must not take one round trip per file.
 */
async function draftTexts(trx: Transaction<Database>, projectId: string, keep: (path: string) => boolean) {
  const files = (await draftManifest(trx, projectId)).filter((f) => keep(f.path));
  const out: { path: string; text: string }[] = [];
  for (let i = 0; i < files.length; i += 200) {
    const batch = files.slice(i, i + 200);
    const rows = await trx
      .selectFrom("site_blobs")
      .select(["sha256", "data"])
      .where("sha256", "in", [...new Set(batch.map((f) => f.sha256))])
      .execute();
    const bodies = new Map(rows.map((r) => [r.sha256, Buffer.from(r.data).toString("utf8")]));
    for (const f of batch) out.push({ path: f.path, text: present(bodies.get(f.sha256), `the blob of ${f.path}`) });
  }
  return out;
}

export const listPages = defineOperation({
  id: "list_pages",
  summary: "List the draft's pages",
  description: "Every HTML file in the draft, with its slug and <title>.",
  tags: ["sites"],
  scope: "pages:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/pages" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ pages: z.array(Page) }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    const files = (await draftManifest(ctx.db, project.id)).filter((f) => isHtml(f.path));
    const bodies = files.length
      ? await ctx.db
          .selectFrom("site_blobs")
          .select(["sha256", "data"])
          .where("sha256", "in", [...new Set(files.map((f) => f.sha256))])
          .execute()
      : [];
    const titles = new Map(bodies.map((b) => [b.sha256, titleOf(Buffer.from(b.data).toString("utf8"))]));
    return {
      pages: files.map((f) => ({
        slug: slugOfPath(f.path),
        title: titles.get(f.sha256) ?? null,
        path: f.path,
        bytes: f.bytes,
        sha256: f.sha256,
      })),
    };
  },
});

export const getPage = defineOperation({
  id: "get_page",
  summary: "Get a page of the draft",
  tags: ["sites"],
  scope: "pages:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/pages/{slug}" },
  input: z.object({ project: ProjectRef, slug: PageRef }),
  output: Page.extend({ content: z.string() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = pagePath(input.slug);
    const entry = await draftEntry(ctx.db, project.id, path);
    if (!entry) throw notFound("page", input.slug);
    const content = await readText(ctx.db, entry.sha256);
    return { slug: slugOfPath(path), title: titleOf(content), path, bytes: entry.bytes, sha256: entry.sha256, content };
  },
});

export const createPage = defineOperation({
  id: "create_page",
  summary: "Create a page in the draft",
  description:
    "content may be a whole HTML document or a body fragment (wrapped in a document with the title). The slug is normalised; 409 when taken.",
  tags: ["sites"],
  scope: "pages:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/pages", status: 201 },
  input: z.object({
    project: ProjectRef,
    slug: SlugInput,
    title: z.string().min(1).max(200),
    content: z.string().max(1_000_000),
  }),
  output: Page,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const slug = requireSlug(input.slug, "slug");
    const path = pagePath(slug);
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      if (await draftEntry(trx, project.id, path))
        throw conflict(`a page with the slug '${slug}' already exists`, { field: "slug", slug });
      const html = pageDocument(input.content, input.title);
      const written = await writeDraftFile(
        trx,
        project.id,
        path,
        Buffer.from(html, "utf8"),
        ctx.platform.config.siteQuotaBytes,
      );
      return { slug, title: titleOf(html), path, bytes: written.bytes, sha256: written.sha256 };
    });
  },
});

/** Rewrites links to `oldPath` in every HTML, CSS and JS file of the draft; answers the files changed. */
async function rewriteSiteLinks(
  trx: Transaction<Database>,
  projectId: string,
  oldPath: string,
  newPath: string,
  quota: number,
) {
  const changed: string[] = [];
  for (const file of await draftTexts(trx, projectId, (path) => syntaxOf(path) !== null)) {
    const syntax = syntaxOf(file.path);
    if (!syntax) continue; // kept only files with one
    const result = rewriteLinks(file.text, syntax, file.path, oldPath, newPath);
    if (result.count === 0) continue;
    await writeDraftFile(trx, projectId, file.path, Buffer.from(result.text, "utf8"), quota);
    changed.push(file.path);
  }
  return changed;
}

export const updatePage = defineOperation({
  id: "update_page",
  summary: "Update or rename a page",
  description:
    "Sets the title and/or content; new_slug renames the page (same folder) and rewrites every internal link to it across the site's HTML, CSS and JS.",
  tags: ["sites"],
  scope: "pages:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}/pages/{slug}" },
  input: z.object({
    project: ProjectRef,
    slug: PageRef,
    new_slug: SlugInput.optional(),
    title: z.string().min(1).max(200).optional(),
    content: z.string().max(1_000_000).optional(),
  }),
  output: z.object({ page: Page, links_rewritten_in: z.array(z.string()), files_changed: z.number().int() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    if (input.new_slug === undefined && input.title === undefined && input.content === undefined) {
      throw validationError([{ path: "", message: "give at least one of new_slug, title, content" }]);
    }
    const path = pagePath(input.slug);
    const newSlug = input.new_slug === undefined ? undefined : requireSlug(input.new_slug, "new_slug");
    const quota = ctx.platform.config.siteQuotaBytes;
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      const entry = await draftEntry(trx, project.id, path);
      if (!entry) throw notFound("page", input.slug);
      let html = await readText(trx, entry.sha256);
      const title = input.title ?? titleOf(html) ?? slugOfPath(path);
      if (input.content !== undefined) html = pageDocument(input.content, title);
      else if (input.title !== undefined) html = withTitle(html, input.title);
      let finalPath = path;
      let rewritten: string[] = [];
      if (newSlug !== undefined) {
        const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
        finalPath = normalisePath(`${dir}${newSlug}.html`, "new_slug");
        if (finalPath !== path && (await draftEntry(trx, project.id, finalPath))) {
          throw conflict(`a page with the slug '${slugOfPath(finalPath)}' already exists`, { field: "new_slug" });
        }
      }
      let written = await writeDraftFile(trx, project.id, path, Buffer.from(html, "utf8"), quota);
      if (finalPath !== path) {
        await deleteDraftFile(trx, project.id, path);
        await setDraftEntry(trx, project.id, { path: finalPath, sha256: written.sha256, bytes: written.bytes });
        rewritten = await rewriteSiteLinks(trx, project.id, path, finalPath, quota);
        // The page may link to itself; read back what it holds now.
        const now = present(await draftEntry(trx, project.id, finalPath), `the page just written at ${finalPath}`);
        written = { ...written, sha256: now.sha256, bytes: now.bytes };
        html = await readText(trx, now.sha256);
      }
      return {
        page: {
          slug: slugOfPath(finalPath),
          title: titleOf(html),
          path: finalPath,
          bytes: written.bytes,
          sha256: written.sha256,
        },
        links_rewritten_in: rewritten,
        files_changed: rewritten.length,
      };
    });
  },
});

export const deletePage = defineOperation({
  id: "delete_page",
  summary: "Delete a page",
  description: "Deletes the page from the draft and removes links to it from every page's <nav>.",
  tags: ["sites"],
  scope: "pages:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/pages/{slug}" },
  input: z.object({ project: ProjectRef, slug: PageRef }),
  output: z.object({ deleted: z.literal(true), slug: z.string(), nav_links_removed_in: z.array(z.string()) }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const path = pagePath(input.slug);
    return ctx.tx(async (trx) => {
      await lockSite(trx, project.id);
      if (!(await deleteDraftFile(trx, project.id, path))) throw notFound("page", input.slug);
      const changed: string[] = [];
      for (const file of await draftTexts(trx, project.id, isHtml)) {
        const result = removeNavLinks(file.text, file.path, path);
        if (result.count === 0) continue;
        await writeDraftFile(
          trx,
          project.id,
          file.path,
          Buffer.from(result.text, "utf8"),
          ctx.platform.config.siteQuotaBytes,
        );
        changed.push(file.path);
      }
      return { deleted: true as const, slug: slugOfPath(path), nav_links_removed_in: changed };
    });
  },
});

export const pageOperations = [listPages, getPage, createPage, updatePage, deletePage];
