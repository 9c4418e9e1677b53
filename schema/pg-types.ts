// How Bosun's connections read column values: pg's own parsers, but for `timestamptz` a parser of the one form
// Postgres sends (`2026-11-30 09:35:19.123456+00`) in plain arithmetic. pg's (postgres-date) runs three regular
// expressions and builds a Date through Date.UTC for every timestamp of every row: a listing of ten projects
// spent more on its twenty timestamps than on its routing. Any other spelling (BC years, infinity, years past
// 9999) goes to pg's parser, so both give the same Date for every input.
import pg from "pg";

const TIMESTAMPTZ = 1184;
const pgTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ, "text") as (text: string) => Date | number | null;

const DAY_MS = 86_400_000;

/** Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's days-from-civil); month 1–12. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Two ASCII digits at i as a number, or -1. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * `YYYY-MM-DD HH:MM:SS[.f…]±HH[:MM[:SS]]` to a Date, as pg's parser reads it (fractions cut to milliseconds).
 * null when the text is not of exactly that form.
 */
function parseCommonTimestamptz(s: string): Date | null {
  const n = s.length;
  if (n < 22 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 32) return null;
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const century = two(s, 0);
  const yy = two(s, 2);
  const month = two(s, 5);
  const day = two(s, 8);
  const hour = two(s, 11);
  const minute = two(s, 14);
  const second = two(s, 17);
  if (century < 10 || yy < 0 || month < 1 || month > 12 || day < 1 || day > 31) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  let i = 19;
  let micros = 0;
  if (s.charCodeAt(i) === 46) {
    let scale = 100_000;
    for (i++; i < n; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (scale < 1) return null; // more than microseconds: not what Postgres sends
      micros += d * scale;
      scale /= 10;
    }
    if (scale === 100_000) return null; // a dot without digits
  }
  const sign = s.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return null;
  let offset = two(s, i + 1);
  if (offset < 0) return null;
  offset *= 3600;
  i += 3;
  for (let unit = 60; i < n && unit >= 1; unit /= 60) {
    const part = s.charCodeAt(i) === 58 ? two(s, i + 1) : -1;
    if (part < 0) return null;
    offset += part * unit;
    i += 3;
  }
  if (i !== n) return null;
  const ms =
    daysFromCivil(century * 100 + yy, month, day) * DAY_MS +
    hour * 3_600_000 +
    minute * 60_000 +
    second * 1000 +
    Math.trunc(micros / 1000) -
    (sign === 45 ? -offset : offset) * 1000;
  return new Date(ms);
}

export function parseTimestamptz(text: string): Date | number | null {
  return parseCommonTimestamptz(text) ?? pgTimestamptz(text);
}

/** The `types` of every pg connection Bosun opens (Postgres and PGlite alike). */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === TIMESTAMPTZ && format !== "binary"
      ? parseTimestamptz
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};
