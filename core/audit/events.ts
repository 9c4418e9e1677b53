// Reading the audit trail: your own calls, and every call touching a project you belong to.
import { type ExpressionBuilder, type Selectable, sql } from "kysely";
import { z } from "zod";
import type { AuditEventsTable, Database } from "../../schema/database.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { defineOperation, reachableProjects } from "../kernel/operation.ts";
import { Limit, pageOf } from "../kernel/pagination.ts";

type AuditEventRow = Selectable<AuditEventsTable>;

const AuditEvent = z
  .object({
    id: z.string(),
    request_id: z.string(),
    at: Timestamp,
    actor: z.object({ account_id: z.string().nullable(), token_prefix: z.string().nullable() }),
    operation: z.string(),
    surface: z.string(),
    project: z.string().nullable(),
    outcome: z.string().meta({ description: "`ok`, or the error code" }),
    duration_ms: z.number(),
    client_ip: z.string().nullable(),
    input: z.record(z.string(), z.unknown()).nullable().meta({ description: "The call's input, secrets redacted" }),
  })
  .meta({ id: "AuditEvent" });

export const listAuditEvents = defineOperation({
  id: "list_audit_events",
  summary: "List audit events",
  description:
    "Newest first. Without `project`: your own calls and all calls on your projects. A credential restricted to " +
    "projects sees only those projects' events and its own calls.",
  tags: ["audit"],
  scope: "audit:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/audit-events" },
  input: z.object({
    project: ProjectRef.optional(),
    operation: z.string().max(64).optional(),
    actor: z.uuid().optional().meta({ description: "Account id of the caller" }),
    outcome: z.string().max(64).optional().meta({ description: "`ok` or an error code" }),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: Limit,
    // Bounded so the ::bigint cast below cannot overflow (a 19+ digit string would fail in the database).
    cursor: z
      .string()
      .regex(/^\d{1,18}$/, "a next_cursor value")
      .optional(),
  }),
  output: z.object({ events: z.array(AuditEvent), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const me = ctx.principal.account.id;
    const take = input.limit + 1;
    // The filters every branch below applies, on its own rows.
    const filters = (eb: ExpressionBuilder<Database, "audit_events">) =>
      eb.and([
        ...(input.operation ? [eb("audit_events.operation", "=", input.operation)] : []),
        ...(input.actor ? [eb("audit_events.account_id", "=", input.actor)] : []),
        ...(input.outcome ? [eb("audit_events.outcome", "=", input.outcome)] : []),
        ...(input.since ? [eb("audit_events.at", ">=", new Date(input.since))] : []),
        ...(input.cursor ? [eb("audit_events.id", "<", sql<string>`${input.cursor}::bigint`)] : []),
      ]);
    const newest = () =>
      ctx.db
        .selectFrom("audit_events")
        .selectAll("audit_events")
        .where(filters)
        .orderBy("audit_events.id", "desc")
        .limit(take);
    await ctx.platform.audit.flush(); // batched reads first, so the trail is complete up to now
    let rows: AuditEventRow[];
    // Events name projects by slug, and a deleted project's slug can be taken again by anyone: a project's
    // trail starts at its creation, so whoever takes a slug next never sees the events of the one before.
    if (ctx.project) {
      rows = await newest().where("project", "=", ctx.project.slug).where("at", ">=", ctx.project.created_at).execute();
    } else {
      // A credential restricted to projects (a token's list, an agent run's or Telegram link's project, an MCP
      // pin) sees those projects' events and its own calls, never the account's other calls: those name other
      // projects, tokens and account changes.
      const reach = reachableProjects(ctx.principal);
      const cred = ctx.principal.credential;
      const ownPrefix = cred?.kind === "token" ? cred.prefix : null;
      const inReach = reach && !reach.length ? [""] : reach; // reaches nothing; `in ()` is not SQL
      // Two branches, each walking an index newest first and stopping at a page, merged here: your own calls
      // (account_id, id), and per project you belong to its events since its creation (project, id). One query
      // with an OR of both walked every record by id testing the OR, which on a big table read far past a
      // page whenever a filter was selective (issue 19's bench).
      const own = newest().where(
        inReach
          ? (eb) => eb.and([eb("account_id", "=", me), eb("token_prefix", "=", ownPrefix ?? "")])
          : (eb) => eb("account_id", "=", me),
      );
      // Not your own calls (those come from the first branch): null-safe, so a record without an actor stays.
      const notOwn = inReach
        ? sql<boolean>`not (audit_events.account_id is not distinct from ${me}::uuid
            and audit_events.token_prefix is not distinct from ${ownPrefix ?? ""})`
        : sql<boolean>`audit_events.account_id is distinct from ${me}::uuid`;
      const shared = ctx.db
        .selectFrom("projects")
        .innerJoin("project_members", "project_members.project_id", "projects.id")
        .where("project_members.account_id", "=", me)
        .$call((q) => (inReach ? q.where("projects.slug", "in", inReach) : q))
        .innerJoinLateral(
          (eb) =>
            eb
              .selectFrom("audit_events")
              .selectAll("audit_events")
              .whereRef("audit_events.project", "=", "projects.slug")
              .whereRef("audit_events.at", ">=", "projects.created_at")
              .where(notOwn)
              .where(filters)
              .orderBy("audit_events.id", "desc")
              .limit(take)
              .as("e"),
          (join) => join.onTrue(),
        )
        .selectAll("e")
        .orderBy("e.id", "desc")
        .limit(take);
      const [a, b] = await Promise.all([own.execute(), shared.execute()]);
      rows = [...a, ...b].sort((x, y) => (BigInt(y.id) > BigInt(x.id) ? 1 : -1)).slice(0, take);
    }
    const { page, next_cursor } = pageOf(rows, input.limit, (last) => String(last.id));
    return {
      events: page.map((e) => ({
        id: String(e.id),
        request_id: e.request_id,
        at: iso(e.at),
        actor: { account_id: e.account_id, token_prefix: e.token_prefix },
        operation: e.operation,
        surface: e.surface,
        project: e.project,
        outcome: e.outcome,
        duration_ms: e.duration_ms,
        client_ip: e.client_ip,
        input: (e.input as Record<string, unknown> | null) ?? null,
      })),
      next_cursor,
    };
  },
});
