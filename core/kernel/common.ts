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

export const iso = (d: Date | string) => new Date(d).toISOString();
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
