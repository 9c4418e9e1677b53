// Forms and submissions. A form is declared in the site settings (id, fields with type and required) and takes
// posts once published; a visitor's post (the sites listener), an agent's submit_form and the public per-site
// MCP all go through `acceptSubmission`, which validates against the declaration and stores only declared fields.

import type { Kysely } from "kysely";
import { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { inTransaction, publishEvent } from "../events/publish.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { type FieldIssue, notFound, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { IdCursor, Limit, pageOf } from "../kernel/pagination.ts";
import { FormDef, readSettings } from "./settings.ts";
import { liveSettings, loadSite, siteProject } from "./site.ts";

export const MAX_SUBMISSION_BYTES = 64 * 1024;
const DEFAULT_MAX = { textarea: 5000, other: 500 };

export type FormValue = string | number | boolean;

/** Checks posted values against the form; answers the clean values or the issues, each naming its field. */
export function validateSubmission(
  form: FormDef,
  data: Record<string, unknown>,
): { values: Record<string, FormValue> } | { issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const values: Record<string, FormValue> = {};
  const declared = new Set(form.fields.map((f) => f.name));
  for (const key of Object.keys(data)) {
    // `_`-prefixed fields are the form's own plumbing (e.g. `_redirect`), never stored.
    if (!declared.has(key) && !key.startsWith("_")) issues.push({ path: key, message: "is not a field of this form" });
  }
  for (const field of form.fields) {
    let raw = data[field.name];
    if (Array.isArray(raw)) raw = raw.length === 1 ? raw[0] : raw;
    const empty =
      raw === undefined ||
      raw === null ||
      raw === "" ||
      (field.type === "checkbox" && (raw === false || raw === "false"));
    if (empty) {
      if (field.required) issues.push({ path: field.name, message: "is required" });
      continue;
    }
    if (typeof raw !== "string" && typeof raw !== "number" && typeof raw !== "boolean") {
      issues.push({ path: field.name, message: "must be a single value" });
      continue;
    }
    const text = String(raw).trim();
    const max = field.max_length ?? (field.type === "textarea" ? DEFAULT_MAX.textarea : DEFAULT_MAX.other);
    if (text.length > max) {
      issues.push({ path: field.name, message: `must be at most ${max} characters` });
      continue;
    }
    const bad = (message: string) => issues.push({ path: field.name, message });
    switch (field.type) {
      case "email":
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text)) bad("must be an email address");
        else values[field.name] = text;
        break;
      case "number":
        if (text === "" || !Number.isFinite(Number(text))) bad("must be a number");
        else values[field.name] = Number(text);
        break;
      case "url":
        if (!/^https?:\/\/\S+$/i.test(text)) bad("must be an http(s) URL");
        else values[field.name] = text;
        break;
      case "tel":
        if (!/^[+\d][\d\s().-]{2,30}$/.test(text)) bad("must be a phone number");
        else values[field.name] = text;
        break;
      case "date":
        if (!/^\d{4}-\d{2}-\d{2}$/.test(text) || Number.isNaN(Date.parse(text))) bad("must be a date (YYYY-MM-DD)");
        else values[field.name] = text;
        break;
      case "checkbox":
        if (!["on", "true", "1", "yes"].includes(text.toLowerCase())) bad("must be checked or left out");
        else values[field.name] = true;
        break;
      case "select":
        if (field.options && !field.options.includes(text)) bad(`must be one of: ${field.options.join(", ")}`);
        else values[field.name] = text;
        break;
      default:
        values[field.name] = text;
    }
  }
  return issues.length ? { issues } : { values };
}

/**
 * The forms visitors can submit: those of the live release's settings. A form declared in the draft takes
 * posts only once published (accepting posts is a live effect, like any setting).
 */
export async function formsOf(db: Kysely<Database>, projectId: string): Promise<FormDef[]> {
  const site = await loadSite(db, projectId);
  return readSettings((await liveSettings(db, projectId, site.live_release)).settings).forms ?? [];
}

export async function requireForm(db: Kysely<Database>, projectId: string, formId: string): Promise<FormDef> {
  const form = (await formsOf(db, projectId)).find((f) => f.id === formId);
  if (!form) throw notFound("form", formId);
  return form;
}

/**
 * The honeypot: a field a site's form hides from people (`<input name="_honeypot" hidden tabindex="-1">`), which
 * form-filling bots fill. Such a post is answered like any other, so the bot learns nothing, and not stored.
 */
export const HONEYPOT_FIELD = "_honeypot";

/** Validates and stores one submission; throws a validation error naming the fields, storing nothing. */
export async function acceptSubmission(
  db: Kysely<Database>,
  projectId: string,
  formId: string,
  data: Record<string, unknown>,
) {
  const form = await requireForm(db, projectId, formId);
  const bait = data[HONEYPOT_FIELD];
  if (bait !== undefined && bait !== null && bait !== "")
    return { id: String(Date.now()), form_id: formId, created_at: new Date().toISOString() };
  const checked = validateSubmission(form, data);
  if ("issues" in checked) throw validationError(checked.issues);
  const json = JSON.stringify(checked.values);
  if (Buffer.byteLength(json) > MAX_SUBMISSION_BYTES)
    throw validationError([{ path: "", message: `a submission may be at most ${MAX_SUBMISSION_BYTES} bytes` }]);
  const row = await inTransaction(db, async (trx) => {
    const row = await trx
      .insertInto("site_submissions")
      .values({ project_id: projectId, form_id: formId, data: json })
      .returning(["id", "created_at"])
      .executeTakeFirstOrThrow();
    const project = await trx
      .selectFrom("projects")
      .select(["id", "slug", "owner_account_id"])
      .where("id", "=", projectId)
      .executeTakeFirstOrThrow();
    // The fields are a visitor's words: receivers and people get them as data, never as markup.
    await publishEvent(trx, {
      type: "form.submitted",
      account: project.owner_account_id,
      project,
      data: { submission_id: String(row.id), form: formId, fields: checked.values },
    });
    return row;
  });
  return { id: String(row.id), form_id: formId, created_at: iso(row.created_at) };
}

const FormView = FormDef.meta({ id: "Form" });
const FormId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "a form id (lowercase letters, digits, '_' and '-')")
  .meta({ description: "Form id as declared in the site settings", example: "contact" });
const Status = z.enum(["new", "read", "archived"]);
const Submission = z
  .object({
    id: z.string(),
    form_id: z.string(),
    data: z.record(z.string(), z.unknown()),
    status: Status,
    created_at: Timestamp,
  })
  .meta({ id: "Submission" });
const SubmitResult = z.object({ id: z.string(), form_id: z.string(), created_at: Timestamp });

export const listForms = defineOperation({
  id: "list_forms",
  summary: "List the site's forms",
  description: "The published forms (those of the live release); forms only in the draft are in get_site_settings.",
  tags: ["sites"],
  scope: "submissions:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/forms" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ forms: z.array(FormView) }),
  handler: async (ctx) => ({ forms: await formsOf(ctx.db, siteProject(ctx).id) }),
});

export const getFormSchema = defineOperation({
  id: "get_form_schema",
  summary: "Get a form's fields",
  tags: ["sites"],
  scope: "submissions:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/forms/{form_id}" },
  input: z.object({ project: ProjectRef, form_id: FormId }),
  output: FormView,
  handler: async (ctx, input) => requireForm(ctx.db, siteProject(ctx).id, input.form_id),
});

export const submitForm = defineOperation({
  id: "submit_form",
  summary: "Submit a site's form",
  description: "Submits data to a form on a visitor's behalf, validated against the form's declared fields.",
  tags: ["sites"],
  scope: "tools:invoke",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/forms/{form_id}/submissions", status: 201 },
  input: z.object({ project: ProjectRef, form_id: FormId, data: z.record(z.string().max(64), z.unknown()) }),
  output: SubmitResult,
  handler: async (ctx, input) => acceptSubmission(ctx.db, siteProject(ctx).id, input.form_id, input.data),
});

export const listSubmissions = defineOperation({
  id: "list_submissions",
  summary: "List form submissions",
  description: "Newest first; filter by form and status.",
  tags: ["sites"],
  scope: "submissions:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/submissions" },
  input: z.object({
    project: ProjectRef,
    form_id: FormId.optional(),
    status: Status.optional(),
    limit: Limit,
    cursor: IdCursor,
  }),
  output: z.object({ submissions: z.array(Submission), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    let q = ctx.db.selectFrom("site_submissions").where("project_id", "=", project.id);
    if (input.form_id) q = q.where("form_id", "=", input.form_id);
    if (input.status) q = q.where("status", "=", input.status);
    if (input.cursor) q = q.where("id", "<", input.cursor);
    const rows = await q
      .selectAll()
      .orderBy("id", "desc")
      .limit(input.limit + 1)
      .execute();
    const { page, next_cursor } = pageOf(rows, input.limit, (last) => String(last.id));
    return {
      submissions: page.map((r) => ({
        id: String(r.id),
        form_id: r.form_id,
        data: r.data,
        status: r.status,
        created_at: iso(r.created_at),
      })),
      next_cursor,
    };
  },
});

export const updateSubmission = defineOperation({
  id: "update_submission",
  summary: "Mark a submission new, read or archived",
  tags: ["sites"],
  scope: "submissions:write",
  effect: "write",
  http: { method: "patch", path: "/projects/{project}/submissions/{id}" },
  input: z.object({
    project: ProjectRef,
    id: z
      .string()
      .regex(/^[1-9]\d{0,17}$/, "a submission id")
      .meta({ description: "Submission id" }),
    status: Status,
  }),
  output: Submission,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const row = await ctx.db
      .updateTable("site_submissions")
      .set({ status: input.status })
      .where("project_id", "=", project.id)
      .where("id", "=", input.id)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("submission", input.id);
    return {
      id: String(row.id),
      form_id: row.form_id,
      data: row.data,
      status: row.status,
      created_at: iso(row.created_at),
    };
  },
});

/** Rows one export holds at most; narrow by form or status (or archive old ones) past it. */
export const MAX_EXPORT_ROWS = 50_000;

/**
 * One CSV cell (RFC 4180), safe to open in a spreadsheet: a cell starting with `=`, `+`, `-`, `@`, a tab or a
 * carriage return would be read as a formula (a visitor's post is attacker-written), so it gets a leading `'`.
 */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvRow = (cells: unknown[]) => `${cells.map(csvCell).join(",")}\r\n`;

export const exportSubmissions = defineOperation({
  id: "export_submissions",
  summary: "Export form submissions as CSV",
  description:
    "Oldest first: id, form_id, status, created_at, then one column per field (the published forms' fields in order, then " +
    "any other stored). Cells that a spreadsheet would run as a formula (starting with = + - @) get a leading '. REST " +
    `answers text/csv; other surfaces get the CSV in \`csv\`. At most ${MAX_EXPORT_ROWS} rows (\`truncated\` says so).`,
  tags: ["sites"],
  scope: "submissions:read",
  effect: "read",
  http: {
    method: "get",
    path: "/projects/{project}/submissions/export",
    produces: { field: "csv", type: "text/csv; charset=utf-8", filename: "filename" },
  },
  input: z.object({ project: ProjectRef, form_id: FormId.optional(), status: Status.optional() }),
  output: z.object({
    filename: z.string(),
    rows: z.number().int(),
    truncated: z.boolean(),
    csv: z.string(),
  }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    let q = ctx.db.selectFrom("site_submissions").where("project_id", "=", project.id);
    if (input.form_id) q = q.where("form_id", "=", input.form_id);
    if (input.status) q = q.where("status", "=", input.status);
    const rows = await q
      .select(["id", "form_id", "status", "data", "created_at"])
      .orderBy("id", "asc")
      .limit(MAX_EXPORT_ROWS + 1)
      .execute();
    const truncated = rows.length > MAX_EXPORT_ROWS;
    if (truncated) rows.pop();
    const forms = (await formsOf(ctx.db, project.id)).filter((f) => !input.form_id || f.id === input.form_id);
    const columns = [...new Set(forms.flatMap((f) => f.fields.map((field) => field.name)))];
    const known = new Set(columns);
    for (const r of rows)
      for (const key of Object.keys(r.data as Record<string, unknown>))
        if (!known.has(key)) {
          known.add(key);
          columns.push(key);
        }
    let csv = csvRow(["id", "form_id", "status", "created_at", ...columns]);
    for (const r of rows) {
      const data = r.data as Record<string, unknown>;
      csv += csvRow([String(r.id), r.form_id, r.status, iso(r.created_at), ...columns.map((c) => data[c])]);
    }
    return {
      filename: `${project.slug}-${input.form_id ?? "submissions"}.csv`,
      rows: rows.length,
      truncated,
      csv,
    };
  },
});

export const formOperations = [
  listForms,
  getFormSchema,
  submitForm,
  listSubmissions,
  exportSubmissions,
  updateSubmission,
];
