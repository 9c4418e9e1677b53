import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../testkit/harness.ts";
import type { OpenedDatabase } from "./open-database.ts";
import { parseTimestamptz, pgTypes } from "./pg-types.ts";

const pgParser = pg.types.getTypeParser(1184, "text") as (text: string) => unknown;
const same = (text: string) => {
  const ours = parseTimestamptz(text);
  const theirs = pgParser(text);
  return ours instanceof Date && theirs instanceof Date ? Object.is(ours.getTime(), theirs.getTime()) : ours === theirs;
};

describe("parseTimestamptz", () => {
  it("reads every spelling as pg's own parser does", () => {
    const texts = [
      "2026-11-30 09:35:19+00",
      "2026-11-30 09:35:19.1+00",
      "2026-11-30 09:35:19.123+00",
      "2026-11-30 09:35:19.123456+00",
      "2026-11-30 09:35:19.999999-03",
      "2026-11-30 09:35:19.5+05:30",
      "1883-11-18 12:03:58-07:52:58", // a local mean time offset, to the second
      "2000-02-29 23:59:59.999+14",
      "1970-01-01 00:00:00+00",
      "1969-12-31 23:59:59.999999+00",
      "9999-12-31 23:59:59.999999+00",
      "0050-01-01 00:00:00+00", // years 0–99: pg's parser
      "0044-03-15 12:00:00+00 BC",
      "12026-01-01 00:00:00+00",
      "infinity",
      "-infinity",
      "2026-11-30 09:35:19.+00",
      "2026-11-30 09:35:19.1234567+00",
      "2026-11-30T09:35:19Z",
    ];
    // A fixed walk over a few centuries, with every fraction length and offsets either side.
    for (let ms = -2_208_988_800_000; ms < 4_102_444_800_000; ms += 86_400_000 * 37.3 + 12_345) {
      const iso = new Date(Math.floor(ms)).toISOString(); // 2026-11-30T09:35:19.123Z
      const frac = String(Math.abs(Math.floor(ms)) % 1_000_000).padStart(6, "0");
      const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
      texts.push(`${base}+00`, `${base}.${frac.slice(0, (Math.abs(Math.floor(ms)) % 6) + 1)}-09:30`, `${base}.${frac}+01`);
    }
    expect(texts.filter((t) => !same(t))).toEqual([]);
  });
});

describe("timestamptz from the database", () => {
  let opened: OpenedDatabase;
  beforeAll(async () => {
    opened = await openBareTestDatabase();
  });
  afterAll(async () => {
    await opened?.close();
  });

  it("comes back as the Date pg's parser makes of the same text, in any session time zone", async () => {
    expect(opened.pool.options.types).toBe(pgTypes); // read by our parser, on Postgres and PGlite alike
    await opened.db.connection().execute(async (db) => {
      for (const zone of ["UTC", "Asia/Kolkata", "America/St_Johns", "America/Denver"]) {
        await sql`set time zone ${sql.lit(zone)}`.execute(db);
        const { rows } = await sql<{ t: Date; text: string }>`
          select t, t::text as text from (values
            (timestamptz '2026-11-30 09:35:19.123456+00'),
            (timestamptz '1883-11-18 19:00:00+00'),
            (timestamptz '2000-02-29 23:59:59.5+00'),
            (timestamptz 'infinity'),
            (now())
          ) as v(t)`.execute(db);
        for (const row of rows) {
          expect(row.t, `${zone}: ${row.text}`).toEqual(pgParser(row.text));
        }
      }
      await sql`reset time zone`.execute(db);
    });
  });
});
