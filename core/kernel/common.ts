// Schemas shared by many operations, declared once.
import { z } from "zod";

export const Slug = z
  .string()
  .min(3)
  .max(40)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, "lowercase letters, digits and hyphens; no leading or trailing hyphen")
  .meta({ description: "Project slug", example: "my-site" });

/** The `project` input field: an operation that has it is project-scoped (see operation.ts). */
export const ProjectRef = Slug.meta({ description: "Slug of the project", example: "my-site" });

/**
 * Control characters, bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069) and line/paragraph
 * separators: in a name shown to someone else (an invitation email, a member list, the OAuth consent page) they
 * reorder or hide what follows it, e.g. make `evil.example` read as something else.
 */
const SPOOFING = /[\p{Cc}\u202a-\u202e\u2066-\u2069\u2028\u2029]/u;

/** A person's, project's, token's or client's name: free text, but nothing that reorders or hides the text around it. */
export const displayName = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !SPOOFING.test(s), "must not contain control or bidirectional-override characters (e.g. U+202E)");

export const Timestamp = z.string().meta({ description: "ISO 8601 time", example: "2026-01-01T00:00:00.000Z" });

/** The char code of a decimal digit. */
const digit = (n: number) => 48 + n;
const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00Z: years past 9999 get Date's six-digit form. */
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * `Date.prototype.toISOString` of a time in ms, for 1970–9999 in integer arithmetic (Hinnant's days-to-civil):
 * V8's own costs ~1.3 µs a call on Node 20, and a listing formats two timestamps a row (list_projects spent more
 * on them than on its routing). Other times, and invalid ones (which throw), go to Date. The string is made in
 * one piece from its char codes: a template of padded parts allocated ~400 bytes of intermediate strings a call,
 * a tenth of all list_projects allocated per request (issue 19), and took twice as long.
 */
export function isoOfMs(ms: number): string {
  if (!(ms >= 0 && ms < YEAR_10000_MS)) return new Date(ms).toISOString();
  const days = Math.floor(ms / DAY_MS);
  let rest = ms - days * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const z = days + 719_468; // days since 0000-03-01
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153); // March = 0
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  // biome-ignore format: one line per field of YYYY-MM-DDTHH:mm:ss.sssZ
  return String.fromCharCode(
    digit(Math.floor(year / 1000)), digit(Math.floor(year / 100) % 10), digit(Math.floor(year / 10) % 10), digit(year % 10), 45,
    digit(Math.floor(month / 10)), digit(month % 10), 45,
    digit(Math.floor(day / 10)), digit(day % 10), 84,
    digit(Math.floor(hours / 10)), digit(hours % 10), 58,
    digit(Math.floor(minutes / 10)), digit(minutes % 10), 58,
    digit(Math.floor(seconds / 10)), digit(seconds % 10), 46,
    digit(Math.floor(millis / 100)), digit(Math.floor(millis / 10) % 10), digit(millis % 10), 90,
  );
}

/** As `new Date(d).toISOString()`, faster (see isoOfMs). */
export const iso = (d: Date | string) => isoOfMs(d instanceof Date ? d.getTime() : new Date(d).getTime());
export const isoOrNull = (d: Date | string | null | undefined) => (d ? iso(d) : null);

/**
 * An email address as a mailbox of any domain: `admin@localhost` (the first-start owner) is as valid as
 * `a@example.com`. WHATWG's form-validation pattern, not zod's default, which demands a dotted public domain.
 * Lowercased, as stored: every lookup compares lowercased addresses.
 */
export const Email = z
  .email({ pattern: z.regexes.html5Email, error: "a valid email address, like name@example.com or admin@localhost" })
  .max(254)
  .transform((e) => e.toLowerCase());
