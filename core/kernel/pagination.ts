// Every list operation pages the same way: `limit` and an opaque `cursor` in, the items and `next_cursor`
// (null on the last page) out. A list fetches limit + 1 rows; the extra row only says another page follows.
import { z } from "zod";
import { validationError } from "./errors.ts";

export const Limit = z.number().int().min(1).max(200).default(50).meta({ description: "Page size (1-200)" });
export const Cursor = z
  .string()
  .max(200)
  .optional()
  .meta({ description: "Cursor from the previous page's next_cursor" });

/** Cursor for lists ordered by a numeric id. */
export const IdCursor = z
  .string()
  .regex(/^\d+$/, "a next_cursor value")
  .optional()
  .meta({ description: "next_cursor of the previous page" });

/** The page a list returns from its limit + 1 rows, and the cursor of the next one (from the page's last row). */
export function pageOf<T>(
  rows: T[],
  limit: number,
  cursorOf: (last: T) => string,
): { page: T[]; next_cursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, next_cursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}

/** A cursor of several keys (e.g. time and id, for lists ordered by a non-unique column). */
export const encodeCursor = (...keys: string[]) => keys.join("|");

const invalidCursor = () =>
  validationError([{ path: "cursor", message: "invalid cursor" }], "not a cursor from this list");

/** The keys of a cursor encodeCursor made, or a validation error naming the `cursor` field. */
export function decodeCursor(cursor: string, count: number): string[] {
  const keys = cursor.split("|");
  if (keys.length !== count || keys.some((k) => !k)) throw invalidCursor();
  return keys;
}

/** The time and uuid of a cursor from a list ordered by (a timestamp, id): `encodeCursor(iso(at), id)`. */
export function decodeTimeIdCursor(cursor: string): { at: Date; id: string } {
  const [at = "", id = ""] = decodeCursor(cursor, 2);
  const when = new Date(at);
  if (Number.isNaN(when.getTime()) || !z.uuid().safeParse(id).success) throw invalidCursor();
  return { at: when, id };
}
