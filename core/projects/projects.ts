// Projects: a site or an instance, owned by an account, shared with members whose role caps their tokens.
import crypto from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import { displayName, iso, ProjectRef, Slug, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict } from "../kernel/errors.ts";
import { defineOperation, reachableProjects } from "../kernel/operation.ts";
import { Cursor, Limit, pageOf } from "../kernel/pagination.ts";
import { prepared } from "../kernel/prepared.ts";
import { type ProjectRole, projectRoles } from "../kernel/scopes.ts";
import { siteChanged } from "../sites/site.ts";

export const Role = z.enum(projectRoles as [ProjectRole, ...ProjectRole[]]);

export const Project = z
  .object({
    slug: z.string(),
    name: z.string(),
    kind: z.enum(["site", "instance"]),
    role: Role.meta({ description: "Your role in the project" }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Project" });

type ProjectRowWithRole = {
  slug: string;
  name: string;
  kind: "site" | "instance";
  role: string;
  created_at: Date;
  updated_at: Date;
};
const projectView = (p: ProjectRowWithRole): z.input<typeof Project> => ({
  slug: p.slug,
  name: p.name,
  kind: p.kind,
  role: p.role as ProjectRole,
  created_at: iso(p.created_at),
  updated_at: iso(p.updated_at),
});

export const createProject = defineOperation({
  id: "create_project",
  summary: "Create a project",
  description: "A project holds one site or one instance. You become its owner.",
  tags: ["projects"],
  scope: "projects:write",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/projects", status: 201 },
  input: z.object({
    slug: Slug,
    name: displayName(100),
    kind: z.enum(["site", "instance"]),
  }),
  output: Project,
  handler: async (ctx, input) => {
    // A principal pinned to one project (MCP `project=`, an agent run) cannot reach out and make another.
    const pin = ctx.principal.pins.project;
    if (pin && pin !== input.slug) throw new BosunError("forbidden", `this session is pinned to project '${pin}'`);
    const accountId = ctx.principal.account.id;
    // created_at on the clock audit records use: the project's trail starts here (see list_audit_events).
    const now = new Date();
    const created = await ctx.tx(async (trx) => {
      const row = await trx
        .insertInto("projects")
        .values({ id: crypto.randomUUID(), ...input, owner_account_id: accountId, created_at: now, updated_at: now })
        .onConflict((oc) => oc.column("slug").doNothing())
        .returningAll()
        .executeTakeFirst();
      if (!row) throw conflict(`the slug '${input.slug}' is taken`, { field: "slug" });
      await trx
        .insertInto("project_members")
        .values({ project_id: row.id, account_id: accountId, role: "owner" })
        .execute();
      return projectView({ ...row, role: "owner" });
    });
    // Named only once it is ours: a refused attempt on someone else's slug must not enter their trail.
    ctx.auditProject(created.slug);
    return created;
  },
});

/**
 * list_projects' query, compiled once and prepared on the server (it runs on every call of the most called
 * operation). Optional filters are parameters that match everything when null, so one statement serves every
 * combination.
 */
const listProjectsQuery = prepared<
  { account: string; kind: "site" | "instance" | null; cursor: string; projects: string[] | null; limit: number },
  ProjectRowWithRole
>(
  (db, $) =>
    db
      .selectFrom("projects")
      .innerJoin("project_members", "project_members.project_id", "projects.id")
      .select([
        "projects.slug",
        "projects.name",
        "projects.kind",
        "projects.created_at",
        "projects.updated_at",
        "project_members.role",
      ])
      .where("project_members.account_id", "=", $("account"))
      .where((eb) => eb("projects.kind", "=", eb.fn.coalesce($("kind"), eb.ref("projects.kind"))))
      .where("projects.slug", ">", $("cursor"))
      // A restricted credential: only its projects (none when the list is empty); null: no restriction.
      .where(sql<boolean>`coalesce(${sql.ref("projects.slug")} = any(${$("projects")}), true)`)
      .orderBy("projects.slug")
      .limit($("limit")),
  { name: "list_projects" },
);

export const listProjects = defineOperation({
  id: "list_projects",
  summary: "List your projects",
  tags: ["projects"],
  scope: "projects:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/projects" },
  input: z.object({
    kind: z.enum(["site", "instance"]).optional(),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ projects: z.array(Project), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const rows = await listProjectsQuery(ctx.db, {
      account: ctx.principal.account.id,
      kind: input.kind ?? null,
      // Slugs are never empty: "" starts at the first.
      cursor: input.cursor ?? "",
      projects: reachableProjects(ctx.principal),
      limit: input.limit + 1,
    });
    const { page, next_cursor } = pageOf(rows, input.limit, (last) => last.slug);
    return { projects: page.map(projectView), next_cursor };
  },
});

export const getProject = defineOperation({
  id: "get_project",
  summary: "Get a project",
  tags: ["projects"],
  scope: "projects:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}" },
  input: z.object({ project: ProjectRef }),
  output: Project,
  handler: async (ctx) => projectView(ctx.project),
});

export const updateProject = defineOperation({
  id: "update_project",
  summary: "Rename a project",
  description: "Changes the display name. The slug and kind are fixed.",
  tags: ["projects"],
  scope: "projects:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}" },
  input: z.object({ project: ProjectRef, name: displayName(100) }),
  output: Project,
  handler: async (ctx, input) => {
    const row = await ctx.db
      .updateTable("projects")
      .set({ name: input.name, updated_at: new Date() })
      .where("id", "=", ctx.project.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return projectView({ ...row, role: ctx.project.role });
  },
});

export const deleteProject = defineOperation({
  id: "delete_project",
  summary: "Delete a project",
  description: "Deletes the project and everything in it. Only owners can.",
  tags: ["projects"],
  scope: "projects:delete",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ deleted: z.literal(true), slug: z.string() }),
  handler: async (ctx) => {
    // Its workers' usage is charged first, as delete_worker does: their invocation rows go with the project.
    await ctx.platform.workers.flush();
    await ctx.platform.workersMeter.chargeProject(ctx.project.id);
    await ctx.db.deleteFrom("projects").where("id", "=", ctx.project.id).execute();
    // A deleted site stops serving at once on every process, not when a cache entry ages out.
    if (ctx.project.kind === "site") await siteChanged(ctx.platform, ctx.project.id);
    return { deleted: true as const, slug: ctx.project.slug };
  },
});
