// Business data: a site's menu, services, FAQ and opening hours as structured data, so the public per-site MCP
// and REST can answer "what does it cost / when is it open" without scraping pages. Each kind is stored as
// its own key of the draft's settings (`sites.settings`), which makes it travel exactly like a setting: it
// goes live only with publish_site, is stored with each release (rollback restores it), is reset by
// discard_draft and shows up in `unpublished`. Public answers read the live release only.
// The owner operations are the opt-in MCP toolset `business` (the default tool list has a token budget).
import { z } from "zod";
import { ProjectRef } from "../kernel/common.ts";
import { defineOperation } from "../kernel/operation.ts";
import { liveSettings, loadSite, lockSite, sameSettings, siteProject } from "./site.ts";

/** One line of plain text: what a visitor's agent reads back, so no control characters. */
const Line = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must be a single line of text");
const Text = z
  .string()
  .max(2000)
  .regex(/^[^\u0000-\u0008\u000b-\u001f\u007f]*$/, "must be plain text");

/** A price in integer minor units (cents) with its ISO 4217 currency: no float rounding, no ambiguity. */
const Money = z.object({
  amount: z.number().int().min(0).max(1_000_000_000).meta({ description: "Minor units, e.g. 450 = 4.50" }),
  currency: z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code such as EUR"),
});

const MenuItem = z.object({
  name: Line(200),
  description: Text.optional(),
  price: Money.optional(),
  tags: z.array(Line(50)).max(20).optional(),
});
const Menu = z
  .array(z.object({ name: Line(200), description: Text.optional(), items: z.array(MenuItem).max(200) }))
  .max(50)
  .meta({ description: "Menu sections with their items" });

const Services = z
  .array(
    z.object({
      name: Line(200),
      description: Text.optional(),
      price: Money.optional(),
      duration_minutes: z.number().int().min(1).max(10_080).optional(),
    }),
  )
  .max(200);

const Faq = z.array(z.object({ question: Line(500), answer: Text.min(1) })).max(200);

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
const Clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, "a time HH:MM (00:00 to 24:00)");

/** An IANA zone the runtime knows: hours without a zone would be wrong for every visitor elsewhere. */
const TimeZone = z
  .string()
  .max(64)
  .refine(
    (tz) => {
      try {
        new Intl.DateTimeFormat("en", { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    },
    { message: "an IANA time zone such as Europe/Lisbon" },
  );

const OpeningHours = z
  .object({
    timezone: TimeZone,
    weekly: z
      .array(
        z
          .object({ day: z.enum(DAYS), open: Clock, close: Clock })
          .refine((r) => r.open < r.close, { message: "close must be after open (split a range past midnight)" }),
      )
      .max(50),
    note: Text.optional(),
  })
  .superRefine((h, ctx) => {
    // Overlapping ranges on one day are a typo, and would make "is it open now" ambiguous.
    for (const day of DAYS) {
      const ranges = h.weekly.filter((r) => r.day === day).sort((a, b) => a.open.localeCompare(b.open));
      ranges.forEach((r, i) => {
        const before = ranges[i - 1];
        if (before && r.open < before.close)
          ctx.addIssue({ code: "custom", path: ["weekly"], message: `ranges on ${day} overlap` });
      });
    }
  });

/** Each kind of business data: its settings key and schema. */
export const businessSchemas = { menu: Menu, services: Services, faq: Faq, opening_hours: OpeningHours };
export type BusinessKind = keyof typeof businessSchemas;
const KINDS = Object.keys(businessSchemas) as BusinessKind[];

export type BusinessData = { [K in BusinessKind]: z.output<(typeof businessSchemas)[K]> | null };

/** The business data in stored settings, re-checked on the way out: what no longer fits is never served. */
export function readBusiness(stored: Record<string, unknown>): BusinessData {
  const out = {} as Record<BusinessKind, unknown>;
  for (const kind of KINDS) {
    const parsed = businessSchemas[kind].safeParse(stored?.[kind]);
    out[kind] = parsed.success ? parsed.data : null;
  }
  return out as BusinessData;
}

const BusinessView = z
  .object({
    menu: Menu.nullable(),
    services: Services.nullable(),
    faq: Faq.nullable(),
    opening_hours: OpeningHours.nullable(),
  })
  .meta({ id: "BusinessData" });

const unpublished = (draft: Record<string, unknown>, live: Record<string, unknown>) =>
  KINDS.filter((k) => !sameSettings({ v: draft?.[k] ?? null }, { v: live?.[k] ?? null }));

const Answer = z.object({
  draft: BusinessView,
  live: BusinessView,
  live_release: z.number().int().nullable(),
  unpublished: z.array(z.string()).meta({ description: "Kinds that differ from the live site until published" }),
});

export const getBusinessData = defineOperation({
  id: "get_business_data",
  summary: "Get the site's business data",
  description: "Menu, services, FAQ and opening hours: draft and live.",
  tags: ["sites", "business"],
  scope: "settings:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/business" },
  input: z.object({ project: ProjectRef }),
  output: Answer,
  handler: async (ctx) => {
    const project = siteProject(ctx);
    const site = await loadSite(ctx.db, project.id);
    const live = await liveSettings(ctx.db, project.id, site.live_release);
    return {
      draft: readBusiness(site.settings),
      live: readBusiness(live.settings),
      live_release: site.live_release,
      unpublished: unpublished(site.settings, live.settings),
    };
  },
});

export const updateBusinessData = defineOperation({
  id: "update_business_data",
  summary: "Change the site's business data",
  description: "Replaces the given kinds in the draft (null removes one); live on publish_site. Prices in minor units.",
  tags: ["sites", "business"],
  scope: "settings:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}/business" },
  input: z.object({
    project: ProjectRef,
    menu: Menu.nullable().optional(),
    services: Services.nullable().optional(),
    faq: Faq.nullable().optional(),
    opening_hours: OpeningHours.nullable().optional(),
  }),
  output: Answer,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    return await ctx.tx(async (trx) => {
      const site = await lockSite(trx, project.id);
      const next: Record<string, unknown> = { ...site.settings };
      for (const kind of KINDS) {
        if (input[kind] === undefined) continue;
        if (input[kind] === null) delete next[kind];
        else next[kind] = input[kind];
      }
      // Only the draft changes: visitors (and the public MCP) read the live release's settings.
      const stored = await trx
        .updateTable("sites")
        .set({ settings: JSON.stringify(next), updated_at: new Date() })
        .where("project_id", "=", project.id)
        .returning(["settings"])
        .executeTakeFirstOrThrow();
      const live = await liveSettings(trx, project.id, site.live_release);
      return {
        draft: readBusiness(stored.settings),
        live: readBusiness(live.settings),
        live_release: site.live_release,
        unpublished: unpublished(stored.settings, live.settings),
      };
    });
  },
});

export const businessOperations = [getBusinessData, updateBusinessData];
