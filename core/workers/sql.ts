// SQL databases (the D1 API for workers): a name in a project, its rows in a SQLite-backed Durable Object of the
// runtime's SQL process. A worker bound to one reads and writes it with `env.DB.prepare(…)`; these operations
// reach the same data.
import crypto from "node:crypto";
import { z } from "zod";
import { iso, ProjectRef, Slug, Timestamp } from "../kernel/common.ts";
import { conflict, notFound } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";

const DbName = Slug.meta({ description: "The database's name, unique in the project", example: "main" });

const SqlDatabase = z.object({ id: z.string(), name: z.string(), created_at: Timestamp }).meta({ id: "SqlDatabase" });

async function findDatabase(ctx: ProjectContext, name: string) {
  const row = await ctx.db
    .selectFrom("sql_databases")
    .selectAll()
    .where("project_id", "=", ctx.project.id)
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row) throw notFound("sql database", name);
  return row;
}

const toDatabase = (r: { id: string; name: string; created_at: Date }) => ({
  id: r.id,
  name: r.name,
  created_at: iso(r.created_at),
});

export const createSqlDatabase = defineOperation({
  id: "create_sql_database",
  summary: "Create a SQL database (bind it to a worker as type sql)",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/sql-databases", status: 201 },
  input: z.object({ project: ProjectRef, name: DbName }),
  output: SqlDatabase,
  handler: async (ctx, input) => {
    const taken = await ctx.db
      .selectFrom("sql_databases")
      .select("id")
      .where("project_id", "=", ctx.project.id)
      .where("name", "=", input.name)
      .executeTakeFirst();
    if (taken) throw conflict(`a SQL database named ${input.name} already exists`);
    const row = await ctx.db
      .insertInto("sql_databases")
      .values({ id: crypto.randomUUID(), project_id: ctx.project.id, name: input.name })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toDatabase(row);
  },
});

export const listSqlDatabases = defineOperation({
  id: "list_sql_databases",
  summary: "List a project's SQL databases",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/sql-databases" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ items: z.array(SqlDatabase) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("sql_databases")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .orderBy("name")
      .execute();
    return { items: rows.map(toDatabase) };
  },
});

export const deleteSqlDatabase = defineOperation({
  id: "delete_sql_database",
  summary: "Delete a SQL database and all its data",
  tags: ["workers"],
  scope: "workers:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/sql-databases/{database}" },
  input: z.object({ project: ProjectRef, database: DbName }),
  output: z.object({ deleted: z.boolean() }),
  handler: async (ctx, input) => {
    const row = await findDatabase(ctx, input.database);
    const bound = await ctx.db
      .selectFrom("workers as w")
      .innerJoin("worker_versions as v", "v.id", "w.active_version_id")
      .select(["w.name", "v.bundle"])
      .where("w.project_id", "=", ctx.project.id)
      .execute();
    const users = bound.filter((b) =>
      ((b.bundle as { bindings?: { type: string; resource: string }[] }).bindings ?? []).some(
        (x) => x.type === "sql" && x.resource === row.name,
      ),
    );
    if (users.length)
      throw conflict(`workers still bind this database: ${users.map((u) => u.name).join(", ")}`, {
        workers: users.map((u) => u.name),
      });
    await ctx.platform.workers.sqlCall(row.id, "drop");
    await ctx.db.deleteFrom("sql_databases").where("id", "=", row.id).execute();
    return { deleted: true };
  },
});

export const querySqlDatabase = defineOperation({
  id: "query_sql_database",
  summary: "Run a SQL statement (SQLite) on a SQL database, with ? parameters",
  tags: ["workers"],
  scope: "workers:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/sql-databases/{database}/query" },
  input: z.object({
    project: ProjectRef,
    database: DbName,
    sql: z.string().min(1).max(100_000),
    params: z
      .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .max(100)
      .default([]),
  }),
  output: z.object({
    results: z.array(z.record(z.string(), z.unknown())),
    meta: z.object({ rows_read: z.number(), rows_written: z.number() }),
  }),
  handler: async (ctx, input) => {
    const row = await findDatabase(ctx, input.database);
    const out = (await ctx.platform.workers.sqlCall(row.id, "query", {
      statements: [{ sql: input.sql, params: input.params.map((p) => (typeof p === "boolean" ? Number(p) : p)) }],
      mode: "all",
    })) as { results: Record<string, unknown>[]; meta: { rows_read: number; rows_written: number } }[];
    const first = out[0];
    return {
      results: first?.results.slice(0, 1000) ?? [],
      meta: { rows_read: first?.meta.rows_read ?? 0, rows_written: first?.meta.rows_written ?? 0 },
    };
  },
});

export const listSqlTables = defineOperation({
  id: "list_sql_tables",
  summary: "List the tables of a SQL database with their CREATE statements",
  tags: ["workers"],
  scope: "workers:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/sql-databases/{database}/tables" },
  input: z.object({ project: ProjectRef, database: DbName }),
  output: z.object({ items: z.array(z.object({ name: z.string(), sql: z.string() })) }),
  handler: async (ctx, input) => {
    const row = await findDatabase(ctx, input.database);
    const items = (await ctx.platform.workers.sqlCall(row.id, "tables")) as { name: string; sql: string }[];
    return { items };
  },
});

export const sqlOperations = [createSqlDatabase, listSqlDatabases, deleteSqlDatabase, querySqlDatabase, listSqlTables];
