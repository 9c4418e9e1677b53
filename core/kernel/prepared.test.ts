import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poolOf } from "../../schema/open-database.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { prepared, runSql } from "./prepared.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

// Compiled once, run with each call's values; the constant the builder wrote ('site') stays in place.
let builds = 0;
const projectsNamed = prepared<{ prefix: string; slugs: string[] | null; limit: number }, { slug: string }>((db, $) => {
  builds++;
  return db
    .selectFrom("projects")
    .select("slug")
    .where("kind", "=", "site")
    .where("slug", "like", $("prefix"))
    .where(sql<boolean>`coalesce(${sql.ref("slug")} = any(${$("slugs")}), true)`)
    .orderBy("slug")
    .limit($("limit"));
});

describe("prepared queries", () => {
  it("compile once and run with new values each call, in and out of a transaction", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    for (const [slug, kind] of [
      ["prep-a", "site"],
      ["prep-b", "site"],
      ["prep-c", "instance"],
      ["other-d", "site"],
    ]) {
      expect((await t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind } })).status).toBe(201);
    }
    const db = t.platform.db;
    const slugs = async (p: Parameters<typeof projectsNamed>[1]) => (await projectsNamed(db, p)).map((r) => r.slug);
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 10 })).toEqual(["prep-a", "prep-b"]);
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 1 })).toEqual(["prep-a"]);
    expect(await slugs({ prefix: "%", slugs: ["prep-b", "other-d"], limit: 10 })).toEqual(["other-d", "prep-b"]);
    expect(await slugs({ prefix: "%", slugs: [], limit: 10 })).toEqual([]);
    expect(builds).toBe(1);
    // A transaction is its own handle: compiled for it too, and its reads see its own writes.
    await db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable("projects").set({ kind: "site" }).where("slug", "=", "prep-c").execute();
        expect((await projectsNamed(trx, { prefix: "prep-%", slugs: null, limit: 10 })).map((r) => r.slug)).toEqual([
          "prep-a",
          "prep-b",
          "prep-c",
        ]);
        throw new Error("roll back");
      })
      .catch((err: Error) => expect(err.message).toBe("roll back"));
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 10 })).toEqual(["prep-a", "prep-b"]);
  });
});

// Prepared on the server under its name too: the statement is held by the connection that ran it.
const slugsPrepared = prepared<{ prefix: string }, { slug: string; created_at: Date }>(
  (db, $) =>
    db.selectFrom("projects").select(["slug", "created_at"]).where("slug", "like", $("prefix")).orderBy("slug"),
  { name: "test_prepared_slugs" },
);

describe("named prepared queries", () => {
  it("are prepared on the server once per connection and give the rows Kysely gives, in and out of a transaction", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    for (const slug of ["named-a", "named-b"])
      expect(
        (await t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind: "site" } })).status,
      ).toBe(201);
    const db = t.platform.db;
    const viaKysely = await db
      .selectFrom("projects")
      .select(["slug", "created_at"])
      .where("slug", "like", "named-%")
      .orderBy("slug")
      .execute();
    // Out of a transaction (the pool's own connection), twice: bound and run again under the same name.
    expect(await slugsPrepared(db, { prefix: "named-%" })).toEqual(viaKysely);
    expect(await slugsPrepared(db, { prefix: "named-b%" })).toEqual(viaKysely.slice(1));
    await db.transaction().execute(async (trx) => {
      expect(await slugsPrepared(trx, { prefix: "named-%" })).toEqual(viaKysely);
      const held = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(trx);
      expect(held.rows.map((r) => r.name)).toContain("test_prepared_slugs");
    });
  });

  it("refuses a name the connection's marker would not match", () => {
    expect(() => prepared((db) => db.selectFrom("projects").select("slug"), { name: "Bad-Name" })).toThrow(
      /prepared statement name/,
    );
  });

  it("a statement that fails on the pool gives its connection back, not ended (runSql and prepared alike)", async () => {
    const db = t.platform.db;
    const pool = poolOf(db)!;
    const before = pool.totalCount;
    // A user's mistake the database refuses: its connection stays in the pool with its prepared statements, and on
    // PGlite (one connection) the next statement still finds the protocol in step.
    for (let i = 0; i < 3; i++) {
      await expect(runSql(db, sql`/* prepare:prepared_test_bad */ SELECT ${"not a uuid"}::uuid AS id`)).rejects.toThrow(
        /uuid/,
      );
      await expect(projectsNamed(db, { prefix: "%", slugs: null, limit: 0 })).resolves.toEqual([]);
    }
    expect(pool.totalCount).toBe(before);
    expect((await runSql(db, sql<{ n: number }>`SELECT ${2}::int + 1 AS n`)).rows).toEqual([{ n: 3 }]);
  });
});
