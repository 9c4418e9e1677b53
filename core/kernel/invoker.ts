// The one gate. Every call from every surface comes through `invoke`: authentication re-check, rate limit,
// scope, input validation, project access and pins, idempotency, the handler, the audit record, and error
// mapping to a BosunError. Surfaces only translate their wire format to and from this call.
import crypto from "node:crypto";
import type { Transaction } from "kysely";
import type { z } from "zod";
import type { Database } from "../../schema/database.ts";
import { redactInput } from "../audit/writer.ts";
import type { Platform } from "../platform.ts";
import { resolveProjectAccess } from "../projects/access.ts";
import {
  BosunError,
  insufficientScope,
  notFound,
  rateLimited,
  restrictedCredential,
  toBosunError,
  unauthorized,
  validationError,
} from "./errors.ts";
import { inputIssues } from "./input-guard.ts";
import {
  type Context,
  isAuthenticated,
  isProjectScoped,
  levelOf,
  type Operation,
  type Principal,
  type ProgressEvent,
  reachableProjects,
} from "./operation.ts";
import type { RateLimitState } from "./rate-limit.ts";
import { hasScope, roleCaps } from "./scopes.ts";

export interface InvokeOptions {
  requestId?: string;
  idempotencyKey?: string;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** A raw request body streamed to an operation with `http.rawBody` (REST); see Context.body. */
  body?: NodeJS.ReadableStream;
  /**
   * Runs the handler in the caller's setting, after every check: the agent runner routes a site run's draft
   * writes into its proposal (core/sites/proposals.ts) by handing the handler a transaction it rolls back.
   */
  around?: (ctx: Context, handler: (ctx: Context) => Promise<unknown>) => Promise<unknown>;
  /** Filled with the rate-limit window of this call, for surfaces that report it (REST headers). */
  meta?: { rateLimit?: RateLimitState };
}

export function zodIssues(error: z.ZodError) {
  return error.issues.map((i) => ({
    path: i.path.map(String).join("."),
    message:
      i.code === "unrecognized_keys" ? `unknown field(s): ${(i as { keys: string[] }).keys.join(", ")}` : i.message,
  }));
}

export async function invoke(
  platform: Platform,
  opOrId: Operation | string,
  rawInput: unknown,
  principal: Principal,
  options: InvokeOptions = {},
): Promise<unknown> {
  const started = performance.now();
  const requestId = options.requestId ?? crypto.randomUUID();
  const op = typeof opOrId === "string" ? platform.operations.get(opOrId) : opOrId;
  if (op.surfaces && !op.surfaces.includes(principal.surface)) throw notFound("operation", op.id);
  let auditProject: string | null = null;
  let auditInput: unknown = null;
  let outcome = "ok";
  try {
    await gate(platform, op, principal, options);
    const guarded = inputIssues(rawInput);
    if (guarded.length) throw validationError(guarded);
    const parsed = op.input.safeParse(rawInput ?? {});
    if (!parsed.success) throw validationError(zodIssues(parsed.error));
    const input = parsed.data as Record<string, unknown>;
    auditInput = redactInput(op.auditInput ? op.auditInput(input) : input);

    let project: Context["project"] = null;
    if (isProjectScoped(op) && typeof input.project === "string") {
      project = await resolveProjectAccess(platform.db, principal, input.project);
      auditProject = project.slug;
      if (op.scope && !hasScope(roleCaps[project.role], op.scope)) {
        throw insufficientScope(op.scope, `your role in project '${project.slug}' is ${project.role}`);
      }
    }

    const idemScope = principal.credential
      ? `${principal.credential.kind}:${principal.credential.id}`
      : `ip:${principal.clientIp}`;
    const idemKey = op.effect === "read" ? undefined : options.idempotencyKey;
    if (idemKey) {
      const claim = await platform.idempotency.claim(idemScope, idemKey, op.id, input);
      if ("replay" in claim) return claim.replay;
    }

    let signal: AbortSignal | undefined;
    // Methods, not arrow-function properties: tsx (esbuild keepNames) names every arrow function assigned to a
    // property with a defineProperty call each time one is made, four per call here.
    const ctx: Context = {
      principal,
      platform,
      db: platform.db,
      tx<T>(fn: (trx: Transaction<Database>) => Promise<T>) {
        return platform.db.transaction().execute(fn);
      },
      progress(e) {
        options.onProgress?.(e);
      },
      // Made when a handler first asks: most never do, and an AbortSignal (or a REST request's) is not free.
      get signal() {
        signal ??= options.signal ?? new AbortController().signal;
        return signal;
      },
      body: op.http.rawBody ? (options.body ?? null) : null,
      requestId,
      project,
      auditProject(slug) {
        auditProject = slug;
      },
    };
    try {
      const output = op.output.parse(
        await (options.around ? options.around(ctx, (c) => op.handler(c, input)) : op.handler(ctx, input)),
      );
      if (idemKey) await platform.idempotency.complete(idemScope, idemKey, output, !!op.secretOutput);
      return output;
    } catch (err) {
      if (idemKey) await platform.idempotency.release(idemScope, idemKey).catch(() => {});
      throw err;
    }
  } catch (err) {
    const error = toBosunError(err);
    if (error.code === "internal") platform.log.error({ err, operation: op.id, requestId }, "operation failed");
    outcome = error.code;
    throw error;
  } finally {
    await platform.audit.record(
      {
        request_id: requestId,
        at: new Date(),
        account_id: principal.account?.id ?? null,
        token_prefix: principal.credential?.kind === "token" ? principal.credential.prefix : null,
        operation: op.id,
        surface: principal.surface,
        project: auditProject,
        outcome,
        duration_ms: Math.round(performance.now() - started),
        client_ip: principal.clientIp,
        input: auditInput === null ? null : JSON.stringify(auditInput),
      },
      op.effect !== "read",
    );
  }
}

/**
 * Who may call at all: credential still valid, within its rate limit, not restricted to projects when the
 * operation acts on the account, holding the operation's scope.
 */
async function gate(platform: Platform, op: Operation, principal: Principal, options: InvokeOptions) {
  const { config, rateLimiter } = platform;
  if (op.rateLimit === "auth") {
    const state = await platform.securityLimiter.take(`auth:${principal.clientIp}`, config.authRateLimitPerMinute);
    if (options.meta) options.meta.rateLimit = state;
    if (!state.allowed) throw rateLimited(state.retryAfter);
  }
  if (op.public && !principal.credential) {
    if (op.rateLimit !== "auth") {
      const state = rateLimiter.take(`ip:${principal.clientIp}`, config.rateLimitPerMinute);
      if (options.meta) options.meta.rateLimit = state;
      if (!state.allowed) throw rateLimited(state.retryAfter);
    }
    return;
  }
  if (!isAuthenticated(principal)) throw unauthorized();
  const checker = platform.credentialCheckers.get(principal.credential.kind);
  if (!checker) throw unauthorized(`credential kind '${principal.credential.kind}' is not accepted`);
  await checker(principal);
  if (op.rateLimit !== "auth") {
    const state = rateLimiter.take(`cred:${principal.credential.id}`, config.rateLimitPerMinute);
    if (options.meta) options.meta.rateLimit = state;
    if (!state.allowed) throw rateLimited(state.retryAfter);
  }
  // Before the scope check: to a restricted credential, no scope would open an account-level operation.
  const reach = reachableProjects(principal);
  if (reach && levelOf(op) === "account") throw restrictedCredential(op.id, reach);
  if (op.scope && !hasScope(principal.scopes, op.scope)) throw insufficientScope(op.scope);
}

export { BosunError };
