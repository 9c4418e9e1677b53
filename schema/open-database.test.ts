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
    // Outside the transaction too (a pooled connection, prepared or not yet).
    expect((await named(opened.db, 5)).rows).toEqual([{ n: 10 }]);
  });

  it("leave every other statement unnamed", async () => {
    await opened.db.transaction().execute(async (trx) => {
      await sql`SELECT 1`.execute(trx);
      await sql`/* not a marker */ SELECT 1`.execute(trx);
      const names = (await preparedHere(trx)).rows.map((r) => r.name);
      expect(names.every((n) => n === "test_double")).toBe(true);
    });
  });
});
