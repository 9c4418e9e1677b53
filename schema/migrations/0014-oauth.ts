import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // OAuth for remote MCP clients (core/identity/oauth.ts). Clients register themselves (RFC 7591, public clients
  // only); a person's consent yields a one-time code; the code yields a grant, whose access tokens are ordinary
  // API tokens (hashed, listed, revocable) bound to the MCP URL, and whose refresh tokens rotate on every use.
  await db.schema
    .createTable("oauth_clients")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("redirect_uris", sql`text[]`, (c) => c.notNull())
    .addColumn("client_ip", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable("oauth_grants")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("client_id", "text", (c) => c.notNull().references("oauth_clients.id").onDelete("cascade"))
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("resource", "text", (c) => c.notNull())
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("projects", sql`text[]`)
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("revoked_at", "timestamptz")
    // revoked | refresh_reuse | code_reuse | token_revoked
    .addColumn("revoke_reason", "text")
    .execute();
  await db.schema
    .createTable("oauth_codes")
    .addColumn("code_hash", "text", (c) => c.primaryKey())
    .addColumn("client_id", "text", (c) => c.notNull().references("oauth_clients.id").onDelete("cascade"))
    .addColumn("account_id", "uuid", (c) => c.notNull().references("accounts.id").onDelete("cascade"))
    .addColumn("redirect_uri", "text", (c) => c.notNull())
    .addColumn("code_challenge", "text", (c) => c.notNull())
    .addColumn("resource", "text", (c) => c.notNull())
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("projects", sql`text[]`)
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    // The grant the code was exchanged for: a second exchange of the code revokes it (RFC 6749 §4.1.2).
    .addColumn("grant_id", "uuid", (c) => c.references("oauth_grants.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable("oauth_refresh_tokens")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("grant_id", "uuid", (c) => c.notNull().references("oauth_grants.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    .execute();
  await db.schema.createIndex("oauth_refresh_grant_idx").on("oauth_refresh_tokens").column("grant_id").execute();
  await db.schema
    .alterTable("api_tokens")
    .addColumn("oauth_grant_id", "uuid", (c) => c.references("oauth_grants.id").onDelete("cascade"))
    .addColumn("resource", "text")
    .execute();
  await db.schema.createIndex("api_tokens_oauth_grant_idx").on("api_tokens").column("oauth_grant_id").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("api_tokens").dropColumn("oauth_grant_id").dropColumn("resource").execute();
  await db.schema.dropTable("oauth_refresh_tokens").execute();
  await db.schema.dropTable("oauth_codes").execute();
  await db.schema.dropTable("oauth_grants").execute();
  await db.schema.dropTable("oauth_clients").execute();
}
