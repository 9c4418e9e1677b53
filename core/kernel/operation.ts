// An operation is every capability Bosun has, defined once and adapted by every surface (REST, MCP, agent,
// Telegram, CLI). This file holds the types; `invoker.ts` is the one gate every call passes through.
import type { Kysely, Transaction } from "kysely";
import type { z } from "zod";
import type { Database, ProjectRow } from "../../schema/database.ts";
import type { Platform } from "../platform.ts";
import type { ErrorCode } from "./errors.ts";
import type { ProjectRole } from "./scopes.ts";

/**
 * `sites`: a visitor's form post on the sites listener, which admits it only past the site's password (if any),
 * so no caller input can choose it.
 */
export type Surface = "rest" | "mcp" | "agent" | "telegram" | "cli" | "sites" | "console";
export type Effect = "read" | "write" | "destructive";

/** How a caller proved who they are. Each kind has a checker that re-validates it on every call. */
export type Credential =
  /** audience: the resource (RFC 8707) an OAuth-issued token is bound to; it is accepted there only. */
  | { kind: "token"; id: string; prefix: string; audience?: string }
  | { kind: "session"; id: string }
  | { kind: "agent_run"; id: string }
  | { kind: "telegram_link"; id: string };

export interface PrincipalAccount {
  id: string;
  email: string;
  isOperator: boolean;
}

export interface Principal {
  /** null: anonymous, allowed only for `public` operations. */
  account: PrincipalAccount | null;
  /** The account that pays for what this call consumes. */
  billedAccount: string | null;
  credential: Credential | null;
  /** Scope patterns held (see scopes.ts). */
  scopes: string[];
  /** A token's project restriction (slugs); null means every project the account can reach. */
  projects: string[] | null;
  /** A narrowed principal (agent run, MCP `project=`) reaches only these. */
  pins: { project?: string; instance?: string };
  surface: Surface;
  clientIp: string | null;
  /**
   * Which of an instance's logins this call reaches the server as. The agent runner sets "observer" for calls
   * that run with no person's approval (core/instances/reach.ts reach()); no other surface sets it, so no
   * caller input can choose it. Unset: the operator login.
   */
  serverLogin?: "observer";
}

export const anonymous = (surface: Surface, clientIp: string | null): Principal => ({
  account: null,
  billedAccount: null,
  credential: null,
  scopes: [],
  projects: null,
  pins: {},
  surface,
  clientIp,
});

export interface ProgressEvent {
  progress: number;
  total?: number;
  message?: string;
}

export type DB = Kysely<Database>;

/** A principal acting as an account (the CLI's local operator has no credential). */
export interface AccountPrincipal extends Principal {
  account: PrincipalAccount;
  billedAccount: string;
}

/** A principal the invoker has authenticated: every non-public operation's handler sees one. */
export interface AuthenticatedPrincipal extends AccountPrincipal {
  credential: Credential;
}

export const isAuthenticated = (p: Principal): p is AuthenticatedPrincipal =>
  !!(p.account && p.credential && p.billedAccount);

/** The project a project-scoped call names, resolved and access-checked by the invoker. */
export type ProjectAccess = ProjectRow & { role: ProjectRole };

export interface Context {
  principal: Principal;
  platform: Platform;
  /** The outer handle. Inside `tx`, use the transaction handle only (PGlite has one connection). */
  db: DB;
  /** Runs fn in a transaction. Never hold one across a network call. */
  tx<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  progress(event: ProgressEvent): void;
  signal: AbortSignal;
  /**
   * The request's raw body, when the surface streamed one in place of the field `http.rawBody.field` (REST with
   * one of `http.rawBody.types`); null otherwise. Read it at most once, as a stream: it is never buffered whole.
   */
  body: NodeJS.ReadableStream | null;
  requestId: string;
  /** For project-scoped operations: the project, resolved and access-checked by the invoker. */
  project: ProjectAccess | null;
  /** Lets a handler name the project an account-level call touched (e.g. create_project) for the audit. */
  auditProject(slug: string): void;
}

export interface HttpBinding {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** OpenAPI path template under /v1, e.g. `/projects/{project}`; path params are input fields. */
  path: string;
  status?: number;
  /**
   * REST also takes the bytes of the base64 input `field` as the whole request body, streamed, with one of these
   * Content-Types (other inputs from the query string); the handler reads it as `ctx.body`. MCP and JSON callers
   * send `field` instead.
   */
  rawBody?: { field: string; types: string[] };
  /**
   * REST answers the output's string `field` as the body with this Content-Type (other surfaces get the JSON);
   * `base64`: the field is base64 and REST sends its bytes; `typeField`: an output field that names the
   * Content-Type when set (a stored object's own type).
   */
  produces?: { field: string; type: string; filename?: string; base64?: boolean; typeField?: string };
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

/** True when the input has a required `project` field: the invoker then always resolves ctx.project. */
type NamesProject<I extends AnyObject> = "project" extends keyof I["shape"]
  ? undefined extends z.output<I>["project" & keyof z.output<I>]
    ? false
    : true
  : false;

/**
 * The context a handler sees, carrying what the invoker guarantees: an authenticated principal unless the
 * operation is public, and the resolved project when the input requires one.
 */
export type OperationContext<I extends AnyObject, Public extends boolean> = Omit<Context, "principal" | "project"> & {
  principal: Public extends true ? Principal : AuthenticatedPrincipal;
  project: NamesProject<I> extends true ? ProjectAccess : ProjectAccess | null;
};

/** Narrowed contexts for helpers that handlers pass theirs to. */
export type AuthedContext = OperationContext<AnyObject, false>;
export type ProjectContext = Omit<AuthedContext, "project"> & { project: ProjectAccess };

export interface OperationSpec<I extends AnyObject, O extends z.ZodType, Public extends boolean = false> {
  /** snake_case: the operationId, the MCP tool name, the agent tool name, the CLI verb. */
  id: string;
  summary: string;
  description?: string;
  tags: [string, ...string[]];
  /** The one scope it needs. Omit only with `public: true`. */
  scope?: string;
  public?: Public;
  effect: Effect;
  http: HttpBinding;
  /** An input with a `project` field makes the operation project-scoped: the invoker resolves and checks it. */
  input: I;
  output: O;
  /**
   * What the operation acts on. `project` (inferred from a `project` input field); `account`: the account itself
   * (tokens, two-factor, passwords, sessions, spend limits, creating projects, account billing), refused to a
   * credential restricted to projects; `any`: not tied to one project but safe for restricted credentials,
   * because it filters what it returns to `principal.projects`.
   */
  level?: "project" | "account" | "any";
  /** `auth`: code or password entry, limited per client IP so it cannot be brute-forced. */
  rateLimit?: "default" | "auth";
  /** It reaches outside Bosun (a customer's server, the web): MCP's openWorldHint. */
  openWorld?: boolean;
  /**
   * Its result carries text an outsider may shape without reaching outside Bosun (a worker's logs hold what a
   * visitor sent it): the agent's trifecta rule treats it as untrusted input, as it does openWorld.
   */
  untrustedOutput?: boolean;
  /** Where it is offered; all surfaces when unset (login and register make no sense as an agent's tool). */
  surfaces?: Surface[];
  /** The response carries a secret: the idempotency store keeps it only encrypted. */
  secretOutput?: boolean;
  /** What the audit record keeps of the input, when not all of it (a visitor's form data is personal data). */
  auditInput?: (input: z.output<I>) => unknown;
  /** Error codes it can answer beyond those every operation of its kind can (for the OpenAPI document). */
  errors?: ErrorCode[];
  handler: (ctx: OperationContext<I, Public>, input: z.output<I>) => Promise<z.input<O>>;
}

/** An operation as surfaces and the invoker hold it: the handler takes the invoker's context and parsed input. */
export interface Operation extends Omit<OperationSpec<AnyObject, z.ZodType, boolean>, "handler" | "auditInput"> {
  handler: (ctx: Context, input: unknown) => Promise<unknown>;
  auditInput?: (input: unknown) => unknown;
}

const ID_PATTERN = /^[a-z][a-z0-9_]{1,63}$/;

export function defineOperation<I extends AnyObject, O extends z.ZodType, Public extends boolean = false>(
  spec: OperationSpec<I, O, Public>,
): Operation {
  if (!ID_PATTERN.test(spec.id)) throw new Error(`operation id '${spec.id}' must be snake_case, at most 64 chars`);
  if (!spec.public && !spec.scope) throw new Error(`operation ${spec.id} needs a scope or public: true`);
  // Forgetting the level of an operation that is not tied to one project would let a project-restricted
  // credential reach it: each such operation says, on purpose, whether it acts on the account or filters.
  if (!("project" in spec.input.shape) && !spec.level) {
    throw new Error(`operation ${spec.id} has no project input: declare level "account" or "any"`);
  }
  if (spec.level === "project" && !("project" in spec.input.shape)) {
    throw new Error(`operation ${spec.id}: level "project" needs a project input`);
  }
  for (const [, param = ""] of spec.http.path.matchAll(/\{(\w+)\}/g)) {
    if (!(param in spec.input.shape))
      throw new Error(`operation ${spec.id}: path param {${param}} is not an input field`);
  }
  const { handler, auditInput, ...rest } = spec;
  return {
    ...rest,
    ...(auditInput ? { auditInput: (input: unknown) => auditInput(input as z.output<I>) } : {}),
    // Unknown fields are refused, never silently dropped: a caller's typo must not look like success.
    input: spec.input.strict(),
    // The invoker has parsed the input with this schema and established what OperationContext states;
    // `guaranteed` re-checks the latter so the one type assertion below can never lie.
    handler: (ctx, input) => handler(guaranteed(ctx, spec, input) as OperationContext<I, Public>, input as z.output<I>),
  };
}

function guaranteed(ctx: Context, spec: { id: string; public?: boolean }, input: unknown): Context {
  if (!spec.public && !isAuthenticated(ctx.principal))
    throw new Error(`${spec.id}: invoked without an authenticated principal`);
  const named = typeof input === "object" && input !== null && "project" in input && typeof input.project === "string";
  if (named && !ctx.project) throw new Error(`${spec.id}: invoked without its project resolved`);
  return ctx;
}

export const isProjectScoped = (op: Operation) => "project" in op.input.shape;

/** What an operation acts on (see OperationSpec.level); defineOperation guarantees one is known. */
export const levelOf = (op: Operation): "project" | "account" | "any" => op.level ?? "project";

/**
 * The projects a principal may reach, or null for every project its account can reach. A token's project list,
 * an agent run's or a Telegram link's project, an MCP `project=` pin: all narrow it, and they intersect.
 */
export function reachableProjects(p: Principal): string[] | null {
  const pin = p.pins.project;
  if (!pin) return p.projects;
  return !p.projects || p.projects.includes(pin) ? [pin] : [];
}

/** A credential restricted to projects: it never reaches an account-level operation. */
export const isRestricted = (p: Principal): boolean => reachableProjects(p) !== null;
