// Site settings: a whitelist. Each key is checked on its own; what passes is applied, what does not comes
// back in `rejected` with the reason, so a typo or an unsafe header is never silently applied or silently
// dropped. The site password is stored only as a scrypt hash and never read back.
// Settings are part of the draft, like files: every one of them changes what visitors get (password,
// redirects, headers, forms, 404 page…), so they go live only with publish_site, stored with the release
// (rollback restores them). An agent without publish:trigger therefore cannot change the live site.
import { z } from "zod";
import { hashPassword } from "../identity/passwords.ts";
import { ProjectRef, Slug } from "../kernel/common.ts";
import { defineOperation } from "../kernel/operation.ts";
import { normalisePath } from "./paths.ts";
import { liveSettings, loadSite, lockSite, sameSettings, siteProject } from "./site.ts";

/** Response headers a site may set. Cookies, CORS, auth and framing of the response itself are Bosun's. */
export const SAFE_HEADERS = [
  "cache-control",
  "content-language",
  "content-security-policy",
  "content-security-policy-report-only",
  "x-frame-options",
  "x-robots-tag",
  "referrer-policy",
  "permissions-policy",
  "x-content-type-options",
  "cross-origin-opener-policy",
  "cross-origin-embedder-policy",
  "cross-origin-resource-policy",
  "link",
  "x-xss-protection",
] as const;

const SitePath = z
  .string()
  .min(1)
  .max(512)
  .transform((p, ctx) => {
    try {
      return normalisePath(p);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message.replace(/^path: /, "") });
      return z.NEVER;
    }
  });
const HeaderValue = z
  .string()
  .min(1)
  .max(2000)
  .regex(/^[^\r\n\u0000]*$/, "must be a single line");
/** A URL path on the site: rooted, optionally ending in `*` (a prefix match). */
const UrlPattern = z
  .string()
  .min(1)
  .max(512)
  .regex(/^\/[^\s\u0000-\u001f]*$/, "must start with '/' (end with '*' to match a prefix)");
const FormField = z.object({
  name: z.string().regex(/^[a-zA-Z][\w-]{0,63}$/, "letters, digits, '_' and '-'"),
  label: z.string().max(200).optional(),
  type: z.enum(["text", "textarea", "email", "tel", "number", "url", "checkbox", "date", "select"]).default("text"),
  required: z.boolean().default(false),
  max_length: z.number().int().min(1).max(10_000).optional(),
  options: z.array(z.string().max(200)).max(100).optional(),
});
export const FormDef = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lowercase letters, digits, '_' and '-'"),
  title: z.string().max(200).optional(),
  fields: z.array(FormField).min(1).max(50),
});
export type FormDef = z.output<typeof FormDef>;

/** Every setting a site has, one schema per key (the whitelist). */
export const settingSchemas = {
  site_name: z.string().max(100),
  tagline: z.string().max(300),
  language: z.string().regex(/^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$/, "a language tag such as en or pt-BR"),
  favicon: SitePath,
  not_found_path: SitePath,
  spa_fallback: z.boolean(),
  redirects: z
    .array(
      z.object({
        from: UrlPattern,
        to: z
          .string()
          .min(1)
          .max(2000)
          .regex(/^(\/|https?:\/\/)[^\s\u0000-\u001f]*$/, "a site path starting with '/' or an http(s) URL"),
        status: z.union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)]).default(301),
      }),
    )
    .max(200),
  headers: z
    .array(
      z.object({
        path: UrlPattern,
        name: z
          .string()
          .transform((n) => n.toLowerCase())
          .refine((n) => (SAFE_HEADERS as readonly string[]).includes(n), {
            message: `not an allowed header; allowed: ${SAFE_HEADERS.join(", ")}`,
          }),
        value: HeaderValue,
      }),
    )
    .max(100),
  password: z
    .string()
    .min(8)
    .max(200)
    .nullable()
    .meta({ description: "Password-protects the whole site; null removes it" }),
  business: z
    .object({
      name: z.string().max(200).optional(),
      contact: z
        .object({
          email: z.string().max(254).optional(),
          phone: z.string().max(50).optional(),
          address: z.string().max(500).optional(),
          website: z.string().max(500).optional(),
        })
        .strict()
        .optional(),
      hours: z.union([z.string().max(1000), z.record(z.string().max(20), z.string().max(200))]).optional(),
    })
    .strict(),
  // Pages-Functions style: a path pattern answered by a worker of this project (its name; it need not exist yet —
  // until it is deployed the path answers 404). Live on publish like every setting; the first match wins.
  worker_routes: z
    .array(z.object({ pattern: UrlPattern, worker: Slug }))
    .max(50)
    .meta({
      description: 'Paths answered by a worker of this project, e.g. [{ "pattern": "/api/*", "worker": "api" }]',
    }),
  forms: z
    .array(FormDef)
    .max(50)
    .refine((forms) => new Set(forms.map((f) => f.id)).size === forms.length, { message: "form ids must be unique" }),
} satisfies Record<string, z.ZodType>;

export type SettingKey = keyof typeof settingSchemas;
export type SiteSettings = { [K in Exclude<SettingKey, "password">]?: z.output<(typeof settingSchemas)[K]> };

/** The stored settings, re-checked on the way out: anything that no longer fits is ignored, never served. */
export function readSettings(stored: Record<string, unknown>): SiteSettings {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stored ?? {})) {
    if (key === "password" || !(key in settingSchemas)) continue;
    const parsed = settingSchemas[key as SettingKey].safeParse(value);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as SiteSettings;
}

const SettingsView = z
  .object({
    site_name: z.string().optional(),
    tagline: z.string().optional(),
    language: z.string().optional(),
    favicon: z.string().optional(),
    not_found_path: z.string().optional(),
    spa_fallback: z.boolean().optional(),
    redirects: z.array(z.object({ from: z.string(), to: z.string(), status: z.number().int() })).optional(),
    headers: z.array(z.object({ path: z.string(), name: z.string(), value: z.string() })).optional(),
    worker_routes: z.array(z.object({ pattern: z.string(), worker: z.string() })).optional(),
    business: z.record(z.string(), z.unknown()).optional(),
    forms: z.array(z.record(z.string(), z.unknown())).optional(),
    password_protected: z.boolean(),
  })
  .meta({ id: "SiteSettings" });

/** Which settings differ between the draft and the live release ("password" when the password does). */
export function unpublishedSettings(
  draft: { settings: Record<string, unknown>; password_hash: string | null },
  live: { settings: Record<string, unknown>; password_hash: string | null },
): string[] {
  const keys = new Set([...Object.keys(draft.settings ?? {}), ...Object.keys(live.settings ?? {})]);
  const out = [...keys].filter(
    (k) => k !== "password" && !sameSettings({ v: draft.settings?.[k] ?? null }, { v: live.settings?.[k] ?? null }),
  );
  if ((draft.password_hash ?? null) !== (live.password_hash ?? null)) out.push("password");
  return out.sort();
}

const view = (stored: { settings: Record<string, unknown>; password_hash: string | null }) =>
  ({ ...readSettings(stored.settings), password_protected: !!stored.password_hash }) as z.input<typeof SettingsView>;

export const getSiteSettings = defineOperation({
  id: "get_site_settings",
  summary: "Get the site's settings (draft and live)",
  description:
    "`draft` is what the next publish will put live; `live` is what visitors get now (the live release's settings). " +
    "`unpublished` lists the keys that differ: they take effect only when the site is published.",
  tags: ["sites"],
  scope: "settings:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/settings" },
  input: z.object({ project: ProjectRef }),
  output: z.object({
    draft: SettingsView,
    live: SettingsView,
    live_release: z
      .number()
      .int()
      .nullable()
      .meta({ description: "The live release (null: nothing published yet, so nothing is served)" }),
    unpublished: z.array(z.string()),
  }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    const site = await loadSite(ctx.db, project.id);
    const live = await liveSettings(ctx.db, project.id, site.live_release);
    return {
      draft: view(site),
      live: view(live),
      live_release: site.live_release,
      unpublished: unpublishedSettings(site, live),
    };
  },
});

export const updateSiteSettings = defineOperation({
  id: "update_site_settings",
  summary: "Change the site's draft settings",
  description:
    `Sets the given keys in the draft; null removes one. Keys: ${Object.keys(settingSchemas).join(", ")}. ` +
    "Each is checked on its own: the answer lists what was updated and what was rejected (with why). Settings go live only when the site is published.",
  tags: ["sites"],
  scope: "settings:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}/settings" },
  input: z.object({
    project: ProjectRef,
    settings: z
      .record(z.string().max(100), z.unknown())
      .meta({ description: 'Keys to set, e.g. { "site_name": "Ada\'s Bakery", "spa_fallback": true }' }),
  }),
  output: z.object({
    updated: z.array(z.string()),
    rejected: z.array(z.object({ key: z.string(), reason: z.string() })),
    settings: SettingsView.meta({ description: "The draft's settings after the change" }),
    live_release: z.number().int().nullable(),
    unpublished: z.array(z.string()).meta({ description: "Keys that differ from the live site until it is published" }),
  }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const updated: string[] = [];
    const rejected: { key: string; reason: string }[] = [];
    const set: Record<string, unknown> = {};
    const removed: string[] = [];
    let password: string | null | undefined;
    for (const [key, value] of Object.entries(input.settings)) {
      if (!(key in settingSchemas)) {
        rejected.push({ key, reason: `not a site setting; allowed: ${Object.keys(settingSchemas).join(", ")}` });
        continue;
      }
      if (value === null && key !== "password") {
        removed.push(key);
        updated.push(key);
        continue;
      }
      const parsed = settingSchemas[key as SettingKey].safeParse(value);
      if (!parsed.success) {
        rejected.push({
          key,
          reason: parsed.error.issues
            .map((i) => (i.path.length ? `${i.path.join(".")}: ${i.message}` : i.message))
            .join("; "),
        });
        continue;
      }
      if (key === "password") password = parsed.data as string | null;
      else set[key] = parsed.data;
      updated.push(key);
    }
    // Hashed before the transaction: scrypt is slow, and a transaction must not wait on it.
    const passwordHash = typeof password === "string" ? await hashPassword(password) : password;
    // Only the draft changes: the serving path reads the live release's settings, so nothing here is seen by
    // visitors (and no serving cache needs dropping) until publish_site.
    return await ctx.tx(async (trx) => {
      const site = await lockSite(trx, project.id);
      const next: Record<string, unknown> = { ...site.settings, ...set };
      for (const key of removed) delete next[key];
      const draft = { settings: next, password_hash: passwordHash !== undefined ? passwordHash : site.password_hash };
      const stored = await trx
        .updateTable("sites")
        .set({
          settings: JSON.stringify(next),
          ...(passwordHash !== undefined ? { password_hash: passwordHash } : {}),
          updated_at: new Date(),
        })
        .where("project_id", "=", project.id)
        .returning(["settings"])
        .executeTakeFirstOrThrow();
      const live = await liveSettings(trx, project.id, site.live_release);
      return {
        updated,
        rejected,
        settings: view(draft),
        live_release: site.live_release,
        unpublished: unpublishedSettings({ ...draft, settings: stored.settings }, live),
      };
    });
  },
});

export const settingsOperations = [getSiteSettings, updateSiteSettings];
