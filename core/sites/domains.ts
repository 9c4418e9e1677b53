// Custom domains of a site. add_domain claims a name and answers the DNS records to create: a CNAME to the
// site's own host (so the name reaches the sites listener) and a TXT `_bosun-challenge.{domain}` token (so
// only whoever controls the name's DNS can attach it). verify_domain looks both up through the operator's
// resolvers (BOSUN_DNS_SERVERS); once verified, the sites listener serves the live site on that Host and, with
// an HTTPS port configured, a certificate is requested by ACME (core/sites/certificates.ts). A name belongs to
// one site across all tenants (a unique index); an unverified claim left for a week yields to a new one, so
// nobody can squat a name they do not control.
import crypto from "node:crypto";
import { Resolver } from "node:dns/promises";
import net from "node:net";
import { domainToASCII } from "node:url";
import type { Kysely, Selectable } from "kysely";
import { z } from "zod";
import type { Database, SiteDomainsTable } from "../../schema/database.ts";
import { enqueue } from "../jobs/queue.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { conflict, isUniqueViolation, notFound } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { Cursor, Limit, pageOf } from "../kernel/pagination.ts";
import { RESYNC_TOPIC } from "../notify.ts";
import type { Platform } from "../platform.ts";
import { CERT_QUEUE, certificatesEnabled, DOMAIN_CHANGED_TOPIC } from "./certificates.ts";
import { sitesDomainOf } from "./origin.ts";
import { siteProject } from "./site.ts";

/** An unverified claim older than this no longer blocks another site from adding the name. */
const STALE_CLAIM_DAYS = 7;
const MAX_DOMAINS_PER_SITE = 50;

/** A host name as stored: lowercase ASCII (IDNs as punycode), no trailing dot, at least two labels. */
export const DomainName = z
  .string()
  .min(3)
  .max(253)
  .transform((raw, ctx) => {
    const ascii = domainToASCII(raw.trim().replace(/\.$/, "").toLowerCase());
    const labels = ascii.split(".");
    const ok =
      ascii.length > 0 &&
      ascii.length <= 253 &&
      labels.length >= 2 &&
      labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l)) &&
      !/^\d+$/.test(labels.at(-1) ?? "") &&
      net.isIP(ascii) === 0;
    if (!ok) {
      ctx.addIssue({ code: "custom", message: "a domain name such as www.example.com" });
      return z.NEVER;
    }
    return ascii;
  })
  .meta({ description: "A domain name, e.g. www.example.com", example: "www.example.com", format: "hostname" });

const DnsRecord = z.object({
  type: z.enum(["CNAME", "TXT"]),
  name: z.string(),
  value: z.string(),
});

export const DomainView = z
  .object({
    domain: z.string(),
    status: z.enum(["pending", "verified"]),
    records: z.array(DnsRecord).meta({ description: "The DNS records to create at the domain's DNS host" }),
    verified_at: Timestamp.nullable(),
    last_check_at: Timestamp.nullable(),
    last_check_error: z.string().nullable().meta({ description: "What the last verify_domain found missing" }),
    certificate: z.object({
      status: z.enum(["none", "pending", "issued", "failed"]),
      expires_at: Timestamp.nullable(),
      error: z.string().nullable(),
    }),
    created_at: Timestamp,
  })
  .meta({ id: "SiteDomain" });
type DomainView = z.output<typeof DomainView>;

type DomainRow = Selectable<SiteDomainsTable>;

/** The host a custom domain's CNAME points at: the site's own `{slug}.{sites domain}`. */
export const cnameTarget = (platform: Platform, slug: string) => `${slug}.${sitesDomainOf(platform.config)}`;

function view(platform: Platform, slug: string, row: DomainRow): DomainView {
  return {
    domain: row.domain,
    status: row.verified_at ? "verified" : "pending",
    records: [
      { type: "CNAME", name: row.domain, value: cnameTarget(platform, slug) },
      { type: "TXT", name: `_bosun-challenge.${row.domain}`, value: row.token },
    ],
    verified_at: isoOrNull(row.verified_at),
    last_check_at: isoOrNull(row.last_check_at),
    last_check_error: row.last_check_error,
    certificate: { status: row.cert_status, expires_at: isoOrNull(row.cert_expires_at), error: row.cert_error },
    created_at: iso(row.created_at),
  };
}

async function requireDomain(db: Kysely<Database>, projectId: string, domain: string): Promise<DomainRow> {
  const row = await db
    .selectFrom("site_domains")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("domain", "=", domain)
    .executeTakeFirst();
  // Another site's domain reads as missing: whether a name is attached elsewhere is not this caller's business.
  if (!row) throw notFound("domain", domain);
  return row;
}

async function domainChanged(platform: Platform, domain: string): Promise<void> {
  await platform.notifier
    .publish(DOMAIN_CHANGED_TOPIC, domain)
    .catch((err) => platform.log.warn({ err }, "domain change not broadcast"));
}

const DomainInput = z.object({ project: ProjectRef, domain: DomainName });

export const addDomain = defineOperation({
  id: "add_domain",
  summary: "Attach a custom domain to a site",
  description:
    "Claims the domain for this site and answers the DNS records to create: a CNAME to the site's host and a TXT " +
    "`_bosun-challenge.{domain}` token. Then call verify_domain. A domain belongs to one site across the platform.",
  tags: ["sites"],
  scope: "domains:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/domains", status: 201 },
  input: DomainInput,
  output: DomainView,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const own = sitesDomainOf(ctx.platform.config);
    if (input.domain === own || input.domain.endsWith(`.${own}`) || input.domain.endsWith(".localhost"))
      throw conflict(`'${input.domain}' is one of this server's own site hosts; add a domain you own`, {
        domain: input.domain,
      });
    const row = await ctx.tx(async (trx) => {
      const count = await trx
        .selectFrom("site_domains")
        .select((eb) => eb.fn.countAll<string>().as("n"))
        .where("project_id", "=", project.id)
        .executeTakeFirstOrThrow();
      if (Number(count.n) >= MAX_DOMAINS_PER_SITE)
        throw conflict(`a site may have at most ${MAX_DOMAINS_PER_SITE} domains`, { limit: MAX_DOMAINS_PER_SITE });
      // A stale unverified claim (any site's) gives way: a claim proves nothing until it is verified.
      await trx
        .deleteFrom("site_domains")
        .where("domain", "=", input.domain)
        .where("verified_at", "is", null)
        .where("created_at", "<", new Date(Date.now() - STALE_CLAIM_DAYS * 86_400_000))
        .execute();
      try {
        return await trx
          .insertInto("site_domains")
          .values({
            id: crypto.randomUUID(),
            project_id: project.id,
            domain: input.domain,
            token: `bosun-verify=${crypto.randomBytes(24).toString("base64url")}`,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      } catch (err) {
        if (isUniqueViolation(err))
          throw conflict(`the domain '${input.domain}' is already attached to a site`, { domain: input.domain });
        throw err;
      }
    });
    return view(ctx.platform, project.slug, row);
  },
});

export const listDomains = defineOperation({
  id: "list_domains",
  summary: "List a site's custom domains",
  tags: ["sites"],
  scope: "domains:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/domains" },
  input: z.object({ project: ProjectRef, limit: Limit, cursor: Cursor }),
  output: z.object({ domains: z.array(DomainView), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    let q = ctx.db.selectFrom("site_domains").selectAll().where("project_id", "=", project.id);
    if (input.cursor) q = q.where("domain", ">", input.cursor);
    const rows = await q
      .orderBy("domain")
      .limit(input.limit + 1)
      .execute();
    const { page, next_cursor } = pageOf(rows, input.limit, (last) => last.domain);
    return { domains: page.map((r) => view(ctx.platform, project.slug, r)), next_cursor };
  },
});

export const getDomain = defineOperation({
  id: "get_domain",
  summary: "Get a custom domain: its DNS records, verification and certificate",
  tags: ["sites"],
  scope: "domains:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/domains/{domain}" },
  input: DomainInput,
  output: DomainView,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    return view(ctx.platform, project.slug, await requireDomain(ctx.db, project.id, input.domain));
  },
});

export const verifyDomain = defineOperation({
  id: "verify_domain",
  summary: "Check a custom domain's DNS records and start serving it",
  description:
    "Looks up the TXT `_bosun-challenge.{domain}` token and the CNAME (or the same addresses as the site's host) " +
    "through the server's resolvers. When both are in place the live site is served on the domain and, where " +
    "HTTPS is configured, a certificate is requested; otherwise a conflict error names what is missing.",
  tags: ["sites"],
  scope: "domains:write",
  effect: "write",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/domains/{domain}/verify" },
  input: DomainInput,
  output: DomainView,
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const row = await requireDomain(ctx.db, project.id, input.domain);
    // Outside any transaction: these are network calls.
    const missing = await checkRecords(ctx.platform, row, cnameTarget(ctx.platform, project.slug));
    const now = new Date();
    if (missing.length) {
      const message = missing.join("; ");
      await ctx.db
        .updateTable("site_domains")
        .set({ last_check_at: now, last_check_error: message })
        .where("id", "=", row.id)
        .execute();
      throw conflict(`the DNS records of '${row.domain}' are not in place: ${message}`, {
        domain: row.domain,
        missing,
      });
    }
    const https = certificatesEnabled(ctx.platform.config);
    const updated = await ctx.tx(async (trx) => {
      const next = await trx
        .updateTable("site_domains")
        .set({
          verified_at: row.verified_at ?? now,
          last_check_at: now,
          last_check_error: null,
          ...(https && row.cert_status !== "issued" ? { cert_status: "pending" as const, cert_error: null } : {}),
        })
        .where("id", "=", row.id)
        .returningAll()
        .executeTakeFirst();
      // Removed while its records were being looked up.
      if (!next) throw notFound("domain", row.domain);
      if (https && row.cert_status !== "issued") await enqueue(trx, CERT_QUEUE, row.id, { domain_id: row.id });
      return next;
    });
    await domainChanged(ctx.platform, row.domain);
    return view(ctx.platform, project.slug, updated);
  },
});

export const removeDomain = defineOperation({
  id: "remove_domain",
  summary: "Detach a custom domain from a site",
  description: "The site stops being served on the domain at once; its certificate is deleted.",
  tags: ["sites"],
  scope: "domains:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/domains/{domain}" },
  input: DomainInput,
  output: z.object({ removed: z.literal(true), domain: z.string() }),
  handler: async (ctx, input) => {
    const project = siteProject(ctx);
    const row = await ctx.db
      .deleteFrom("site_domains")
      .where("project_id", "=", project.id)
      .where("domain", "=", input.domain)
      .returning("domain")
      .executeTakeFirst();
    if (!row) throw notFound("domain", input.domain);
    await domainChanged(ctx.platform, row.domain);
    return { removed: true as const, domain: row.domain };
  },
});

const normal = (name: string) => name.toLowerCase().replace(/\.$/, "");

/** What is missing from the domain's DNS, one sentence each; empty when both records are in place. */
async function checkRecords(platform: Platform, row: DomainRow, target: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  const servers = platform.config.dnsServers;
  if (servers.length) resolver.setServers(servers);
  // ENODATA / ENOTFOUND are answers (no such record); anything else (a timeout) is said as such.
  const ask = async <T>(what: string, query: () => Promise<T[]>): Promise<T[] | string> => {
    try {
      return await query();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENODATA" || code === "ENOTFOUND") return [];
      return `${what} could not be looked up (${code ?? (err as Error).message})`;
    }
  };
  const missing: string[] = [];
  const txtName = `_bosun-challenge.${row.domain}`;
  const txt = await ask(`TXT ${txtName}`, () => resolver.resolveTxt(txtName));
  if (typeof txt === "string") missing.push(txt);
  else if (!txt.some((chunks) => chunks.join("") === row.token))
    missing.push(
      txt.length
        ? `TXT ${txtName} does not hold this domain's token (found ${txt.length} other value(s))`
        : `TXT ${txtName} was not found`,
    );

  const cname = await ask(`CNAME ${row.domain}`, () => resolver.resolveCname(row.domain));
  if (typeof cname === "string") missing.push(cname);
  else if (!cname.some((c) => normal(c) === target)) {
    // An apex name cannot have a CNAME: the same A/AAAA addresses as the site's host do as well.
    const [mine, theirs] = await Promise.all([addresses(resolver, row.domain), addresses(resolver, target)]);
    const same = mine.length > 0 && mine.every((a) => theirs.includes(a));
    if (!same)
      missing.push(
        cname.length
          ? `CNAME ${row.domain} points at ${normal(cname[0] ?? "")}, not ${target}`
          : `CNAME ${row.domain} → ${target} was not found`,
      );
  }
  return missing;
}

async function addresses(resolver: Resolver, name: string): Promise<string[]> {
  const [v4, v6] = await Promise.all([
    resolver.resolve4(name).catch(() => [] as string[]),
    resolver.resolve6(name).catch(() => [] as string[]),
  ]);
  return [...v4, ...v6];
}

/**
 * Which site a verified custom domain serves, by Host, for the sites listener. Answers (and misses) are cached
 * per process until a domain changes anywhere (DOMAIN_CHANGED_TOPIC) or for a few seconds.
 */
export class DomainRouter {
  private cache = new Map<string, { slug: string | null; at: number }>();
  private generation = 0;

  constructor(private readonly platform: Platform) {
    const drop = () => {
      this.generation++;
      this.cache.clear();
    };
    platform.notifier.on(DOMAIN_CHANGED_TOPIC, drop);
    platform.notifier.on(RESYNC_TOPIC, drop);
  }

  /** The slug of the site a Host header's verified custom domain belongs to, or null. */
  async slugFor(host: string): Promise<string | null> {
    const name = normal(host.replace(/:\d+$/, ""));
    if (!name.includes(".") || net.isIP(name.replace(/^\[|\]$/g, "")) || name.length > 253) return null;
    const hit = this.cache.get(name);
    if (hit && Date.now() - hit.at < 10_000) return hit.slug;
    const generation = this.generation;
    const row = await this.platform.db
      .selectFrom("site_domains as d")
      .innerJoin("projects as p", "p.id", "d.project_id")
      .select("p.slug")
      .where("d.domain", "=", name)
      .where("d.verified_at", "is not", null)
      .executeTakeFirst();
    const slug = row?.slug ?? null;
    if (generation === this.generation) {
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(name, { slug, at: Date.now() });
    }
    return slug;
  }
}

export const domainOperations = [addDomain, listDomains, getDomain, verifyDomain, removeDomain];
