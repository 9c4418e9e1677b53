// The one exception type of the domain. Handlers throw these; each surface maps them once
// (REST: status + { error: { code, message, ...details } }; MCP: a tool result with isError).

export const errorStatus = {
  validation_error: 400,
  invalid_path: 400,
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
export const validationError = (issues: FieldIssue[], message = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")) =>
  new BosunError("validation_error", message, { issues });

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

/** Anything thrown that is not a BosunError is a bug: callers see a generic message, the log has the rest. */
export function toBosunError(err: unknown): BosunError {
  if (err instanceof BosunError) return err;
  return new BosunError("internal", "internal error");
}
