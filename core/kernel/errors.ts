// The one exception type of the domain. Handlers throw these; each surface maps them once
// (REST: status + { error: { code, message, ...details } }; MCP: a tool result with isError).

export const errorStatus = {
  validation_error: 400,
  invalid_path: 400,
  invalid_archive: 400,
  unauthorized: 401,
  payment_required: 402,
  spend_cap_reached: 402,
  insufficient_scope: 403,
  // A credential restricted to projects (a token's `projects`, an agent run, a Telegram link, an MCP pin)
  // called an operation that acts on the whole account.
  restricted_credential: 403,
  forbidden: 403,
  egress_denied: 403,
  not_found: 404,
  conflict: 409,
  host_key_mismatch: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  nothing_to_publish: 422,
  rate_limited: 429,
  internal: 500,
  not_supported: 501,
  // The operator has not configured what this needs (e.g. the agent's model API key).
  not_configured: 503,
  // A customer's server (an instance) could not be reached, refused our key, or did not answer in time.
  unreachable: 502,
  auth_failed: 502,
  // The model provider (Anthropic, OpenAI, a compatible server) failed after the SDK's retries.
  model_error: 502,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class BosunError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "BosunError";
  }

  get status(): number {
    return errorStatus[this.code];
  }

  toJSON() {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** The one way to build a validation error: field issues, and a message (by default, the issues joined). */
export const validationError = (
  issues: FieldIssue[],
  message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; "),
) => new BosunError("validation_error", message, { issues });

/** Postgres's unique_violation: an insert or update met a unique index (a name taken, a key replayed). */
export const isUniqueViolation = (err: unknown): boolean =>
  typeof err === "object" && err !== null && "code" in err && String(err.code) === "23505";

export const unauthorized = (message = "a valid bearer token is required", details: Record<string, unknown> = {}) =>
  new BosunError("unauthorized", message, details);

export const insufficientScope = (scope: string, why = "") =>
  new BosunError("insufficient_scope", `this needs the scope '${scope}'${why ? ` (${why})` : ""}`, {
    required_scope: scope,
  });

export const restrictedCredential = (operation: string, projects: string[]) =>
  new BosunError(
    "restricted_credential",
    `${operation} acts on the whole account, and this credential is restricted to project(s) ${projects.map((p) => `'${p}'`).join(", ") || "(none)"}; ` +
      "use a login session or a token without a project restriction",
    { operation, level: "account", projects },
  );

export const notFound = (what: string, id: string) =>
  new BosunError("not_found", `${what} '${id}' was not found`, { resource: what });

export const conflict = (message: string, details: Record<string, unknown> = {}) =>
  new BosunError("conflict", message, details);

export const rateLimited = (retryAfterSeconds: number) =>
  new BosunError("rate_limited", `too many requests; retry in ${retryAfterSeconds}s`, {
    retry_after: retryAfterSeconds,
  });

/**
 * A value the code's own logic guarantees (the row INSERT … RETURNING gave, an entry set just before): its absence is
 * a bug, thrown as one (callers see `internal`, the log names `what`) rather than asserted away with `!`.
 */
export function present<T>(value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`bug: ${what} is missing`);
  return value;
}

/** The first row of a query the code knows returns one (INSERT … RETURNING, an upsert). */
export const one = <T>(rows: readonly T[], what: string): T => present(rows[0], what);

/** Anything thrown that is not a BosunError is a bug: callers see a generic message, the log has the rest. */
export function toBosunError(err: unknown): BosunError {
  if (err instanceof BosunError) return err;
  return new BosunError("internal", "internal error");
}

/** One line per code for docs/errors.md (`npm run docs`); typed so a new code cannot go undocumented. */
export const errorMeaning: Record<ErrorCode, string> = {
  validation_error: "the input does not match the operation's schema; `issues[].path` names each field",
  invalid_path: "a site or remote file path is refused (traversal, control or invisible characters, executable types)",
  invalid_archive:
    "an uploaded archive is refused: not a zip or tar.gz, or an entry that is a link, a device or a duplicate; `entry` names it",
  unauthorized: "no valid credential: missing, expired or revoked token, ended session, wrong password or code",
  payment_required: "not enough balance (AI credit or wallet) for the work",
  spend_cap_reached: "the pool's monthly hard cap (`update_spend_limits`) is reached",
  insufficient_scope: "the credential lacks the scope; `required_scope` names it",
  restricted_credential: "an account-level operation called with a credential restricted to projects",
  forbidden:
    "allowed by scope but not here: closed registration, a pinned session, a password-protected site, a permission denied on the server",
  egress_denied:
    "an outbound connection to a private, loopback or link-local address while `BOSUN_EGRESS_ALLOW_PRIVATE` is off",
  not_found: "no such resource — also another tenant's, never 403; `resource` names the kind",
  conflict: "the state forbids it: a duplicate slug, a decided approval, an Idempotency-Key reused with another body",
  host_key_mismatch:
    "the instance's SSH host key differs from the pinned one; `reset_instance_host_key` after checking",
  payload_too_large: "the body or a file is over its limit",
  unsupported_media_type: "the request's Content-Type is not one the route takes",
  unprocessable: "well-formed but the server could not do it (e.g. a file operation the instance failed)",
  nothing_to_publish: "`publish_site` with a draft equal to the live release",
  rate_limited: "too many calls; `retry_after` (and the `Retry-After` header) says when to try again",
  internal: "a bug, never the caller's mistake: the log has the details",
  not_supported: "the instance's provider cannot do this (e.g. start or reinstall on `ssh`)",
  not_configured: "the operator has not configured what this needs (e.g. the agent's model API key), naming it",
  unreachable: "the instance's server could not be reached",
  auth_failed: "the instance's server refused Bosun's key",
  model_error: "the model provider failed after the SDK's retries",
  timeout: "the instance's server (or the command) did not answer in time",
};
