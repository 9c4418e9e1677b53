import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  // Custom domains of sites. A domain names one site across every tenant (the unique index): the sites
  // listener routes by Host, so two claims on one name could never both be served.
  await db.schema
    .createTable("site_domains")
    .addColumn("id", "uuid", (c) => c.primaryKey())
    .addColumn("project_id", "uuid", (c) => c.notNull().references("projects.id").onDelete("cascade"))
    .addColumn("domain", "text", (c) => c.notNull().unique())
    // Published by the customer as TXT `_bosun-challenge.{domain}`: proves they control the name's DNS.
    .addColumn("token", "text", (c) => c.notNull())
    .addColumn("verified_at", "timestamptz")
    .addColumn("last_check_at", "timestamptz")
    .addColumn("last_check_error", "text")
    // none | pending | issued | failed; the key is sealed (core/secrets.ts), the chain is public.
    .addColumn("cert_status", "text", (c) => c.notNull().defaultTo("none"))
    .addColumn("cert_pem", "text")
    .addColumn("cert_key_enc", "text")
    .addColumn("cert_expires_at", "timestamptz")
    .addColumn("cert_error", "text")
    .addColumn("cert_attempted_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("site_domains_project_idx").on("site_domains").column("project_id").execute();

  // The ACME account per directory (one key for every certificate from it), sealed.
  await db.schema
    .createTable("acme_accounts")
    .addColumn("directory_url", "text", (c) => c.primaryKey())
    .addColumn("key_enc", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Pending HTTP-01 answers: any process's sites listener may be the one the ACME server asks.
  await db.schema
    .createTable("acme_challenges")
    .addColumn("token", "text", (c) => c.primaryKey())
    .addColumn("key_authorization", "text", (c) => c.notNull())
    .addColumn("domain", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}
