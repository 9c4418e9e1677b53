// Turning a bearer credential into a principal, and re-checking it on every call.
// API tokens are looked up by SHA-256 hash and cached; a revocation evicts the entry at once in every
// process (Notifier), so a revoked token fails on its very next call. A login session is a signed JWT naming
// its row in `sessions` (jti): the signature proves it was issued here, the row says whether it still holds, and
// is cached and evicted on every process the same way, so an ended session fails on its very next call.
import crypto from "node:crypto";
import { jwtVerify, SignJWT } from "jose";
import type { ApiTokenRow, SessionRow } from "../../schema/database.ts";
import { unauthorized } from "../kernel/errors.ts";
import type { Principal, Surface } from "../kernel/operation.ts";
import { ADMIN_SCOPE } from "../kernel/scopes.ts";
import { RESYNC_TOPIC } from "../notify.ts";
import type { Platform } from "../platform.ts";
import { sha256 } from "../secrets.ts";

export const TOKEN_PREFIX = "bsn_";
const CACHE_TTL_MS = 30_000;
const LAST_USED_RESOLUTION_MS = 60_000;
export const REVOKE_TOPIC = "token_revoked";
/** Published with a session id when the session ends (logout, revoke, password or two-factor change). */
export const SESSION_END_TOPIC = "session_ended";

type CachedToken = ApiTokenRow & { email: string; is_operator: boolean; cachedAt: number };
type CachedSession = Pick<SessionRow, "id" | "account_id" | "expires_at" | "ended_at"> & { cachedAt: number };

export function newTokenSecret(): { secret: string; prefix: string; hash: string } {
  const secret = TOKEN_PREFIX + crypto.randomBytes(32).toString("base64url");
  return { secret, prefix: secret.slice(0, 12), hash: sha256(secret) };
}

export class Authenticator {
  private byHash = new Map<string, CachedToken>();
  private byId = new Map<string, CachedToken>();
  private sessions = new Map<string, CachedSession>();
  private lastUsedWritten = new Map<string, number>();
  private readonly jwtKey: Uint8Array;

  constructor(private readonly platform: Pick<Platform, "config" | "db" | "log" | "notifier" | "secrets">) {
    this.jwtKey = platform.secrets.deriveKey("session-jwt");
    platform.notifier.on(REVOKE_TOPIC, (tokenId) => this.evict(tokenId));
    platform.notifier.on(SESSION_END_TOPIC, (sessionId) => this.sessions.delete(sessionId));
    // Revocations published while our LISTEN connection was down never reached us: trust no cached entry.
    platform.notifier.on(RESYNC_TOPIC, () => {
      this.byHash.clear();
      this.byId.clear();
      this.sessions.clear();
    });
  }

  async principal(bearer: string, surface: Surface, clientIp: string | null): Promise<Principal> {
    if (bearer.startsWith(TOKEN_PREFIX)) {
      const row = await this.tokenRow(sha256(bearer));
      this.assertUsable(row);
      this.touch(row.id);
      return {
        account: { id: row.account_id, email: row.email, isOperator: row.is_operator },
        billedAccount: row.account_id,
        credential: row.resource
          ? { kind: "token", id: row.id, prefix: row.prefix, audience: row.resource }
          : { kind: "token", id: row.id, prefix: row.prefix },
        scopes: row.scopes,
        projects: row.projects,
        pins: {},
        surface,
        clientIp,
      };
    }
    return this.sessionPrincipal(bearer, surface, clientIp);
  }

  /** Re-checks a token principal's credential (the invoker calls this on every call). */
  async recheckToken(tokenId: string): Promise<void> {
    const cached = this.byId.get(tokenId);
    if (cached && Date.now() - cached.cachedAt < CACHE_TTL_MS) return this.assertUsable(cached);
    const row = await this.platform.db
      .selectFrom("api_tokens")
      .select(["revoked_at", "expires_at"])
      .where("id", "=", tokenId)
      .executeTakeFirst();
    if (!row || row.revoked_at) throw unauthorized("this token has been revoked");
    if (row.expires_at && new Date(row.expires_at).getTime() <= Date.now())
      throw unauthorized("this token has expired");
  }

  /** Starts a login session: its row first, then the token naming it. */
  async issueSession(
    account: { id: string; is_operator: boolean },
    origin: { surface: Surface; clientIp: string | null },
  ): Promise<{ token: string; expires_at: string; session_id: string }> {
    const ttl = this.platform.config.sessionTtlSeconds;
    const id = crypto.randomUUID();
    const expiresAt = new Date(Date.now() + ttl * 1000);
    await this.platform.db
      .insertInto("sessions")
      .values({
        id,
        account_id: account.id,
        surface: origin.surface,
        client_ip: origin.clientIp,
        expires_at: expiresAt,
      })
      .execute();
    const token = await new SignJWT({ op: account.is_operator })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(account.id)
      .setJti(id)
      .setIssuedAt()
      .setIssuer("bosun")
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.jwtKey);
    return { token, expires_at: expiresAt.toISOString(), session_id: id };
  }

  /** Re-checks a session principal's credential (the invoker calls this on every call). */
  async recheckSession(sessionId: string): Promise<void> {
    this.assertSessionUsable(await this.sessionRow(sessionId));
  }

  async evict(tokenId: string): Promise<void> {
    const row = this.byId.get(tokenId);
    this.byId.delete(tokenId);
    if (row) this.byHash.delete(row.token_hash);
  }

  private clear() {
    this.byHash.clear();
    this.byId.clear();
  }

  private async sessionRow(id: string): Promise<CachedSession | undefined> {
    const cached = this.sessions.get(id);
    if (cached && Date.now() - cached.cachedAt < CACHE_TTL_MS) return cached;
    const row = await this.platform.db
      .selectFrom("sessions")
      .select(["id", "account_id", "expires_at", "ended_at"])
      .where("id", "=", id)
      .executeTakeFirst();
    if (!row) return undefined;
    const entry = { ...row, cachedAt: Date.now() };
    if (!row.ended_at) {
      if (this.sessions.size > 100_000) this.sessions.clear();
      this.sessions.set(id, entry);
    }
    return entry;
  }

  private assertSessionUsable(row: CachedSession | undefined): asserts row is CachedSession {
    if (!row) throw unauthorized("invalid or expired credential");
    if (row.ended_at) throw unauthorized("this session has ended; log in again");
    if (new Date(row.expires_at).getTime() <= Date.now()) throw unauthorized("this session has expired; log in again");
  }

  private async sessionPrincipal(jwt: string, surface: Surface, clientIp: string | null): Promise<Principal> {
    let payload;
    try {
      ({ payload } = await jwtVerify(jwt, this.jwtKey, { issuer: "bosun", algorithms: ["HS256"] }));
    } catch {
      throw unauthorized("invalid or expired credential");
    }
    const account = await this.platform.db
      .selectFrom("accounts")
      .select(["id", "email", "is_operator"])
      .where("id", "=", String(payload.sub))
      .executeTakeFirst();
    if (!account) throw unauthorized("invalid or expired credential");
    const session = await this.sessionRow(String(payload.jti));
    this.assertSessionUsable(session);
    if (session.account_id !== account.id) throw unauthorized("invalid or expired credential");
    this.touchSession(session.id);
    return {
      account: { id: account.id, email: account.email, isOperator: account.is_operator },
      billedAccount: account.id,
      credential: { kind: "session", id: String(payload.jti) },
      scopes: account.is_operator ? ["*", ADMIN_SCOPE] : ["*"],
      projects: null,
      pins: {},
      surface,
      clientIp,
    };
  }

  private async tokenRow(hash: string): Promise<CachedToken> {
    const cached = this.byHash.get(hash);
    if (cached && Date.now() - cached.cachedAt < CACHE_TTL_MS) return cached;
    const row = await this.platform.db
      .selectFrom("api_tokens")
      .innerJoin("accounts", "accounts.id", "api_tokens.account_id")
      .selectAll("api_tokens")
      .select(["accounts.email", "accounts.is_operator"])
      .where("token_hash", "=", hash)
      .executeTakeFirst();
    if (!row) throw unauthorized("invalid or expired credential");
    const entry = { ...row, cachedAt: Date.now() };
    if (!row.revoked_at) {
      if (this.byHash.size > 100_000) this.clear();
      this.byHash.set(hash, entry);
      this.byId.set(row.id, entry);
    }
    return entry;
  }

  private assertUsable(row: Pick<ApiTokenRow, "revoked_at" | "expires_at">): void {
    if (row.revoked_at) throw unauthorized("this token has been revoked");
    if (row.expires_at && new Date(row.expires_at).getTime() <= Date.now())
      throw unauthorized("this token has expired");
  }

  private touchSession(sessionId: string): void {
    const key = `s:${sessionId}`;
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(key) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(key, now);
    this.platform.db
      .updateTable("sessions")
      .set({ last_used_at: new Date(now) })
      .where("id", "=", sessionId)
      .execute()
      .catch((err) => this.platform.log.warn({ err }, "could not record session use"));
  }

  /** last_used_at is kept to the minute, so a busy token costs one write a minute, not one per call. */
  private touch(tokenId: string): void {
    const now = Date.now();
    if (now - (this.lastUsedWritten.get(tokenId) ?? 0) < LAST_USED_RESOLUTION_MS) return;
    this.lastUsedWritten.set(tokenId, now);
    this.platform.db
      .updateTable("api_tokens")
      .set({ last_used_at: new Date(now) })
      .where("id", "=", tokenId)
      .execute()
      .catch((err) => this.platform.log.warn({ err }, "could not record token use"));
  }
}
