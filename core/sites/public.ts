// What a site shows the public, as public operations (no credential, rate-limited per client IP by the
// invoker, audited like any call): its business info, its published pages as text, its forms and form
// submission. Each site's public MCP endpoint on the sites listener (sites-server/mcp.ts) serves exactly
// these with the site filled in. Only the live release is read, and nothing of a password-protected site.
import type { Kysely } from "kysely";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { Slug } from "../kernel/common.ts";
import { BosunError, notFound, rateLimited } from "../kernel/errors.ts";
import { type Context, defineOperation } from "../kernel/operation.ts";
import { getBlob } from "./blobs.ts";
import { type BusinessData, businessSchemas, readBusiness } from "./business.ts";
import { releaseEntry, releaseManifest } from "./draft.ts";
import { acceptSubmission, formsOf, requireForm } from "./forms.ts";
import { decodeEntities, titleOf } from "./links.ts";
import { siteUrl } from "./origin.ts";
import { isHtml, normalisePath } from "./paths.ts";
import { readSettings, type SiteSettings } from "./settings.ts";

const MAX_PAGE_TEXT = 100_000;
const MAX_LISTED_PAGES = 500;
/** Form submissions per minute per client IP, shared by HTML form posts and public MCP calls. */
export const FORM_POSTS_PER_MINUTE = 10;

export interface PublicSite {
  projectId: string;
  slug: string;
  liveRelease: number | null;
  settings: SiteSettings;
  /** The live release's settings as stored (business data reads its own keys from here, re-checked). */
  stored: Record<string, unknown>;
}

const SiteRef = Slug.meta({ description: "Slug of the site (its project)", example: "my-site" });

/**
 * The site a public call names. A missing site, an instance project and a password-protected site all
 * answer alike where it matters: nothing of the content leaks.
 */
async function publicSite(db: Kysely<Database>, slug: string, admitted = false): Promise<PublicSite> {
  const row = await db
    .selectFrom("projects as p")
    .leftJoin("sites as s", "s.project_id", "p.id")
    // The live release's settings and password: a draft change is not public until published.
    .leftJoin("site_releases as r", (j) =>
      j.onRef("r.project_id", "=", "p.id").onRef("r.number", "=", "s.live_release"),
    )
    .select(["p.id", "p.slug", "s.live_release", "r.settings", "r.password_hash"])
    .where("p.slug", "=", slug)
    .where("p.kind", "=", "site")
    .executeTakeFirst();
  if (!row) throw notFound("site", slug);
  if (row.password_hash && !admitted)
    throw new BosunError("forbidden", "this site is password-protected; its content is not available here");
  return {
    projectId: row.id,
    slug: row.slug,
    liveRelease: row.live_release ?? null,
    settings: readSettings(row.settings ?? {}),
    stored: row.settings ?? {},
  };
}

/** An HTML document as readable text: scripts, styles and tags removed, whitespace collapsed. */
export function htmlToText(html: string): string {
  const text = html
    .replace(/<(script|style|noscript|template)\b[\s\S]*?<\/\1>/gi, " ")
    .replace(/<title\b[\s\S]*?<\/title>/gi, " ")
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/tr|\/section|\/article|\/header|\/footer)\b[^>]*>/gi, "\n")
    .replace(/<[^>]+>/g, " ");
  return decodeEntities(text)
    .replace(/[ \t\f\v\r]+/g, " ")
    .replace(/ *\n[ \n]*/g, "\n")
    .trim()
    .slice(0, MAX_PAGE_TEXT);
}

const pageUrl = (ctx: Context, site: PublicSite, path: string) =>
  `${siteUrl(ctx.platform, site.slug)}/${path === "index.html" ? "" : path}`;

export const getBusinessInfo = defineOperation({
  id: "get_business_info",
  summary: "Get a site's business info",
  description: "Public: the name, tagline, language, contact details and opening hours a published site declares.",
  tags: ["public-sites"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/sites/{site}" },
  input: z.object({ site: SiteRef }),
  output: z.object({
    site_name: z.string().nullable(),
    tagline: z.string().nullable(),
    language: z.string().nullable(),
    business: z.record(z.string(), z.unknown()).nullable(),
    opening_hours: businessSchemas.opening_hours.nullable(),
    published: z.boolean(),
  }),
  handler: async (ctx, input) => {
    const site = await publicSite(ctx.db, input.site);
    const s = site.settings;
    return {
      site_name: s.site_name ?? null,
      tagline: s.tagline ?? null,
      language: s.language ?? null,
      business: s.business ?? null,
      opening_hours: readBusiness(site.stored).opening_hours,
      published: site.liveRelease !== null,
    };
  },
});

export const listPublishedPages = defineOperation({
  id: "list_published_pages",
  summary: "List a site's published pages",
  description: "Public: the pages of the live site, with titles and URLs.",
  tags: ["public-sites"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/sites/{site}/pages" },
  input: z.object({ site: SiteRef }),
  output: z.object({ pages: z.array(z.object({ slug: z.string(), title: z.string().nullable(), url: z.string() })) }),
  handler: async (ctx, input) => {
    const site = await publicSite(ctx.db, input.site);
    if (site.liveRelease === null) return { pages: [] };
    const files = (await releaseManifest(ctx.db, site.projectId, site.liveRelease))
      .filter((f) => isHtml(f.path))
      .slice(0, MAX_LISTED_PAGES);
    const pages = [];
    for (const f of files) {
      pages.push({
        slug: f.path.replace(/\.html?$/i, ""),
        title: titleOf((await getBlob(ctx.db, f.sha256)).toString("utf8")),
        url: pageUrl(ctx, site, f.path),
      });
    }
    return { pages };
  },
});

export const getPublishedPage = defineOperation({
  id: "get_published_page",
  summary: "Read a site's published page",
  description: "Public: one page of the live site as text (slug from list_published_pages; `index` is the home page).",
  tags: ["public-sites"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/sites/{site}/pages/{slug}" },
  input: z.object({
    site: SiteRef,
    slug: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^%?#\\\u0000-\u001f]+$/, "a page slug"),
  }),
  output: z.object({ slug: z.string(), title: z.string().nullable(), url: z.string(), text: z.string() }),
  handler: async (ctx, input) => {
    const site = await publicSite(ctx.db, input.site);
    let path: string;
    try {
      path = normalisePath(`${input.slug.replace(/\.html?$/i, "")}.html`, "slug");
    } catch {
      throw notFound("page", input.slug);
    }
    const entry =
      site.liveRelease === null ? undefined : await releaseEntry(ctx.db, site.projectId, site.liveRelease, path);
    if (!entry) throw notFound("page", input.slug);
    const html = (await getBlob(ctx.db, entry.sha256)).toString("utf8");
    return {
      slug: path.replace(/\.html$/, ""),
      title: titleOf(html),
      url: pageUrl(ctx, site, path),
      text: htmlToText(html),
    };
  },
});

const FormId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "a form id")
  .meta({ description: "Form id, from list_site_forms", example: "contact" });

export const listSiteForms = defineOperation({
  id: "list_site_forms",
  summary: "List a site's public forms",
  description: "Public: the forms a visitor can submit on the site.",
  tags: ["public-sites"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/sites/{site}/forms" },
  input: z.object({ site: SiteRef }),
  output: z.object({ forms: z.array(z.record(z.string(), z.unknown())) }),
  handler: async (ctx, input) => ({ forms: await formsOf(ctx.db, (await publicSite(ctx.db, input.site)).projectId) }),
});

export const getSiteFormSchema = defineOperation({
  id: "get_site_form_schema",
  summary: "Get a public form's fields",
  description: "Public: the fields of one form of the site (name, type, whether required).",
  tags: ["public-sites"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/sites/{site}/forms/{form_id}" },
  input: z.object({ site: SiteRef, form_id: FormId }),
  output: z.record(z.string(), z.unknown()),
  handler: async (ctx, input) => requireForm(ctx.db, (await publicSite(ctx.db, input.site)).projectId, input.form_id),
});

export const submitSiteForm = defineOperation({
  id: "submit_site_form",
  summary: "Submit a site's public form",
  description:
    "Public: submits a form as a visitor would (a contact or booking request), checked against its fields. Limited per client IP.",
  tags: ["public-sites"],
  public: true,
  effect: "write",
  level: "any",
  http: { method: "post", path: "/sites/{site}/forms/{form_id}/submissions", status: 201 },
  input: z.object({ site: SiteRef, form_id: FormId, data: z.record(z.string().max(64), z.unknown()) }),
  output: z.object({ id: z.string(), form_id: z.string(), created_at: z.string() }),
  // What a visitor typed is personal data: it stays in the submission, out of the audit trail.
  auditInput: (input) => ({ site: input.site, form_id: input.form_id }),
  handler: async (ctx, input) => {
    // A form post on the sites listener (surface `sites`) comes only past the site's password: a visitor who
    // unlocked a protected site may use its forms. Everywhere else a protected site stays closed.
    const site = await publicSite(ctx.db, input.site, ctx.principal.surface === "sites");
    ctx.auditProject(site.slug);
    if (!ctx.principal.credential) {
      const limit = await ctx.platform.securityLimiter.take(
        `site-form:${ctx.principal.clientIp}`,
        FORM_POSTS_PER_MINUTE,
      );
      if (!limit.allowed) throw rateLimited(limit.retryAfter);
    }
    return acceptSubmission(ctx.db, site.projectId, input.form_id, input.data);
  },
});

/** A public read of one kind of the live site's business data (empty when none is published). */
function publicBusiness<S extends z.ZodType>(
  id: string,
  path: string,
  summary: string,
  description: string,
  output: S,
  pick: (data: BusinessData) => z.input<S>,
) {
  return defineOperation({
    id,
    summary,
    description,
    tags: ["public-sites"],
    public: true,
    effect: "read",
    level: "any",
    http: { method: "get", path: `/sites/{site}/${path}` },
    input: z.object({ site: SiteRef }),
    output,
    handler: async (ctx, input) => pick(readBusiness((await publicSite(ctx.db, input.site)).stored)),
  });
}

export const getMenu = publicBusiness(
  "get_menu",
  "menu",
  "Get a site's menu",
  "Public: the published menu, by section; prices in minor units (450 = 4.50) with currency.",
  z.object({ menu: businessSchemas.menu }),
  (d) => ({ menu: d.menu ?? [] }),
);
export const getServices = publicBusiness(
  "get_services",
  "services",
  "Get a site's services",
  "Public: the published services, with prices in minor units and durations.",
  z.object({ services: businessSchemas.services }),
  (d) => ({ services: d.services ?? [] }),
);
export const getFaq = publicBusiness(
  "get_faq",
  "faq",
  "Get a site's FAQ",
  "Public: the published questions and answers.",
  z.object({ faq: businessSchemas.faq }),
  (d) => ({ faq: d.faq ?? [] }),
);

export const publicSiteOperations = [
  getMenu,
  getServices,
  getFaq,
  getBusinessInfo,
  listPublishedPages,
  getPublishedPage,
  listSiteForms,
  getSiteFormSchema,
  submitSiteForm,
];
