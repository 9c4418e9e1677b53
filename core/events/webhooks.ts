// Webhook endpoints: an account's (every event of the account) or a project's (only that project's events).
// Deliveries are signed by the Standard Webhooks scheme with the endpoint's `whsec_` secret, which is encrypted
// at rest and shown only by create_webhook_endpoint and rotate_webhook_secret.
import crypto from "node:crypto";
import net from "node:net";
import { z } from "zod";
import { resolveEgress } from "../egress.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, notFound, present, validationError } from "../kernel/errors.ts";
import { type AuthedContext, defineOperation, reachableProjects } from "../kernel/operation.ts";
import { Cursor, decodeCursor, decodeTimeIdCursor, encodeCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { EventType, eventKinds } from "./catalog.ts";
import { publishEvent } from "./publish.ts";
import { createDelivery } from "./worker.ts";

const TargetUrl = z
  .url({ protocol: /^https?$/, error: "an http or https URL" })
  .max(2000)
  .meta({ description: "Where deliveries are POSTed (http or https)", example: "https://example.com/hooks/bosun" });

const WebhookEndpoint = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string(),
    project: z
      .string()
      .nullable()
      .meta({ description: "Set: only this project's events; null: every event of your account" }),
    events: z.array(z.string()).meta({ description: "Event types delivered; empty: every type" }),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "WebhookEndpoint" });

const WithSecret = WebhookEndpoint.extend({
  secret: z
    .string()
    .meta({ description: "The `whsec_` signing secret for your Standard Webhooks verifier; shown only now" }),
});

type EndpointRow = {
  id: string;
  url: string;
  description: string;
  slug: string | null;
  event_types: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
};

const view = (r: EndpointRow) => ({
  id: r.id,
  url: r.url,
  description: r.description,
  project: r.slug,
  events: r.event_types,
  enabled: r.enabled,
  disabled_reason: r.disabled_reason,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

const newSecret = () => `whsec_${crypto.randomBytes(32).toString("base64")}`;

/** Refuses a target whose address is written literally and is private (a name is checked at each delivery). */
async function checkTarget(ctx: AuthedContext, url: string) {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) || host === "localhost")
    await resolveEgress(host, { allowPrivate: ctx.platform.config.egressAllowPrivate });
}

const endpointQuery = (ctx: AuthedContext) =>
  ctx.db
    .selectFrom("webhook_endpoints as w")
    .leftJoin("projects as p", "p.id", "w.project_id")
    .select([
      "w.id",
      "w.url",
      "w.description",
      "p.slug",
      "w.event_types",
      "w.enabled",
      "w.disabled_reason",
      "w.created_at",
      "w.updated_at",
      "w.project_id",
      "w.account_id",
    ])
    .where("w.account_id", "=", ctx.principal.account.id);

/** The caller's endpoint, or 404: another account's, or (to a credential restricted to projects) an account endpoint. */
async function ownEndpoint(ctx: AuthedContext, id: string) {
  const row = await endpointQuery(ctx).where("w.id", "=", id).executeTakeFirst();
  const reach = reachableProjects(ctx.principal);
  if (!row || (reach && (!row.slug || !reach.includes(row.slug)))) throw notFound("webhook endpoint", id);
  return row;
}

export const listEventTypes = defineOperation({
  id: "list_event_types",
  summary: "List the event types webhooks and notifications carry",
  description: "The catalog; each type's payload schema is in the OpenAPI document's `webhooks` section.",
  tags: ["webhooks"],
  scope: "webhooks:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/event-types" },
  input: z.object({}),
  output: z.object({ event_types: z.array(z.object({ type: z.string(), summary: z.string() })) }),
  handler: async () => ({ event_types: eventKinds.map((k) => ({ type: k.type, summary: k.summary })) }),
});

export const createWebhookEndpoint = defineOperation({
  id: "create_webhook_endpoint",
  summary: "Create a webhook endpoint",
  description:
    "With `project`: that project's events only; without: every event of your account. Deliveries are signed by the " +
    "Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the returned `secret`.",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "write",
  level: "any",
  secretOutput: true,
  http: { method: "post", path: "/webhooks", status: 201 },
  input: z.object({
    project: ProjectRef.optional(),
    url: TargetUrl,
    events: z.array(EventType).max(50).default([]).meta({ description: "Event types to deliver; empty: all" }),
    description: z.string().max(200).default(""),
  }),
  output: WithSecret,
  handler: async (ctx, input) => {
    const reach = reachableProjects(ctx.principal);
    // An account endpoint would receive every project's events: a credential restricted to projects must name one.
    if (!ctx.project && reach)
      throw validationError([
        { path: "project", message: `this credential is restricted to projects (${reach.join(", ")}): name one` },
      ]);
    await checkTarget(ctx, input.url);
    const secret = newSecret();
    const id = crypto.randomUUID();
    await ctx.db
      .insertInto("webhook_endpoints")
      .values({
        id,
        account_id: ctx.principal.account.id,
        project_id: ctx.project?.id ?? null,
        url: input.url,
        description: input.description,
        event_types: [...new Set(input.events)],
        secret_enc: ctx.platform.secrets.encrypt(secret),
      })
      .execute();
    return { ...view(await ownEndpoint(ctx, id)), secret };
  },
});

export const listWebhookEndpoints = defineOperation({
  id: "list_webhook_endpoints",
  summary: "List your webhook endpoints",
  tags: ["webhooks"],
  scope: "webhooks:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/webhooks" },
  input: z.object({ project: ProjectRef.optional(), limit: Limit, cursor: Cursor }),
  output: z.object({ endpoints: z.array(WebhookEndpoint), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    let q = endpointQuery(ctx)
      .orderBy("w.id")
      .limit(input.limit + 1);
    const reach = reachableProjects(ctx.principal);
    if (ctx.project) q = q.where("w.project_id", "=", ctx.project.id);
    else if (reach) q = q.where("p.slug", "in", reach.length ? reach : [""]);
    if (input.cursor) {
      const [id = ""] = decodeCursor(input.cursor, 1);
      q = q.where("w.id", ">", id);
    }
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (r) => encodeCursor(r.id));
    return { endpoints: page.map(view), next_cursor };
  },
});

export const updateWebhookEndpoint = defineOperation({
  id: "update_webhook_endpoint",
  summary: "Change a webhook endpoint's URL, events, description, or turn it on or off",
  description:
    "Turning a disabled endpoint back on clears why it was disabled; past failed deliveries can be redelivered.",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "write",
  level: "any",
  http: { method: "patch", path: "/webhooks/{id}" },
  input: z.object({
    id: z.uuid(),
    url: TargetUrl.optional(),
    events: z.array(EventType).max(50).optional(),
    description: z.string().max(200).optional(),
    enabled: z.boolean().optional(),
  }),
  output: WebhookEndpoint,
  handler: async (ctx, input) => {
    await ownEndpoint(ctx, input.id);
    if (input.url) await checkTarget(ctx, input.url);
    await ctx.db
      .updateTable("webhook_endpoints")
      .set({
        ...(input.url !== undefined && { url: input.url }),
        ...(input.events !== undefined && { event_types: [...new Set(input.events)] }),
        ...(input.description !== undefined && { description: input.description }),
        ...(input.enabled !== undefined && { enabled: input.enabled, disabled_reason: null }),
        updated_at: new Date(),
      })
      .where("id", "=", input.id)
      .execute();
    return view(await ownEndpoint(ctx, input.id));
  },
});

export const deleteWebhookEndpoint = defineOperation({
  id: "delete_webhook_endpoint",
  summary: "Delete a webhook endpoint and its delivery log",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "destructive",
  level: "any",
  http: { method: "delete", path: "/webhooks/{id}" },
  input: z.object({ id: z.uuid() }),
  output: z.object({ deleted: z.literal(true) }),
  handler: async (ctx, input) => {
    await ownEndpoint(ctx, input.id);
    await ctx.db.deleteFrom("webhook_endpoints").where("id", "=", input.id).execute();
    return { deleted: true as const };
  },
});

export const rotateWebhookSecret = defineOperation({
  id: "rotate_webhook_secret",
  summary: "Replace a webhook endpoint's signing secret",
  description: "Deliveries from now on are signed with the new secret only; the old one stops verifying.",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "write",
  level: "any",
  secretOutput: true,
  http: { method: "post", path: "/webhooks/{id}/rotate-secret" },
  input: z.object({ id: z.uuid() }),
  output: WithSecret,
  handler: async (ctx, input) => {
    await ownEndpoint(ctx, input.id);
    const secret = newSecret();
    await ctx.db
      .updateTable("webhook_endpoints")
      .set({ secret_enc: ctx.platform.secrets.encrypt(secret), updated_at: new Date() })
      .where("id", "=", input.id)
      .execute();
    return { ...view(await ownEndpoint(ctx, input.id)), secret };
  },
});

const Delivery = z
  .object({
    id: z.string().meta({ description: "The delivery's id; `webhook-id` is `msg_` followed by it" }),
    webhook_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    status: z.enum(["pending", "succeeded", "failed"]),
    attempts: z.number(),
    next_attempt_at: Timestamp.nullable(),
    response_status: z.number().nullable(),
    latency_ms: z.number().nullable(),
    response_excerpt: z.string().nullable().meta({ description: "The start of the endpoint's last answer" }),
    error: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "WebhookDelivery" });

const deliveryQuery = (ctx: AuthedContext) =>
  ctx.db
    .selectFrom("webhook_deliveries as d")
    .innerJoin("events as e", "e.id", "d.event_id")
    .select([
      "d.id",
      "d.endpoint_id",
      "d.event_id",
      "e.type",
      "d.status",
      "d.attempts",
      "d.next_attempt_at",
      "d.response_status",
      "d.latency_ms",
      "d.response_excerpt",
      "d.error",
      "d.created_at",
      "d.updated_at",
    ]);

type DeliveryRow = Awaited<ReturnType<ReturnType<typeof deliveryQuery>["executeTakeFirstOrThrow"]>>;
const deliveryView = (r: DeliveryRow) => ({
  id: r.id,
  webhook_id: `msg_${r.id}`,
  event_id: r.event_id,
  event_type: r.type,
  status: r.status,
  attempts: r.attempts,
  next_attempt_at: isoOrNull(r.next_attempt_at),
  response_status: r.response_status,
  latency_ms: r.latency_ms,
  response_excerpt: r.response_excerpt,
  error: r.error,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
});

export const sendTestEvent = defineOperation({
  id: "send_test_event",
  summary: "Send a `webhook.test` event to one endpoint",
  description: "Delivered like any event (signed, retried); follow it with list_webhook_deliveries.",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "write",
  level: "any",
  http: { method: "post", path: "/webhooks/{id}/test", status: 202 },
  input: z.object({ id: z.uuid() }),
  output: Delivery,
  handler: async (ctx, input) =>
    ctx.tx(async (trx) => {
      const ep = await ownEndpoint({ ...ctx, db: trx }, input.id);
      const project = ep.project_id
        ? { id: ep.project_id, slug: present(ep.slug, "the endpoint's project slug") }
        : null;
      const eventId = await publishEvent(trx, {
        type: "webhook.test",
        account: ep.account_id,
        project,
        data: { endpoint_id: ep.id, message: "A test event from Bosun" },
      });
      const id = await createDelivery(trx, ep.id, eventId);
      return deliveryView(
        await deliveryQuery({ ...ctx, db: trx })
          .where("d.id", "=", id)
          .executeTakeFirstOrThrow(),
      );
    }),
});

export const listWebhookDeliveries = defineOperation({
  id: "list_webhook_deliveries",
  summary: "The delivery log of a webhook endpoint",
  description: "Newest first: each delivery's status, attempts, latency and the start of the last answer.",
  tags: ["webhooks"],
  scope: "webhooks:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/webhooks/{id}/deliveries" },
  input: z.object({
    id: z.uuid(),
    status: z.enum(["pending", "succeeded", "failed"]).optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ deliveries: z.array(Delivery), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    await ownEndpoint(ctx, input.id);
    let q = deliveryQuery(ctx)
      .where("d.endpoint_id", "=", input.id)
      .orderBy("d.created_at", "desc")
      .orderBy("d.id", "desc")
      .limit(input.limit + 1);
    if (input.status) q = q.where("d.status", "=", input.status);
    if (input.cursor) {
      const { at, id } = decodeTimeIdCursor(input.cursor);
      q = q.where((eb) =>
        eb.or([eb("d.created_at", "<", at), eb.and([eb("d.created_at", "=", at), eb("d.id", "<", id)])]),
      );
    }
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (r) => encodeCursor(iso(r.created_at), r.id));
    return { deliveries: page.map(deliveryView), next_cursor };
  },
});

export const redeliverWebhook = defineOperation({
  id: "redeliver_webhook",
  summary: "Deliver an event to its endpoint again",
  description:
    "Starts the delivery's attempts over, with the same `webhook-id` (receivers that deduplicate see the same " +
    "message). The endpoint must be enabled.",
  tags: ["webhooks"],
  scope: "webhooks:write",
  effect: "write",
  level: "any",
  http: { method: "post", path: "/webhook-deliveries/{id}/redeliver", status: 202 },
  input: z.object({ id: z.uuid() }),
  output: Delivery,
  handler: async (ctx, input) =>
    ctx.tx(async (trx) => {
      const tctx = { ...ctx, db: trx };
      const d = await deliveryQuery(tctx).where("d.id", "=", input.id).executeTakeFirst();
      if (!d) throw notFound("webhook delivery", input.id);
      const ep = await ownEndpoint(tctx, d.endpoint_id).catch(() => {
        throw notFound("webhook delivery", input.id);
      });
      if (!ep.enabled)
        throw new BosunError("conflict", "the endpoint is disabled: turn it on with update_webhook_endpoint first");
      await trx
        .updateTable("webhook_deliveries")
        .set({ status: "pending", attempts: 0, next_attempt_at: new Date(), updated_at: new Date() })
        .where("id", "=", d.id)
        .execute();
      await trx
        .insertInto("jobs")
        .values({
          queue: "events",
          key: `deliver:${d.id}`,
          payload: JSON.stringify({ kind: "deliver", delivery_id: d.id }),
        })
        .onConflict((oc) => oc.columns(["queue", "key"]).where("state", "in", ["ready", "leased"]).doNothing())
        .execute();
      return deliveryView(await deliveryQuery(tctx).where("d.id", "=", d.id).executeTakeFirstOrThrow());
    }),
});
