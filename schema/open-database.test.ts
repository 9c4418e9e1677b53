import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../testkit/harness.ts";
import type { OpenedDatabase } from "./open-database.ts";

let opened: OpenedDatabase;
beforeAll(async () => {
  opened = await openBareTestDatabase();
});
afterAll(() => opened?.close());

const named = (db: OpenedDatabase["db"], n: number) =>
  sql<{ n: number }>`/* prepare:test_double */ SELECT ${n}::int * 2 AS n`.execute(db);
const preparedHere = (db: OpenedDatabase["db"]) =>
  sql<{ name: string }>`SELECT name FROM pg_prepared_statements ORDER BY name`.execute(db);

describe("statements marked /* prepare:name */", () => {
  it("are prepared once per connection under that name and run with each call's values", async () => {
    await opened.db.transaction().execute(async (trx) => {
      expect((await named(trx, 2)).rows).toEqual([{ n: 4 }]);
      expect((await named(trx, 21)).rows).toEqual([{ n: 42 }]);
      // Same connection: the server holds the statement by its name.
      expect((await preparedHere(trx)).rows).toEqual([{ name: "test_double" }]);
    });
    // A template that opens on a new line is marked all the same (the agent's tool checkpoints were sent unnamed).
    await opened.db.transaction().execute(async (trx) => {
      await sql`
        /* prepare:test_indented */ SELECT 1`.execute(trx);
      expect((await preparedHere(trx)).rows.map((r) => r.name)).toContain("test_indented");
    });
    // Outside the transaction too (a pooled connection, prepared or not yet).
    expect((await named(opened.db, 5)).rows).toEqual([{ n: 10 }]);
  });

  it("leave every other statement unnamed", async () => {
    await opened.db.transaction().execute(async (trx) => {
      await sql`SELECT 1`.execute(trx);
      await sql`/* not a marker */ SELECT 1`.execute(trx);
      const names = (await preparedHere(trx)).rows.map((r) => r.name);
      expect(names.every((n) => n === "test_double" || n === "test_indented")).toBe(true);
    });
  });
});

describe("a connection cut while checked out", () => {
  it.skipIf(!process.env.DATABASE_URL)(
    "fails that transaction only: no unhandled error event, and the next query gets a new connection",
    async () => {
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err);
      process.on("uncaughtException", onUncaught);
      try {
        const failed = opened.db
          .transaction()
          .execute(async (trx) => {
            const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
            // Between two statements, as a Postgres restart would find it: cut from another connection.
            await sql`SELECT pg_terminate_backend(${rows[0]?.pid})`.execute(opened.db);
            await new Promise((r) => setTimeout(r, 200));
            await sql`SELECT 1`.execute(trx);
          })
          .then(
            () => "committed",
            () => "failed",
          );
        expect(await failed).toBe("failed");
        expect((await sql<{ n: number }>`SELECT 1 AS n`.execute(opened.db)).rows).toEqual([{ n: 1 }]);
        expect(uncaught).toEqual([]);
      } finally {
        process.off("uncaughtException", onUncaught);
      }
    },
  );
});
