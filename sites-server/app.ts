// The sites listener: customer sites on their own origin (never the API's, where customer JavaScript could
// act with a user's credentials), and each site on an origin of its own: `{slug}.localhost` or
// `{slug}.{BOSUN_SITES_DOMAIN}` by Host header; `/s/{slug}/…` only in path mode (BOSUN_SITES_PATH_MODE), where
// an old `/s/` link otherwise redirects to the site's own origin. Signed draft previews under `…/_preview/{token}/`; the password form at `…/_auth`; form posts at
// `…/_forms/{id}`; the site's public MCP endpoint at `…/mcp`. A verified custom domain serves its site by Host;
// ACME's HTTP-01 challenges are answered at /.well-known/acme-challenge/ on any Host. What to answer is
// decided in core/sites.
import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import type { Context } from "hono";
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { BosunError, toBosunError, validationError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { anonymous } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { challengeAnswer } from "../core/sites/certificates.ts";
import { DomainRouter } from "../core/sites/domains.ts";
import { escapeHtml } from "../core/sites/links.ts";
import { siteFromHost, siteUrl } from "../core/sites/origin.ts";
import { checkPreview } from "../core/sites/releases.ts";
import { type LiveSite, SiteServer, type Source } from "../core/sites/serving.ts";
import { workerFromHost } from "../core/workers/routing.ts";
import { boundedBody, clientIp } from "../http/request.ts";
import { sitesMcpHandler } from "./mcp.ts";

// @hono/node-server's serve() puts a light Response in place of the global one. Made while it stood in (a serve()
// ran before this module loaded, as in `npm run bench`), RESPONSE_ALREADY_SENT keeps a cached form the server writes
// out without checking its X_ALREADY_SENT header: headers after the worker's headers (ERR_HTTP_HEADERS_SENT).
// Reading it once turns it into a real Response, which the server checks; on a real one it is a no-op.
void RESPONSE_ALREADY_SENT.bodyUsed;

const MAX_FORM_BODY = 64 * 1024;

interface Target {
  slug: string;
  /** URL prefix the site lives under: `/s/slug`, or `` on its own host. */
  base: string;
  /** The rest of the path, still percent-encoded, starting with `/`. */
  rest: string;
}

function targetOf(c: Context, platform: Platform): Target | { redirect: string; status: 301 | 307 } | null {
  const url = new URL(c.req.url);
  const slug = siteFromHost(platform.config, c.req.header("host") ?? url.host);
  if (slug) return { slug, base: "", rest: url.pathname };
  const m = /^\/s\/([a-z0-9-]{1,40})(\/.*)?$/.exec(url.pathname);
  if (!platform.config.sitesPathMode) {
    // Sites are served only on their own origins: an `/s/{slug}/` address (an old link) moves there.
    return m ? { redirect: `${siteUrl(platform, m[1]!)}${m[2] ?? "/"}${url.search}`, status: 301 } : null;
  }
  if (!m) {
    // A root-relative link (`/about`, `/css/site.css`) on a page served under /s/{slug}/ lands at the root of
    // the shared origin; the page's own address (Referer, same origin) says which site it meant.
    const referer = c.req.header("referer");
    const from = referer && URL.canParse(referer) ? new URL(referer) : null;
    const site = from && from.origin === url.origin ? /^\/s\/([a-z0-9-]{1,40})\//.exec(from.pathname) : null;
    return site ? { redirect: `/s/${site[1]}${url.pathname}${url.search}`, status: 307 } : null;
  }
  if (m[2] === undefined) return { redirect: `/s/${m[1]}/${url.search}`, status: 301 };
  return { slug: m[1]!, base: `/s/${m[1]}`, rest: m[2] };
}

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>` +
  `<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#222}input,button{font:inherit;padding:.4rem}</style></head><body>${body}</body></html>`;

function plain(c: Context, status: number, title: string, text: string, extra: Record<string, string> = {}) {
  return c.body(page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p>`), status as 404, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    ...extra,
  });
}

function passwordForm(c: Context, base: string, wrong: boolean) {
  const body =
    `<h1>This site is password-protected</h1>${wrong ? "<p role=alert>That password is not right.</p>" : ""}` +
    `<form method="post" action="${escapeHtml(base)}/_auth"><label>Password <input type="password" name="password" autofocus required></label> <button>Enter</button></form>`;
  return c.body(page("Password required", body), 401, {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
  });
}

/** A preview address as the worker sees it: the path after `/_preview/{token}` (still encoded) and the query. */
function previewPath(c: Context, encodedRest: string): string {
  const url = c.req.url;
  const query = url.indexOf("?");
  return encodedRest.slice(encodedRest.indexOf("/", "/_preview/".length)) + (query < 0 ? "" : url.slice(query));
}

const etagMatches = (header: string | undefined, etag: string) =>
  !!header && (header.trim() === "*" || header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag));

export function createSitesApp(platform: Platform, server = new SiteServer(platform)): Hono {
  const app = new Hono();
  const mcp = sitesMcpHandler(platform);
  const domains = new DomainRouter(platform);
  // A request to a worker streams both ways: on Node's listener as Node's own request and response (no WHATWG
  // objects on the way), elsewhere (app.request) as a Request. Its body limit is the worker's; the runtime decides.
  async function toWorker(c: Context, project: string, worker: string, path?: string): Promise<Response> {
    const env = c.env as Partial<HttpBindings> | undefined;
    if (env?.incoming && env.outgoing && "rawHeaders" in env.incoming) {
      await platform.workers.serveNode(project, worker, c.req.url, env.incoming, env.outgoing, path);
      return RESPONSE_ALREADY_SENT;
    }
    return platform.workers.serve(project, worker, c.req.raw, path);
  }
  // Workers answer on `{worker}.{project}.{domain}`.
  app.use("*", async (c, next) => {
    const env = c.env as Partial<HttpBindings> | undefined;
    const target = workerFromHost(platform.config, env?.incoming?.headers.host ?? c.req.header("host"));
    if (!target) return next();
    return toWorker(c, target.project, target.worker);
  });
  // Visitors post small things to the site itself (a form, a password, an MCP call): anything bigger is refused
  // unread. Only where a body is read: a path routed to a worker streams its body under the worker's limit.
  const formLimit = boundedBody({
    maxSize: MAX_FORM_BODY,
    onError: (c) => plain(c, 413, "Too large", `A post may be at most ${MAX_FORM_BODY} bytes.`),
  });
  const bounded = async (c: Context, handler: () => Promise<Response>): Promise<Response> => {
    let answer: Response | undefined;
    const refused = await formLimit(c, async () => {
      answer = await handler();
    });
    return refused ?? (answer as Response);
  };

  app.all("*", async (c) => {
    try {
      const acmeToken = /^\/\.well-known\/acme-challenge\/([^/]+)$/.exec(c.req.path);
      if (acmeToken) {
        const answer = await challengeAnswer(platform.db, acmeToken[1]!);
        if (answer) return c.text(answer, 200, { "Cache-Control": "no-store" });
      }
      const host = c.req.header("host") ?? new URL(c.req.url).host;
      const domainSlug = siteFromHost(platform.config, host) ? null : await domains.slugFor(host);
      const target = domainSlug
        ? { slug: domainSlug, base: "", rest: new URL(c.req.url).pathname }
        : targetOf(c, platform);
      if (!target) return plain(c, 404, "Not found", "There is no site here.");
      if ("redirect" in target) return c.redirect(target.redirect, target.status);
      const site = await server.site(target.slug);
      if (!site) return plain(c, 404, "Not found", "There is no site here.");

      let rest: string;
      try {
        rest = decodeURIComponent(target.rest);
      } catch {
        return plain(c, 400, "Bad request", "The address is not valid.");
      }

      const preview = /^\/_preview\/([^/]+)(\/.*)?$/.exec(rest);
      if (preview) {
        if (!checkPreview(platform, site.projectId, preview[1]!))
          return plain(c, 403, "Link expired", "This preview link is not valid or has expired.");
        const base = `${target.base}/_preview/${preview[1]}`;
        if (preview[2] === undefined) return c.redirect(`${base}/`, 301);
        const draft = await server.draft(site);
        // The draft's worker_routes too: the worker sees the path without the preview prefix.
        const routed = server.workerFor(draft, preview[2]);
        if (routed) return await toWorker(c, site.slug, routed, previewPath(c, target.rest));
        return await serveFile(c, draft, { kind: "draft" }, preview[2], base, true);
      }

      if (rest === "/mcp") return await bounded(c, () => mcp(c, site));
      const cookie = getCookie(c, server.cookieName(site));
      if (rest === "/_auth" && c.req.method === "POST") return await bounded(c, () => login(c, site, target.base));
      if (!server.unlocked(site, cookie)) return passwordForm(c, target.base, false);

      const form = /^\/_forms\/([^/]+)$/.exec(rest);
      if (form) return await bounded(c, () => formPost(c, site, form[1]!));

      if (site.liveRelease === null) return plain(c, 404, "Not published yet", "This site has not been published.");
      // A routed path goes to the project's worker (live settings only: routes take effect on publish). Behind the
      // password gate like every page; the worker sees the request as the visitor sent it.
      const routed = server.workerFor(site, rest);
      if (routed) return await toWorker(c, site.slug, routed);
      return await serveFile(c, site, { kind: "live", release: site.liveRelease }, rest, target.base, false);
    } catch (err) {
      const error = toBosunError(err);
      if (error.code === "internal") platform.log.error({ err }, "sites listener failed");
      return plain(
        c,
        error.status,
        error.code === "internal" ? "Something went wrong" : error.code,
        error.code === "internal" ? "Please try again." : error.message,
      );
    }
  });

  async function serveFile(c: Context, site: LiveSite, source: Source, path: string, base: string, isPreview: boolean) {
    if (c.req.method !== "GET" && c.req.method !== "HEAD")
      return plain(c, 405, "Method not allowed", "Only GET and HEAD.", { Allow: "GET, HEAD" });
    const found = await server.resolve(site, source, path, base);
    if (found.kind === "redirect") return c.redirect(found.location, found.status as 301);
    if (found.kind === "not_found") return plain(c, 404, "Not found", "There is no page at this address.");
    const etag = `"${found.entry.sha256}"`;
    const headers: Record<string, string> = {
      "Content-Type": found.contentType,
      ETag: etag,
      // Revalidate every time: the ETag makes that a 304, and a publish shows at once.
      "Cache-Control": isPreview || site.passwordHash ? "private, no-cache" : "no-cache",
      "X-Content-Type-Options": "nosniff",
    };
    if (isPreview) headers["X-Robots-Tag"] = "noindex";
    for (const [name, value] of server.customHeaders(site, path)) headers[name] = value;
    if (found.status === 200 && etagMatches(c.req.header("if-none-match"), etag)) return c.body(null, 304, headers);
    const body = c.req.method === "HEAD" ? null : await server.blobs.get(platform.db, found.entry.sha256);
    headers["Content-Length"] = String(found.entry.bytes);
    return new Response(body as Uint8Array<ArrayBuffer> | null, { status: found.status, headers });
  }

  async function login(c: Context, site: LiveSite, base: string) {
    const limit = await platform.securityLimiter.take(
      `site-auth:${clientIp(c, platform)}`,
      platform.config.authRateLimitPerMinute,
    );
    if (!limit.allowed)
      return plain(c, 429, "Too many attempts", `Try again in ${limit.retryAfter} s.`, {
        "Retry-After": String(limit.retryAfter),
      });
    if (!site.passwordHash) return c.redirect(`${base}/`, 303);
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const password = typeof body.password === "string" ? body.password : "";
    const mac = password ? await server.unlock(site, password) : null;
    if (!mac) return passwordForm(c, base, true);
    const https =
      new URL(c.req.url).protocol === "https:" ||
      (platform.config.trustProxy && c.req.header("x-forwarded-proto") === "https");
    const secure = https ? "; Secure" : "";
    c.header(
      "Set-Cookie",
      `${server.cookieName(site)}=${mac}; Path=${base || "/"}; HttpOnly; SameSite=Lax; Max-Age=${7 * 24 * 3600}${secure}`,
    );
    return c.redirect(`${base}/`, 303);
  }

  // A form post is submit_site_form in a browser's wire format: the invoker validates, limits, audits and maps
  // errors; this only reads the body and answers with a page, a redirect or JSON.
  async function formPost(c: Context, site: LiveSite, formId: string) {
    const wantsJson = /json/i.test(c.req.header("accept") ?? "") || /json/i.test(c.req.header("content-type") ?? "");
    const reply = (status: number, payload: Record<string, unknown>, title: string, text: string) =>
      wantsJson ? c.json(payload, status as 400) : plain(c, status, title, text);
    if (c.req.method !== "POST") return plain(c, 405, "Method not allowed", "Forms take POST.", { Allow: "POST" });
    try {
      const data = await readFormBody(c);
      const input = { site: site.slug, form_id: formId, data };
      const stored = (await invoke(
        platform,
        "submit_site_form",
        input,
        anonymous("sites", clientIp(c, platform)),
      )) as Record<string, unknown>;
      const next =
        typeof data._redirect === "string" && /^\/(?!\/)[^\s\\]*$/.test(data._redirect) ? data._redirect : null;
      if (!wantsJson && next) return c.redirect(next, 303);
      return reply(201, stored, "Thank you", "Your message was sent.");
    } catch (err) {
      // The invoker logs its own failures; a bug before it (reading the body) is logged here.
      if (!(err instanceof BosunError)) platform.log.error({ err }, "form post failed");
      const error = toBosunError(err);
      if (error.code === "rate_limited") c.header("Retry-After", String(error.details.retry_after ?? 1));
      // The post's fields are the operation's `data`: name them as the visitor's form does.
      const issues = (error.details.issues as { path: string; message: string }[] | undefined)?.map((i) => ({
        ...i,
        path: i.path === "data" ? "" : i.path.replace(/^data\./, ""),
      }));
      const json = issues ? { error: { ...error.toJSON(), issues } } : { error: error.toJSON() };
      return reply(
        error.status,
        json,
        "The form was not sent",
        issues?.length ? issues.map((i) => `${i.path}: ${i.message}`).join("; ") : error.message,
      );
    }
  }

  // On Node's listener a worker's host skips the router altogether: its cost per request would be most of a small
  // worker request's own (app.request, without Node's objects, goes through the middleware above).
  const route = app.fetch;
  app.fetch = (req, env, ctx) => {
    const node = env as Partial<HttpBindings> | undefined;
    const incoming = node?.incoming;
    const target =
      incoming && node.outgoing && "rawHeaders" in incoming
        ? workerFromHost(platform.config, incoming.headers.host)
        : null;
    if (!target || !incoming || !node.outgoing) return route(req, env, ctx);
    return platform.workers
      .serveNode(target.project, target.worker, req.url, incoming, node.outgoing)
      .then(() => RESPONSE_ALREADY_SENT);
  };
  return app;
}

/** A form post as field → value: urlencoded, multipart (no files) or a JSON object. */
async function readFormBody(c: Context): Promise<Record<string, unknown>> {
  const type = c.req.header("content-type") ?? "";
  const malformed = (message: string) => validationError([{ path: "", message }], message);
  const raw = Buffer.from(await c.req.arrayBuffer());
  const text = raw.toString("utf8");
  if (raw.length > MAX_FORM_BODY)
    throw new BosunError("payload_too_large", `a form post may be at most ${MAX_FORM_BODY} bytes`);
  if (/^application\/json\b/i.test(type)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw malformed("the body is not valid JSON");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) throw malformed("the body must be a JSON object");
    return body as Record<string, unknown>;
  }
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) {
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of new URLSearchParams(text)) out[k] = k in out ? [out[k], v].flat() : v;
    return out;
  }
  if (/^multipart\/form-data\b/i.test(type)) {
    const form = await new Response(raw, { headers: { "content-type": type } }).formData().catch(() => {
      throw malformed("the multipart body is malformed");
    });
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, v] of form) {
      if (typeof v !== "string") throw malformed(`field '${k}' is a file; forms take text fields only`);
      out[k] = k in out ? [out[k], v].flat() : v;
    }
    return out;
  }
  throw new BosunError(
    "unsupported_media_type",
    "post the form as application/x-www-form-urlencoded, multipart/form-data or JSON",
  );
}
