// The event catalog: every event Bosun publishes, versioned, each with the zod schema of its `data` (the JSON
// Schema in the OpenAPI document's `webhooks` section comes from it). Payloads name things by id and slug and
// never carry a secret (a token's prefix, never the token; a form's fields, never the site's settings).
import { z } from "zod";

/** Bumped when a payload changes incompatibly; each delivery says which version it carries. */
export const CATALOG_VERSION = 1;

const Id = z.string();
const ProjectSlug = z.string().nullable().meta({ description: "Slug of the project, or null for account events" });

export interface EventKind {
  type: string;
  summary: string;
  data: z.ZodObject;
  /** Channels a person gets when they have not chosen (in-app is always on by default). */
  defaults: { email: boolean; telegram: boolean };
  /** The line a person reads (in-app title, email subject, Telegram message); `data` is the event's. */
  title: (data: Record<string, unknown>) => string;
}

const kind = (
  type: string,
  summary: string,
  data: z.ZodRawShape,
  title: (d: Record<string, unknown>) => string,
  defaults = { email: false, telegram: false },
): EventKind => ({ type, summary, data: z.object({ project: ProjectSlug, ...data }), defaults, title });

export const eventKinds: EventKind[] = [
  kind(
    "approval.requested",
    "An agent asks a person to approve an action",
    { approval_id: Id, run_id: Id, conversation_id: Id, tool: z.string(), summary: z.string() },
    (d) => `Approval needed in ${d.project}: ${d.tool}`,
    { email: true, telegram: true },
  ),
  kind(
    "approval.decided",
    "An approval was approved or denied",
    { approval_id: Id, run_id: Id, decision: z.enum(["approved", "denied"]) },
    (d) => `Approval ${d.decision} in ${d.project}`,
  ),
  kind(
    "agent_run.finished",
    "An agent run finished",
    { run_id: Id, conversation_id: Id, status: z.string() },
    (d) => `Agent run finished in ${d.project}`,
  ),
  kind(
    "agent_run.failed",
    "An agent run failed",
    { run_id: Id, conversation_id: Id, error: z.string() },
    (d) => `Agent run failed in ${d.project}`,
    { email: true, telegram: false },
  ),
  kind(
    "balance.low",
    "Spendable credit fell below the account's low-balance alert",
    { pool: z.string(), spendable_micros: z.number(), threshold_micros: z.number() },
    () => "Your AI credit is low",
    { email: true, telegram: false },
  ),
  kind(
    "spend_cap.reached",
    "Spending reached the account's monthly hard cap",
    { pool: z.string(), period_spend_micros: z.number(), hard_cap_micros: z.number() },
    () => "Your monthly spend cap is reached",
    { email: true, telegram: false },
  ),
  kind(
    "form.submitted",
    "A visitor submitted a site form",
    {
      submission_id: Id,
      form: z.string(),
      fields: z.record(z.string(), z.unknown()).meta({ description: "What the visitor entered (untrusted text)" }),
    },
    (d) => `New ${d.form} submission on ${d.project}`,
  ),
  kind(
    "site.published",
    "A site's draft was published",
    { release: z.number().int() },
    (d) => `${d.project} was published (release ${d.release})`,
  ),
  kind(
    "proposal.created",
    "A site-editor run proposed changes to the draft, to review and apply or discard",
    {
      proposal_id: Id,
      run_id: Id,
      conversation_id: Id,
      files: z.number().int().meta({ description: "How many paths it changes" }),
      settings: z.boolean().meta({ description: "Whether it changes settings" }),
    },
    (d) => `AI proposal for ${d.project}: ${d.files} file(s) to review`,
    { email: false, telegram: true },
  ),
  kind(
    "proposal.applied",
    "A proposal was applied to the draft (by a person, or directly by an `auto` run)",
    { proposal_id: Id, run_id: Id, conversation_id: Id, files: z.number().int(), settings: z.boolean() },
    (d) => `AI proposal applied to ${d.project}'s draft`,
  ),
  kind(
    "site.rolled_back",
    "A site was rolled back to an earlier release",
    { release: z.number().int().meta({ description: "The release now live" }) },
    (d) => `${d.project} was rolled back to release ${d.release}`,
  ),
  kind(
    "instance.unreachable",
    "An instance's server could not be reached",
    { instance: z.string(), error: z.string() },
    (d) => `Instance ${d.instance} is unreachable`,
    { email: true, telegram: false },
  ),
  kind(
    "instance.host_key_changed",
    "An instance's SSH host key differs from the pinned one",
    { instance: z.string(), pinned_fingerprint: z.string().nullable() },
    (d) => `Instance ${d.instance}: SSH host key changed`,
    { email: true, telegram: false },
  ),
  kind(
    "token.created",
    "An API token was created",
    { token_id: Id, name: z.string(), prefix: z.string(), scopes: z.array(z.string()) },
    (d) => `API token '${d.name}' created`,
  ),
  kind(
    "token.revoked",
    "An API token was revoked",
    { token_id: Id, name: z.string(), prefix: z.string() },
    (d) => `API token '${d.name}' revoked`,
  ),
  kind(
    "webhook_endpoint.disabled",
    "A webhook endpoint was disabled after its deliveries kept failing",
    { endpoint_id: Id, url: z.string(), reason: z.string() },
    (d) => `Webhook endpoint disabled: ${d.url}`,
    { email: true, telegram: false },
  ),
  kind(
    "webhook.test",
    "A test event, sent only by send_test_event",
    { endpoint_id: Id, message: z.string() },
    () => "Webhook test",
  ),
];

export const eventTypes = eventKinds.map((k) => k.type) as [string, ...string[]];
export const EventType = z.enum(eventTypes).meta({ description: "An event type from the catalog (list_event_types)" });
const byType = new Map(eventKinds.map((k) => [k.type, k]));

export function eventKind(type: string): EventKind {
  const k = byType.get(type);
  if (!k) throw new Error(`unknown event type '${type}'`);
  return k;
}

/** What every delivery's body is: the Standard Webhooks envelope `{type, timestamp, data}` plus our id. */
export function envelopeSchema(k: EventKind) {
  return z
    .object({
      id: z.string().meta({ description: "The event's id (the same in every delivery of it)" }),
      type: z.literal(k.type),
      version: z.number().int(),
      timestamp: z.string().meta({ description: "When the event happened, ISO 8601" }),
      data: k.data,
    })
    .meta({ description: k.summary });
}
