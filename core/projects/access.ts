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

// Access read by the statement just before a call, in the same instant the invoker's query would have read it (the
// agent's tool start checkpoint, core/agent/run-state.ts): keyed by the principal object made for that one call and
// used once, like the run's own check (core/agent/principal.ts), so nothing else can present it.
const presented = new WeakMap<object, ProjectAccess | null>();

/** Hands the invoker the caller's access to their project (null: not a member), read for `principal`'s one call. */
export function presentAccess(principal: Principal, access: ProjectAccess | null): void {
  presented.set(principal, access);
}

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
  let row: ProjectAccess | null | undefined;
  if (presented.has(principal)) {
    const access = presented.get(principal);
    presented.delete(principal);
    if (access === null || access?.slug === slug) row = access;
  }
  if (row === undefined && reachable) row = (await accessQuery(db, { slug, account: account.id }))[0];
  if (!row || !reachable) throw notFound("project", slug);
  return { ...row, role: row.role as ProjectRole };
}
