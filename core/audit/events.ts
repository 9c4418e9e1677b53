// Reading the audit trail: your own calls, and every call touching a project you belong to.
import { sql } from "kysely";
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { defineOperation, reachableProjects } from "../kernel/operation.ts";
import { Limit, pageOf } from "../kernel/pagination.ts";

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
    let q = ctx.db
      .selectFrom("audit_events")
      .selectAll()
      .orderBy("id", "desc")
      .limit(input.limit + 1);
    // Events name projects by slug, and a deleted project's slug can be taken again by anyone: a project's
    // trail starts at its creation, so whoever takes a slug next never sees the events of the one before.
    if (ctx.project) {
      q = q.where("project", "=", ctx.project.slug).where("at", ">=", ctx.project.created_at);
    } else {
      // A credential restricted to projects (a token's list, an agent run's or Telegram link's project, an MCP
      // pin) sees those projects' events and its own calls, never the account's other calls: those name other
      // projects, tokens and account changes.
      const reach = reachableProjects(ctx.principal);
      const cred = ctx.principal.credential;
      const ownPrefix = cred?.kind === "token" ? cred.prefix : null;
      const inReach = reach && !reach.length ? [""] : reach; // reaches nothing; `in ()` is not SQL
      q = q.where((eb) =>
        eb.or([
          inReach
            ? eb.and([eb("account_id", "=", me), eb("token_prefix", "=", ownPrefix ?? "")])
            : eb("account_id", "=", me),
          eb.exists(
            eb
              .selectFrom("projects")
              .innerJoin("project_members", "project_members.project_id", "projects.id")
              .select("projects.id")
              .whereRef("projects.slug", "=", "audit_events.project")
              .whereRef("projects.created_at", "<=", "audit_events.at")
              .where("project_members.account_id", "=", me)
              .$call((sq) => (inReach ? sq.where("projects.slug", "in", inReach) : sq)),
          ),
        ]),
      );
    }
    if (input.operation) q = q.where("operation", "=", input.operation);
    if (input.actor) q = q.where("account_id", "=", input.actor);
    if (input.outcome) q = q.where("outcome", "=", input.outcome);
    if (input.since) q = q.where("at", ">=", new Date(input.since));
    if (input.cursor) q = q.where("id", "<", sql<string>`${input.cursor}::bigint`);
    await ctx.platform.audit.flush(); // batched reads first, so the trail is complete up to now
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => String(last.id));
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
