// OAuth 2.1 for remote MCP clients (the MCP authorization spec): public clients register themselves (RFC 7591),
// a person consents (authorize_oauth_client, through the invoker), the client trades the one-time code and its
// PKCE verifier (S256 only) for a grant. A grant's access tokens are ordinary API tokens — hashed, listed by
// list_api_tokens, audited, revocable — that expire in an hour and are bound to one resource (RFC 8707, the MCP
// URL). Its refresh tokens rotate on every use; presenting a used one again (a stolen copy, or the thief's
// copy racing the owner) ends the whole grant. The protocol endpoints (http/oauth.ts) call these functions.
import crypto from "node:crypto";
import { calculatePKCECodeChallenge } from "oauth4webapi";
import { z } from "zod";
import type { OAuthRevokeReason } from "../../schema/database.ts";
import { EgressRequestError, egressCa, egressRequest } from "../egress-http.ts";
import { displayName, Slug, Timestamp } from "../kernel/common.ts";
import { notFound, validationError } from "../kernel/errors.ts";
import { type AccountPrincipal, type DB, defineOperation } from "../kernel/operation.ts";
import { ADMIN_SCOPE } from "../kernel/scopes.ts";
import type { Platform } from "../platform.ts";
import { sha256 } from "../secrets.ts";
import { REVOKE_TOPIC, TOKEN_PREFIX } from "./authenticate.ts";
import { checkGrant, mintToken, revokeGrantFamily } from "./tokens.ts";

export const ACCESS_TOKEN_TTL_SECONDS = 3600;
const REFRESH_TTL_MS = 30 * 86400_000;
const CODE_TTL_MS = 60_000;
const REFRESH_PREFIX = "bsr_";
const CLIENT_PREFIX = "bmc_";
/** An S256 challenge is base64url(SHA-256): always 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 7636 §4.1. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** An error the protocol endpoints answer as `{ error, error_description }` (RFC 6749 §5.2, RFC 7591 §3.2.2). */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

// ---- clients (RFC 7591) ----------------------------------------------------------------------------------------

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Why a redirect URI is refused, or null: https, or http on a loopback host (RFC 8252 §7.3); no fragment. */
export function redirectUriProblem(uri: string): string | null {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return "not an absolute URL";
  }
  if (u.hash || uri.includes("#")) return "must not have a fragment";
  if (u.username || u.password) return "must not carry credentials";
  if (u.protocol === "https:") return null;
  if (u.protocol === "http:" && LOOPBACK.has(u.hostname)) return null;
  return "must be https, or http on localhost / 127.0.0.1 / [::1]";
}

const ClientMetadata = z.object({
  redirect_uris: z.array(z.string().max(2000)).min(1).max(10),
  client_name: displayName(200, 0).optional(),
  token_endpoint_auth_method: z.string().max(100).optional(),
  grant_types: z.array(z.string().max(100)).max(10).optional(),
  response_types: z.array(z.string().max(100)).max(10).optional(),
});

/** RFC 7591 client metadata Bosun accepts: public clients with code + refresh grants and safe redirect URIs. */
function checkClientMetadata(body: unknown): z.infer<typeof ClientMetadata> {
  const parsed = ClientMetadata.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OAuthError("invalid_client_metadata", `${issue?.path.join(".") || "body"}: ${issue?.message}`);
  }
  const meta = parsed.data;
  for (const [i, uri] of meta.redirect_uris.entries()) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new OAuthError("invalid_redirect_uri", `redirect_uris.${i}: ${problem}`);
  }
  if ((meta.token_endpoint_auth_method ?? "none") !== "none")
    throw new OAuthError("invalid_client_metadata", "token_endpoint_auth_method: only public clients ('none')");
  const badGrant = meta.grant_types?.find((g) => g !== "authorization_code" && g !== "refresh_token");
  if (badGrant) throw new OAuthError("invalid_client_metadata", `grant_types: '${badGrant}' is not supported`);
  if (meta.response_types?.some((r) => r !== "code"))
    throw new OAuthError("invalid_client_metadata", "response_types: only 'code'");
  return meta;
}

export async function registerClient(db: DB, body: unknown, clientIp: string | null) {
  const meta = checkClientMetadata(body);
  const row = await db
    .insertInto("oauth_clients")
    .values({
      id: CLIENT_PREFIX + crypto.randomBytes(16).toString("base64url"),
      name: meta.client_name?.trim() || "MCP client",
      redirect_uris: [...new Set(meta.redirect_uris)],
      client_ip: clientIp,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return {
    client_id: row.id,
    client_id_issued_at: Math.floor(row.created_at.getTime() / 1000),
    client_name: row.name,
    redirect_uris: row.redirect_uris,
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  };
}

export const findClient = (db: DB, id: string) =>
  db.selectFrom("oauth_clients").selectAll().where("id", "=", id).executeTakeFirst();

// ---- client ID metadata documents (draft-ietf-oauth-client-id-metadata-document) -------------------------------
// The MCP spec's preferred registration: the client_id is an https URL where the client publishes its metadata.
// Bosun fetches it at every authorization request (so a changed document takes effect, and a withdrawn one stops
// new sign-ins) through the egress policy, and keeps a row under that URL for the grants to point at.

const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;
const METADATA_DOCUMENT_TIMEOUT_MS = 5000;
const CLIENT_ID_MAX = 2000;

/** Whether a client_id is a metadata document URL rather than one Bosun issued (`bmc_…`). */
export const isMetadataDocumentClientId = (id: string) => id.startsWith("https://");

/** Why a client_id URL is not a valid metadata document address, or null (the draft's §3 rules). */
export function clientIdUrlProblem(id: string): string | null {
  if (id.length > CLIENT_ID_MAX) return "is too long";
  let u: URL;
  try {
    u = new URL(id);
  } catch {
    return "is not an absolute URL";
  }
  if (u.protocol !== "https:") return "must be https";
  if (u.pathname === "/" || u.pathname === "") return "must have a path";
  if (id.includes("#")) return "must not have a fragment";
  if (u.username || u.password) return "must not carry credentials";
  // new URL() resolves dot segments away; a URL that had any is not the one the client publishes at.
  if (/\/\.{1,2}(\/|$|\?)/.test(id.split("?")[0] ?? "")) return "must not have . or .. path segments";
  return null;
}

/** Fetches and checks a client's metadata document, then records the client under its URL. */
async function clientFromMetadataDocument(platform: Pick<Platform, "db" | "config">, clientId: string) {
  const fail = (why: string) => ({ fatal: `The app's client ID document at ${clientId} ${why}.` });
  const problem = clientIdUrlProblem(clientId);
  if (problem) return { fatal: `The client_id URL ${problem}.` };
  let res: Awaited<ReturnType<typeof egressRequest>>;
  try {
    res = await egressRequest(clientId, {
      headers: { accept: "application/json", "user-agent": "Bosun-OAuth/1" },
      policy: { allowPrivate: platform.config.egressAllowPrivate },
      timeoutMs: METADATA_DOCUMENT_TIMEOUT_MS,
      maxBytes: METADATA_DOCUMENT_MAX_BYTES,
      ca: egressCa(platform.config.egressCaFile),
    });
  } catch (err) {
    if (!(err instanceof EgressRequestError)) throw err;
    return fail(`could not be fetched: ${err.message}`);
  }
  if (res.status !== 200) return fail(`answered HTTP ${res.status}`);
  if (res.truncated) return fail(`is larger than ${METADATA_DOCUMENT_MAX_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(res.body.toString("utf8"));
  } catch {
    return fail("is not JSON");
  }
  if (typeof doc !== "object" || doc === null || (doc as { client_id?: unknown }).client_id !== clientId)
    return fail("does not name itself as its client_id");
  if ("client_secret" in doc || "client_secret_expires_at" in doc) return fail("carries a client secret");
  let meta: z.infer<typeof ClientMetadata>;
  try {
    meta = checkClientMetadata(doc);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    return fail(`is not acceptable: ${err.description}`);
  }
  const values = {
    name: meta.client_name?.trim() || new URL(clientId).host,
    redirect_uris: [...new Set(meta.redirect_uris)],
  };
  return {
    client: await platform.db
      .insertInto("oauth_clients")
      .values({ id: clientId, client_ip: null, ...values })
      .onConflict((oc) => oc.column("id").doUpdateSet(values))
      .returningAll()
      .executeTakeFirstOrThrow(),
  };
}

// ---- the authorization request ---------------------------------------------------------------------------------

export interface AuthorizationRequest {
  /** `url`: the client_id is its metadata document's address, whose host vouches for it. */
  client: { id: string; name: string; url: boolean };
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  state?: string;
  /** The scopes the client asked for (space-separated in the request). */
  scope: string[];
}

/**
 * Checks the parameters of an authorization request. A bad client or redirect URI is `fatal`: the person is told
 * and nothing is sent anywhere (an open redirector otherwise). Anything else is answered at the redirect URI.
 */
export async function checkAuthorizationRequest(
  platform: Pick<Platform, "db" | "config">,
  p: Record<string, string | undefined>,
  expectedResource: string,
): Promise<
  | { ok: AuthorizationRequest }
  | { fatal: string }
  | { redirect: { uri: string; error: string; description: string; state?: string } }
> {
  let client: Awaited<ReturnType<typeof findClient>>;
  if (p.client_id && isMetadataDocumentClientId(p.client_id)) {
    const found = await clientFromMetadataDocument(platform, p.client_id);
    if (found.fatal !== undefined) return { fatal: found.fatal };
    client = found.client;
  } else if (p.client_id && p.client_id.length <= 100) client = await findClient(platform.db, p.client_id);
  if (!client) return { fatal: "Unknown client_id: the app must register first." };
  if (!p.redirect_uri || !client.redirect_uris.includes(p.redirect_uri))
    return { fatal: "The redirect_uri is not one this app registered." };
  const uri = p.redirect_uri;
  const fail = (error: string, description: string) => ({ redirect: { uri, error, description, state: p.state } });
  if (p.response_type !== "code") return fail("unsupported_response_type", "response_type must be 'code'");
  if (p.code_challenge_method !== "S256")
    return fail("invalid_request", "PKCE is required, with code_challenge_method S256");
  if (!p.code_challenge || !S256_CHALLENGE.test(p.code_challenge))
    return fail("invalid_request", "code_challenge must be a base64url SHA-256 (43 characters)");
  if (!p.resource) return fail("invalid_target", `resource is required: ${expectedResource}`);
  if (p.resource !== expectedResource) return fail("invalid_target", `the only resource here is ${expectedResource}`);
  if (p.state && p.state.length > 1000) return fail("invalid_request", "state is too long");
  return {
    ok: {
      client: { id: client.id, name: client.name, url: isMetadataDocumentClientId(client.id) },
      redirectUri: p.redirect_uri,
      codeChallenge: p.code_challenge,
      resource: p.resource,
      state: p.state,
      scope: (p.scope ?? "").split(" ").filter(Boolean).slice(0, 100),
    },
  };
}

/** The person's consent: a one-time code for the client, holding no more power than the caller. */
export const authorizeOAuthClient = defineOperation({
  id: "authorize_oauth_client",
  summary: "Grant an OAuth client access (consent)",
  description:
    "What the consent page at /oauth/authorize calls after you sign in: issues a one-minute, one-time code the " +
    "client exchanges (with its PKCE verifier) at /oauth/token for tokens holding these scopes and projects — " +
    "never more than the caller holds. Tokens it yields appear in list_api_tokens.",
  tags: ["identity"],
  scope: "tokens:write",
  effect: "write",
  level: "account",
  surfaces: ["rest"],
  secretOutput: true,
  http: { method: "post", path: "/oauth/authorizations", status: 201 },
  input: z.object({
    client_id: z.string().min(1).max(CLIENT_ID_MAX),
    redirect_uri: z.string().min(1).max(2000),
    code_challenge: z
      .string()
      .length(43)
      .regex(/^[A-Za-z0-9_-]+$/, "base64url")
      .meta({ description: "base64url(SHA-256(code_verifier)), 43 characters" }),
    code_challenge_method: z.enum(["S256"]),
    resource: z.url().max(2000).meta({ description: "The MCP URL the tokens will be bound to (RFC 8707)" }),
    scopes: z.array(z.string().max(64)).min(1).max(64),
    projects: z.array(Slug).max(100).optional().meta({ description: "Restrict the grant to these project slugs" }),
  }),
  output: z.object({ code: z.string(), redirect_uri: z.string(), expires_at: Timestamp }),
  auditInput: ({ client_id, redirect_uri, resource, scopes, projects }) => ({
    client_id,
    redirect_uri,
    resource,
    scopes,
    projects,
  }),
  handler: async (ctx, input) => {
    const client = await findClient(ctx.db, input.client_id);
    if (!client) throw notFound("oauth client", input.client_id);
    if (!client.redirect_uris.includes(input.redirect_uri))
      throw validationError([{ path: "redirect_uri", message: "not a redirect URI this client registered" }]);
    const projects = await checkGrant(ctx.db, ctx.principal, input);
    const code = crypto.randomBytes(32).toString("base64url");
    const expiresAt = new Date(Date.now() + CODE_TTL_MS);
    await ctx.db
      .insertInto("oauth_codes")
      .values({
        code_hash: sha256(code),
        client_id: client.id,
        account_id: ctx.principal.account.id,
        redirect_uri: input.redirect_uri,
        code_challenge: input.code_challenge,
        resource: input.resource,
        scopes: [...new Set(input.scopes)],
        projects,
        expires_at: expiresAt,
      })
      .execute();
    return { code, redirect_uri: input.redirect_uri, expires_at: expiresAt.toISOString() };
  },
});

export const oauthOperations = [authorizeOAuthClient];

// ---- the token endpoint ----------------------------------------------------------------------------------------

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  scope: string;
}

type Params = Record<string, string | undefined>;
type OAuthPlatform = Pick<Platform, "db" | "notifier" | "audit">;
/** Who is asking, for the audit record. */
export interface Origin {
  clientIp: string | null;
  requestId: string;
}

/**
 * The token endpoint runs outside the invoker (the client has no credential yet), so it writes its own audit
 * records: every token issued, and every grant ended by a reused code or refresh token.
 */
function audit(
  platform: OAuthPlatform,
  origin: Origin,
  e: { operation: string; accountId: string; prefix?: string; outcome: string; clientId: string },
) {
  return platform.audit.record(
    {
      request_id: origin.requestId,
      at: new Date(),
      account_id: e.accountId,
      token_prefix: e.prefix ?? null,
      operation: e.operation,
      surface: "rest",
      project: null,
      outcome: e.outcome,
      duration_ms: 0,
      client_ip: origin.clientIp,
      input: JSON.stringify({ client_id: e.clientId }),
    },
    true,
  );
}

async function endGrant(platform: OAuthPlatform, origin: Origin, grantId: string, reason: OAuthRevokeReason) {
  const ended = await revokeGrantFamily(platform.db, platform.notifier, grantId, reason);
  if (ended)
    await audit(platform, origin, {
      operation: "oauth_grant_ended",
      accountId: ended.account_id,
      outcome: reason,
      clientId: ended.client_id,
    });
}

function need<K extends string>(p: Params, ...names: K[]): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const n of names) {
    const v = p[n];
    if (!v) throw new OAuthError("invalid_request", `${n} is required`);
    out[n] = v;
  }
  return out;
}

/** Exchanges a code (grant_type=authorization_code). */
export async function exchangeCode(platform: OAuthPlatform, p: Params, origin: Origin): Promise<TokenResponse> {
  const { code, code_verifier } = need(p, "code", "code_verifier", "client_id", "redirect_uri");
  if (!VERIFIER.test(code_verifier)) throw new OAuthError("invalid_request", "code_verifier is malformed");
  const { db } = platform;
  const hash = sha256(code);
  const row = await db
    .updateTable("oauth_codes")
    .set({ used_at: new Date() })
    .where("code_hash", "=", hash)
    .where("used_at", "is", null)
    .returningAll()
    .executeTakeFirst();
  if (!row) {
    // A code presented twice may have leaked: whatever the first exchange issued ends too (RFC 6749 §4.1.2).
    const used = await db.selectFrom("oauth_codes").select("grant_id").where("code_hash", "=", hash).executeTakeFirst();
    if (used?.grant_id) await endGrant(platform, origin, used.grant_id, "code_reuse");
    throw new OAuthError("invalid_grant", "the code is invalid, expired or already used");
  }
  if (row.expires_at.getTime() <= Date.now()) throw new OAuthError("invalid_grant", "the code has expired");
  if (row.client_id !== p.client_id || row.redirect_uri !== p.redirect_uri)
    throw new OAuthError("invalid_grant", "the code was issued to another client or redirect_uri");
  if (p.resource && p.resource !== row.resource)
    throw new OAuthError("invalid_target", `the code was issued for ${row.resource}`);
  if ((await calculatePKCECodeChallenge(code_verifier)) !== row.code_challenge)
    throw new OAuthError("invalid_grant", "code_verifier does not match the code_challenge");
  const grant = await db
    .insertInto("oauth_grants")
    .values({
      id: crypto.randomUUID(),
      client_id: row.client_id,
      account_id: row.account_id,
      resource: row.resource,
      scopes: row.scopes,
      projects: row.projects,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await db.updateTable("oauth_codes").set({ grant_id: grant.id }).where("code_hash", "=", hash).execute();
  return issueTokens(platform, grant, origin);
}

/** Rotates a refresh token (grant_type=refresh_token); a used one presented again ends the grant. */
export async function refreshGrant(platform: OAuthPlatform, p: Params, origin: Origin): Promise<TokenResponse> {
  const { refresh_token } = need(p, "refresh_token", "client_id");
  const { db } = platform;
  const hash = sha256(refresh_token);
  const row = await db
    .updateTable("oauth_refresh_tokens")
    .set({ used_at: new Date() })
    .where("token_hash", "=", hash)
    .where("used_at", "is", null)
    .where("expires_at", ">", new Date())
    .returning("grant_id")
    .executeTakeFirst();
  if (!row) {
    const old = await db
      .selectFrom("oauth_refresh_tokens")
      .select(["grant_id", "used_at"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (old?.used_at) await endGrant(platform, origin, old.grant_id, "refresh_reuse");
    throw new OAuthError("invalid_grant", "the refresh token is invalid, expired or already used");
  }
  const grant = await db.selectFrom("oauth_grants").selectAll().where("id", "=", row.grant_id).executeTakeFirst();
  if (!grant || grant.revoked_at) throw new OAuthError("invalid_grant", "the grant has been revoked");
  if (grant.client_id !== p.client_id) {
    await endGrant(platform, origin, grant.id, "refresh_reuse");
    throw new OAuthError("invalid_grant", "the refresh token was issued to another client");
  }
  if (p.resource && p.resource !== grant.resource)
    throw new OAuthError("invalid_target", `the grant is for ${grant.resource}`);
  const beyond = p.scope?.split(" ").find((s) => s && !grant.scopes.includes(s));
  if (beyond) throw new OAuthError("invalid_scope", `'${beyond}' was not granted`);
  // The access token this refresh replaces ends now: one live token per grant, in list_api_tokens too.
  const previous = await db
    .updateTable("api_tokens")
    .set({ revoked_at: new Date() })
    .where("oauth_grant_id", "=", grant.id)
    .where("revoked_at", "is", null)
    .returning("id")
    .execute();
  for (const t of previous) await platform.notifier.publish(REVOKE_TOPIC, t.id);
  return issueTokens(platform, grant, origin);
}

/**
 * A new access token and refresh token for a grant. The access token is minted as the account itself, so the
 * person's power today bounds it (a project they left is refused, and the grant ends).
 */
async function issueTokens(
  platform: OAuthPlatform,
  grant: {
    id: string;
    client_id: string;
    account_id: string;
    resource: string;
    scopes: string[];
    projects: string[] | null;
  },
  origin: Origin,
): Promise<TokenResponse> {
  const { db } = platform;
  const [account, client] = await Promise.all([
    db
      .selectFrom("accounts")
      .select(["id", "email", "is_operator"])
      .where("id", "=", grant.account_id)
      .executeTakeFirst(),
    findClient(db, grant.client_id),
  ]);
  if (!account || !client) throw new OAuthError("invalid_grant", "the grant no longer exists");
  const person: AccountPrincipal = {
    account: { id: account.id, email: account.email, isOperator: account.is_operator },
    billedAccount: account.id,
    credential: null,
    scopes: account.is_operator ? ["*", ADMIN_SCOPE] : ["*"],
    projects: null,
    pins: {},
    surface: "mcp",
    clientIp: null,
  };
  let minted: Awaited<ReturnType<typeof mintToken>>;
  try {
    minted = await mintToken(db, person, {
      name: `OAuth: ${client.name}`.slice(0, 100),
      scopes: grant.scopes,
      projects: grant.projects,
      expiresAt: new Date(Date.now() + ACCESS_TOKEN_TTL_SECONDS * 1000),
      oauthGrantId: grant.id,
      resource: grant.resource,
    });
  } catch {
    await endGrant(platform, origin, grant.id, "revoked");
    throw new OAuthError("invalid_grant", "the grant exceeds what the account may do now; authorize again");
  }
  const refresh = REFRESH_PREFIX + crypto.randomBytes(32).toString("base64url");
  await db
    .insertInto("oauth_refresh_tokens")
    .values({ token_hash: sha256(refresh), grant_id: grant.id, expires_at: new Date(Date.now() + REFRESH_TTL_MS) })
    .execute();
  await audit(platform, origin, {
    operation: "oauth_token",
    accountId: grant.account_id,
    prefix: minted.prefix,
    outcome: "ok",
    clientId: grant.client_id,
  });
  return {
    access_token: minted.token,
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_TTL_SECONDS,
    refresh_token: refresh,
    scope: grant.scopes.join(" "),
  };
}

/**
 * Revocation (RFC 7009): an access or refresh token of the client's ends its whole grant. Unknown tokens are
 * answered like known ones, so the endpoint tells nothing.
 */
export async function revokeOAuthToken(platform: OAuthPlatform, p: Params, origin: Origin): Promise<void> {
  const { token, client_id } = need(p, "token", "client_id");
  const { db } = platform;
  const hash = sha256(token);
  const grant = token.startsWith(TOKEN_PREFIX)
    ? await db
        .selectFrom("api_tokens")
        .innerJoin("oauth_grants", "oauth_grants.id", "api_tokens.oauth_grant_id")
        .select(["oauth_grants.id", "oauth_grants.client_id"])
        .where("api_tokens.token_hash", "=", hash)
        .executeTakeFirst()
    : await db
        .selectFrom("oauth_refresh_tokens")
        .innerJoin("oauth_grants", "oauth_grants.id", "oauth_refresh_tokens.grant_id")
        .select(["oauth_grants.id", "oauth_grants.client_id"])
        .where("oauth_refresh_tokens.token_hash", "=", hash)
        .executeTakeFirst();
  if (grant && grant.client_id === client_id) await endGrant(platform, origin, grant.id, "revoked");
}

/**
 * Hourly, from the platform's sweeper: codes a day past expiry, expired refresh tokens (a reused one past expiry
 * is refused anyway), and clients that registered a day ago and never got a grant (registration is anonymous).
 * Returns how many rows went.
 */
export async function sweepOAuth(db: DB, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - 86_400_000);
  const codes = await db.deleteFrom("oauth_codes").where("expires_at", "<", before).executeTakeFirst();
  const refresh = await db.deleteFrom("oauth_refresh_tokens").where("expires_at", "<", now).executeTakeFirst();
  const clients = await db
    .deleteFrom("oauth_clients")
    .where("created_at", "<", before)
    .where((eb) =>
      eb.and([
        eb.not(eb.exists(eb.selectFrom("oauth_grants").select("id").whereRef("client_id", "=", "oauth_clients.id"))),
        eb.not(
          eb.exists(eb.selectFrom("oauth_codes").select("code_hash").whereRef("client_id", "=", "oauth_clients.id")),
        ),
      ]),
    )
    .executeTakeFirst();
  return Number(codes.numDeletedRows) + Number(refresh.numDeletedRows) + Number(clients.numDeletedRows);
}
