// Per-account notification preferences, per event kind: in-app, email, Telegram. Unset kinds use the catalog's
// defaults (in-app on; email and Telegram for what needs a person soon).
import { z } from "zod";
import type { DB } from "../kernel/operation.ts";
import { defineOperation } from "../kernel/operation.ts";
import { type EventKind, EventType, eventKinds } from "./catalog.ts";

export interface Channels {
  in_app: boolean;
  email: boolean;
  telegram: boolean;
}

export async function channelsFor(db: DB, accountId: string, kind: EventKind): Promise<Channels> {
  const row = await db
    .selectFrom("notification_preferences")
    .select(["in_app", "email", "telegram"])
    .where("account_id", "=", accountId)
    .where("event_type", "=", kind.type)
    .executeTakeFirst();
  return row ?? { in_app: true, ...kind.defaults };
}

/** What a person reads: a title and plain-text lines of the event's data (never markup). */
export function notificationText(kind: EventKind, data: unknown): { title: string; body: string } {
  const d = (data ?? {}) as Record<string, unknown>;
  const lines = Object.entries(d)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`.slice(0, 500));
  return { title: kind.title(d).slice(0, 200), body: `${kind.summary}.\n\n${lines.join("\n")}` };
}

const Channel = z.enum(["in_app", "email", "telegram"]);
const Channels = z.array(Channel).max(3).meta({
  description:
    "Where you are told: `in_app` (list_notifications), `email`, `telegram` (your linked chats); empty: nowhere",
});
const Preference = z.object({ event_type: EventType, channels: Channels }).meta({ id: "NotificationPreference" });
const toList = (c: Channels) => Channel.options.filter((k) => c[k]);

export const listNotificationPreferences = defineOperation({
  id: "list_notification_preferences",
  summary: "List your notification preferences",
  description: "One row per event kind: whether you get it in the app, by email, and in your linked Telegram chats.",
  tags: ["notifications"],
  scope: "notifications:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/notification-preferences" },
  input: z.object({}),
  output: z.object({ preferences: z.array(Preference) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("notification_preferences")
      .selectAll()
      .where("account_id", "=", ctx.principal.account.id)
      .execute();
    const set = new Map(rows.map((r) => [r.event_type, r]));
    return {
      preferences: eventKinds
        .filter((k) => k.type !== "webhook.test")
        .map((k) => {
          const r = set.get(k.type);
          return {
            event_type: k.type,
            channels: toList(r ?? { in_app: true, ...k.defaults }),
          };
        }),
    };
  },
});

export const setNotificationPreference = defineOperation({
  id: "set_notification_preference",
  summary: "Choose how you are told of one kind of event",
  tags: ["notifications"],
  scope: "notifications:write",
  effect: "write",
  level: "account",
  http: { method: "put", path: "/notification-preferences/{event_type}" },
  input: z.object({ event_type: EventType, channels: Channels }),
  output: Preference,
  handler: async (ctx, input) => {
    const on = new Set(input.channels);
    const set = { in_app: on.has("in_app"), email: on.has("email"), telegram: on.has("telegram") };
    await ctx.db
      .insertInto("notification_preferences")
      .values({ account_id: ctx.principal.account.id, event_type: input.event_type, ...set })
      .onConflict((oc) => oc.columns(["account_id", "event_type"]).doUpdateSet(set))
      .execute();
    return { event_type: input.event_type, channels: toList(set) };
  },
});
