// Project members. Roles: owner > maintainer > developer > viewer (see roleCaps in scopes.ts).
// Only owners make or unmake owners, and a project always keeps at least one owner. People join only by accepting
// an invitation (invitations.ts): there is no operation that adds an account to a project without its consent.
import { z } from "zod";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { conflict, insufficientScope, notFound } from "../kernel/errors.ts";
import { type DB, defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Role } from "./projects.ts";

const Member = z
  .object({ account_id: z.string(), email: z.string(), name: z.string(), role: Role, added_at: Timestamp })
  .meta({ id: "ProjectMember" });

const memberQuery = (ctx: ProjectContext) =>
  ctx.db
    .selectFrom("project_members")
    .innerJoin("accounts", "accounts.id", "project_members.account_id")
    .select([
      "accounts.id as account_id",
      "accounts.email",
      "accounts.name",
      "project_members.role",
      "project_members.created_at",
    ])
    .where("project_members.project_id", "=", ctx.project.id);

type MemberRow = { account_id: string; email: string; name: string; role: string; created_at: Date };
const memberView = (m: MemberRow): z.input<typeof Member> => ({
  account_id: m.account_id,
  email: m.email,
  name: m.name,
  role: m.role as z.infer<typeof Role>,
  added_at: iso(m.created_at),
});

function requireOwnerFor(ctx: ProjectContext, ...roles: (string | undefined)[]) {
  if (roles.includes("owner") && ctx.project.role !== "owner") {
    throw insufficientScope("members:write", "only owners can add, change or remove owners");
  }
}

/**
 * Runs `change`, which takes owner `accountId` away, only if another owner remains. The project row is locked
 * first, so two owners stepping down at once queue and the second sees the first's change.
 */
async function keepingAnOwner(ctx: ProjectContext, accountId: string, change: (db: DB) => Promise<unknown>) {
  await ctx.tx(async (trx) => {
    await trx.selectFrom("projects").select("id").where("id", "=", ctx.project.id).forUpdate().execute();
    const others = await trx
      .selectFrom("project_members")
      .select("account_id")
      .where("project_id", "=", ctx.project.id)
      .where("role", "=", "owner")
      .where("account_id", "!=", accountId)
      .execute();
    if (!others.length) throw conflict("a project must keep at least one owner");
    await change(trx);
  });
}

const AccountId = z.uuid().meta({ description: "The member's account id (see list_project_members)" });

export const listProjectMembers = defineOperation({
  id: "list_project_members",
  summary: "List a project's members",
  tags: ["projects"],
  scope: "members:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/members" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ members: z.array(Member) }),
  handler: async (ctx) => ({ members: (await memberQuery(ctx).orderBy("accounts.email").execute()).map(memberView) }),
});

export const updateProjectMember = defineOperation({
  id: "update_project_member",
  summary: "Change a member's role",
  tags: ["projects"],
  scope: "members:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}/members/{account_id}" },
  input: z.object({ project: ProjectRef, account_id: AccountId, role: Role }),
  output: Member,
  handler: async (ctx, input) => {
    const current = await memberQuery(ctx).where("accounts.id", "=", input.account_id).executeTakeFirst();
    if (!current) throw notFound("member", input.account_id);
    requireOwnerFor(ctx, input.role, current.role);
    const update = (db: DB) =>
      db
        .updateTable("project_members")
        .set({ role: input.role })
        .where("project_id", "=", ctx.project.id)
        .where("account_id", "=", input.account_id)
        .execute();
    if (current.role === "owner" && input.role !== "owner") await keepingAnOwner(ctx, input.account_id, update);
    else await update(ctx.db);
    return memberView({ ...current, role: input.role });
  },
});

export const removeProjectMember = defineOperation({
  id: "remove_project_member",
  summary: "Remove a member from a project",
  tags: ["projects"],
  scope: "members:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/members/{account_id}" },
  input: z.object({ project: ProjectRef, account_id: AccountId }),
  output: z.object({ removed: z.literal(true), account_id: z.string() }),
  handler: async (ctx, input) => {
    const current = await memberQuery(ctx).where("accounts.id", "=", input.account_id).executeTakeFirst();
    if (!current) throw notFound("member", input.account_id);
    requireOwnerFor(ctx, current.role);
    const remove = (db: DB) =>
      db
        .deleteFrom("project_members")
        .where("project_id", "=", ctx.project.id)
        .where("account_id", "=", input.account_id)
        .execute();
    if (current.role === "owner") await keepingAnOwner(ctx, input.account_id, remove);
    else await remove(ctx.db);
    return { removed: true as const, account_id: input.account_id };
  },
});
