// API tokens: `bsn_` + 32 random bytes, shown once, stored as a SHA-256 hash and a display prefix.
// A token never holds more power than the credential that minted it.
import crypto from "node:crypto";
import { z } from "zod";
import type { OAuthRevokeReason } from "../../schema/database.ts";
import { inTransaction, publishEvent } from "../events/publish.ts";
import { displayName, iso, isoOrNull, Slug, Timestamp } from "../kernel/common.ts";
import { insufficientScope, notFound, validationError } from "../kernel/errors.ts";
import { type AccountPrincipal, type DB, defineOperation, isRestricted, type Principal } from "../kernel/operation.ts";
import { ADMIN_SCOPE, hasScope, isKnownScope, scopeCatalog, tokenPresets } from "../kernel/scopes.ts";
import { newTokenSecret, REVOKE_TOPIC } from "./authenticate.ts";

const ApiToken = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().meta({ description: "First characters of the token, for recognising it" }),
    scopes: z.array(z.string()),
    projects: z.array(z.string()).nullable(),
    expires_at: Timestamp.nullable(),
    last_used_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: "ApiToken" });

type TokenRow = {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  projects: string[] | null;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
};
const tokenView = (t: TokenRow): z.input<typeof ApiToken> => ({
  id: t.id,
  name: t.name,
  prefix: t.prefix,
  scopes: t.scopes,
  projects: t.projects,
  expires_at: isoOrNull(t.expires_at),
  last_used_at: isoOrNull(t.last_used_at),
  revoked_at: isoOrNull(t.revoked_at),
  created_at: iso(t.created_at),
});

export interface MintRequest {
  name: string;
  scopes: string[];
  projects?: string[] | null;
  expiresInDays?: number | null;
  /** Wins over expiresInDays (OAuth access tokens live an hour). */
  expiresAt?: Date;
  /** OAuth: the grant the token belongs to, and the resource it is bound to. */
  oauthGrantId?: string;
  resource?: string;
}

/**
 * Checks a request for power against the scope grammar and the minter's own power: the scopes are within the
 * minter's, the projects within its restriction and among the account's. Answers the project restriction to store.
 */
export async function checkGrant(
  db: DB,
  minter: AccountPrincipal,
  req: Pick<MintRequest, "scopes" | "projects">,
): Promise<string[] | null> {
  req.scopes.forEach((s, i) => {
    if (!isKnownScope(s)) throw validationError([{ path: `scopes.${i}`, message: `unknown scope '${s}'` }]);
  });
  for (const s of req.scopes) {
    if (s === ADMIN_SCOPE && !minter.account?.isOperator)
      throw insufficientScope(ADMIN_SCOPE, "only the platform operator holds it");
    if (!hasScope(minter.scopes, s)) throw insufficientScope(s, "a token cannot have more power than its creator");
  }
  const limitTo = minter.pins.project ? [minter.pins.project] : minter.projects;
  let projects = req.projects?.length ? [...new Set(req.projects)] : null;
  if (limitTo) {
    projects ??= limitTo;
    const outside = projects.find((p) => !limitTo.includes(p));
    if (outside) throw notFound("project", outside);
  }
  if (projects) {
    const reachable = await db
      .selectFrom("projects")
      .innerJoin("project_members", "project_members.project_id", "projects.id")
      .select("projects.slug")
      .where("project_members.account_id", "=", minter.account.id)
      .where("projects.slug", "in", projects)
      .execute();
    const missing = projects.find((p) => !reachable.some((r) => r.slug === p));
    if (missing) throw notFound("project", missing);
  }
  return projects;
}

/** Checks the request against the scope grammar and the minter's own power, then stores the token. */
export async function mintToken(db: DB, minter: AccountPrincipal, req: MintRequest) {
  const projects = await checkGrant(db, minter, req);
  const { secret, prefix, hash } = newTokenSecret();
  const row = await inTransaction(db, async (trx) => {
    const row = await trx
      .insertInto("api_tokens")
      .values({
        id: crypto.randomUUID(),
        account_id: minter.account.id,
        name: req.name,
        prefix,
        token_hash: hash,
        scopes: [...new Set(req.scopes)],
        projects,
        expires_at: req.expiresAt ?? (req.expiresInDays ? new Date(Date.now() + req.expiresInDays * 86400_000) : null),
        oauth_grant_id: req.oauthGrantId ?? null,
        resource: req.resource ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    // A token an OAuth grant mints (again at every refresh) is not news to its owner; the grant is audited.
    if (!req.oauthGrantId)
      await publishEvent(trx, {
        type: "token.created",
        account: row.account_id,
        data: { token_id: row.id, name: row.name, prefix: row.prefix, scopes: row.scopes },
      });
    return row;
  });
  return { ...tokenView(row), token: secret };
}

const NO_TOKEN = "00000000-0000-0000-0000-000000000000";

/**
 * Ends an OAuth grant and every token of it (its access tokens here, its refresh tokens with the grant), on every
 * process. Revoking any one token of a grant ends the grant: otherwise its refresh token would mint a new one.
 * Answers whose grant it was, when this call ended it.
 */
export async function revokeGrantFamily(
  db: DB,
  notifier: { publish(topic: string, payload: string): Promise<void> },
  grantId: string,
  reason: OAuthRevokeReason,
): Promise<{ account_id: string; client_id: string } | undefined> {
  const now = new Date();
  const ended = await db
    .updateTable("oauth_grants")
    .set({ revoked_at: now, revoke_reason: reason })
    .where("id", "=", grantId)
    .where("revoked_at", "is", null)
    .returning(["account_id", "client_id"])
    .executeTakeFirst();
  const tokens = await db
    .updateTable("api_tokens")
    .set({ revoked_at: now })
    .where("oauth_grant_id", "=", grantId)
    .where("revoked_at", "is", null)
    .returning("id")
    .execute();
  for (const t of tokens) await notifier.publish(REVOKE_TOPIC, t.id);
  return ended;
}

/**
 * A credential restricted to projects sees and revokes only itself (a leaked CI token can retire itself, but
 * neither learn of nor cut off the account's other tokens); agent runs and Telegram links see no token.
 * undefined: not restricted, every token of the account.
 */
function restrictedSelf(p: Principal): string | null | undefined {
  if (!isRestricted(p)) return undefined;
  return p.credential?.kind === "token" ? p.credential.id : null;
}

export const createApiToken = defineOperation({
  id: "create_api_token",
  summary: "Create an API token",
  description:
    "Mints a bearer token (shown once). Give `scopes` (see list_scopes) or a `preset` (viewer, editor, agent, full), " +
    "optionally restricted to some projects and with an expiry.",
  tags: ["identity", "security"],
  scope: "tokens:write",
  effect: "write",
  level: "account",
  secretOutput: true,
  http: { method: "post", path: "/tokens", status: 201 },
  input: z.object({
    name: displayName(100),
    scopes: z.array(z.string().max(64)).max(64).optional(),
    preset: z.enum(Object.keys(tokenPresets) as [string, ...string[]]).optional(),
    projects: z.array(Slug).max(100).optional().meta({ description: "Restrict the token to these project slugs" }),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
  }),
  output: ApiToken.extend({ token: z.string().meta({ description: "The secret. Shown only this once." }) }),
  handler: async (ctx, input) => {
    const scopes = [...(input.preset ? (tokenPresets[input.preset] ?? []) : []), ...(input.scopes ?? [])];
    if (!scopes.length) throw validationError([{ path: "scopes", message: "give scopes or a preset" }]);
    return mintToken(ctx.db, ctx.principal, {
      name: input.name,
      scopes,
      projects: input.projects,
      expiresInDays: input.expires_in_days,
    });
  },
});

export const listApiTokens = defineOperation({
  id: "list_api_tokens",
  summary: "List your API tokens",
  description: "A token restricted to projects sees only itself.",
  tags: ["identity", "security"],
  scope: "tokens:read",
  effect: "read",
  level: "any",
  http: { method: "get", path: "/tokens" },
  input: z.object({ include_revoked: z.boolean().default(false) }),
  output: z.object({ tokens: z.array(ApiToken) }),
  handler: async (ctx, input) => {
    let q = ctx.db.selectFrom("api_tokens").selectAll().where("account_id", "=", ctx.principal.account.id);
    const self = restrictedSelf(ctx.principal);
    if (self !== undefined) q = q.where("id", "=", self ?? NO_TOKEN);
    if (!input.include_revoked) q = q.where("revoked_at", "is", null);
    const rows = await q.orderBy("created_at", "desc").execute();
    return { tokens: rows.map(tokenView) };
  },
});

export const revokeApiToken = defineOperation({
  id: "revoke_api_token",
  summary: "Revoke an API token",
  description:
    "Takes effect at once, on every Bosun process: the token's next call fails with 401. A token restricted to " +
    "projects can revoke only itself. A token issued through OAuth ends its whole grant (its refresh token too).",
  tags: ["identity", "security"],
  scope: "tokens:write",
  effect: "destructive",
  level: "any",
  http: { method: "delete", path: "/tokens/{id}" },
  input: z.object({ id: z.uuid() }),
  output: ApiToken,
  handler: async (ctx, input) => {
    const row = await ctx.tx(async (trx) => {
      const row = await trx
        .updateTable("api_tokens")
        .set({ revoked_at: new Date() })
        .where("id", "=", input.id)
        .where("account_id", "=", ctx.principal.account.id)
        .$if(restrictedSelf(ctx.principal) !== undefined, (q) =>
          q.where("id", "=", restrictedSelf(ctx.principal) ?? NO_TOKEN),
        )
        .returningAll()
        .executeTakeFirst();
      if (!row) throw notFound("token", input.id);
      await publishEvent(trx, {
        type: "token.revoked",
        account: row.account_id,
        data: { token_id: row.id, name: row.name, prefix: row.prefix },
      });
      return row;
    });
    await ctx.platform.notifier.publish(REVOKE_TOPIC, row.id);
    if (row.oauth_grant_id) await revokeGrantFamily(ctx.db, ctx.platform.notifier, row.oauth_grant_id, "token_revoked");
    return tokenView(row);
  },
});

export const listScopes = defineOperation({
  id: "list_scopes",
  summary: "List the scopes and token presets",
  description: "The permission catalog: every scope with its group and description, and what each preset grants.",
  tags: ["identity"],
  public: true,
  effect: "read",
  level: "any",
  http: { method: "get", path: "/scopes" },
  input: z.object({}),
  output: z.object({
    scopes: z.array(z.object({ scope: z.string(), group: z.string(), description: z.string() })),
    presets: z.record(z.string(), z.array(z.string())),
  }),
  handler: async () => ({ scopes: scopeCatalog, presets: tokenPresets }),
});
