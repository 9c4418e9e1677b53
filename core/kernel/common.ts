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
