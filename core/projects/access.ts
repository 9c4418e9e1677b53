// Project access, checked by the invoker for every project-scoped operation. A project the caller cannot
// reach — another tenant's, outside the token's project list, outside the pin — is "not found", so
// existence never leaks.
import { notFound } from "../kernel/errors.ts";
import type { Context, DB, Principal } from "../kernel/operation.ts";
import type { ProjectRole } from "../kernel/scopes.ts";

export async function resolveProjectAccess(
  db: DB,
  principal: Principal,
  slug: string,
): Promise<NonNullable<Context["project"]>> {
  const account = principal.account;
  const reachable =
    account &&
    (!principal.projects || principal.projects.includes(slug)) &&
    (!principal.pins.project || principal.pins.project === slug);
  const row = reachable
    ? await db
        .selectFrom("projects")
        .innerJoin("project_members", "project_members.project_id", "projects.id")
        .selectAll("projects")
        .select("project_members.role")
        .where("projects.slug", "=", slug)
        .where("project_members.account_id", "=", account.id)
        .executeTakeFirst()
    : undefined;
  if (!row) throw notFound("project", slug);
  return { ...row, role: row.role as ProjectRole };
}
