// The in-app notification list (like Cirrus's me/notifications): newest first, read or unread, per account.
import { z } from "zod";
import { iso, isoOrNull, Timestamp } from "../kernel/common.ts";
import { notFound, present, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { Cursor, decodeTimeIdCursor, encodeCursor, Limit, pageOf } from "../kernel/pagination.ts";

const Notification = z
  .object({
    id: z.string(),
    type: z.string(),
    event_id: z.string().nullable(),
    project: z.string().nullable(),
    title: z.string(),
    body: z.string().meta({ description: "Plain text; may quote what visitors or agents wrote" }),
    read_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "Notification" });

export const listNotifications = defineOperation({
  id: "list_notifications",
  summary: "List your notifications",
  description: "Newest first; `unread` for only those not yet marked read.",
  tags: ["notifications"],
  scope: "notifications:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/notifications" },
  input: z.object({ unread: z.boolean().optional(), limit: Limit, cursor: Cursor }),
  output: z.object({
    notifications: z.array(Notification),
    unread_count: z.number(),
    next_cursor: z.string().nullable(),
  }),
  handler: async (ctx, input) => {
    const me = ctx.principal.account.id;
    let q = ctx.db
      .selectFrom("notifications as n")
      .leftJoin("projects as p", "p.id", "n.project_id")
      .select(["n.id", "n.type", "n.event_id", "p.slug", "n.title", "n.body", "n.read_at", "n.created_at"])
      .where("n.account_id", "=", me)
      .orderBy("n.created_at", "desc")
      .orderBy("n.id", "desc")
      .limit(input.limit + 1);
    if (input.unread) q = q.where("n.read_at", "is", null);
    if (input.cursor) {
      const { at, id } = decodeTimeIdCursor(input.cursor);
      q = q.where((eb) =>
        eb.or([eb("n.created_at", "<", at), eb.and([eb("n.created_at", "=", at), eb("n.id", "<", id)])]),
      );
    }
    const rows = await q.execute();
    const { page, next_cursor } = pageOf(rows, input.limit, (r) => encodeCursor(iso(r.created_at), r.id));
    const unread = await ctx.db
      .selectFrom("notifications")
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .where("account_id", "=", me)
      .where("read_at", "is", null)
      .executeTakeFirstOrThrow();
    return {
      notifications: page.map((r) => ({
        id: r.id,
        type: r.type,
        event_id: r.event_id,
        project: r.slug,
        title: r.title,
        body: r.body,
        read_at: isoOrNull(r.read_at),
        created_at: iso(r.created_at),
      })),
      unread_count: Number(unread.n),
      next_cursor,
    };
  },
});

export const markNotificationRead = defineOperation({
  id: "mark_notification_read",
  summary: "Mark one notification read",
  tags: ["notifications"],
  scope: "notifications:write",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/notifications/{id}/read" },
  input: z.object({ id: z.uuid() }),
  output: z.object({ id: z.string(), read_at: Timestamp }),
  handler: async (ctx, input) => {
    const row = await ctx.db
      .updateTable("notifications")
      .set((eb) => ({ read_at: eb.fn.coalesce("read_at", eb.val(new Date())) }))
      .where("id", "=", input.id)
      .where("account_id", "=", ctx.principal.account.id)
      .returning(["id", "read_at"])
      .executeTakeFirst();
    if (!row) throw notFound("notification", input.id);
    return { id: row.id, read_at: iso(present(row.read_at, "read_at")) };
  },
});

export const markAllRead = defineOperation({
  id: "mark_all_read",
  summary: "Mark all your notifications read",
  tags: ["notifications"],
  scope: "notifications:write",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/notifications/read-all" },
  input: z.object({}),
  output: z.object({ marked: z.number() }),
  handler: async (ctx) => {
    const res = await ctx.db
      .updateTable("notifications")
      .set({ read_at: new Date() })
      .where("account_id", "=", ctx.principal.account.id)
      .where("read_at", "is", null)
      .executeTakeFirst();
    return { marked: Number(res.numUpdatedRows) };
  },
});
