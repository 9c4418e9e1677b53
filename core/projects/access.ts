// Project access, checked by the invoker for every project-scoped operation. A project the caller cannot
// reach — another tenant's, outside the token's project list, outside the pin — is "not found", so
// existence never leaks.
import { notFound } from "../kernel/errors.ts";
import type { Context, DB, Principal, ProjectAccess } from "../kernel/operation.ts";
import { prepared } from "../kernel/prepared.ts";
import type { ProjectRole } from "../kernel/scopes.ts";

/**
 * Compiled once and prepared on the server: it runs before every project-scoped call (every agent tool call too),
 * and Postgres spent more parsing and planning it than running it. Columns named, not `projects.*`: a column a
 * later migration adds must not change the result type of a statement a running process holds.
 */
const accessQuery = prepared<{ slug: string; account: string }, ProjectAccess>(
  (db, $) =>
    db
      .selectFrom("projects")
      .innerJoin("project_members", "project_members.project_id", "projects.id")
      .select([
        "projects.id",
        "projects.slug",
        "projects.name",
        "projects.kind",
        "projects.owner_account_id",
        "projects.created_at",
        "projects.updated_at",
        "project_members.role",
      ])
      .where("projects.slug", "=", $("slug"))
      .where("project_members.account_id", "=", $("account")),
  { name: "project_access" },
);

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
  const row = reachable ? (await accessQuery(db, { slug, account: account.id }))[0] : undefined;
  if (!row) throw notFound("project", slug);
  return { ...row, role: row.role as ProjectRole };
}
