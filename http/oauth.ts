// The OAuth endpoints remote MCP clients use (MCP authorization spec): the metadata documents (RFC 9728 protected
// resource, RFC 8414 authorization server), dynamic registration (RFC 7591), the consent page, the token endpoint
// and revocation (RFC 7009). The state and its rules live in core/identity/oauth.ts; the consent goes through the
// invoker (login, authorize_oauth_client, logout), like any account change.
import crypto from "node:crypto";
import type { Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { cors } from "hono/cors";
import {
  type AuthorizationRequest,
  checkAuthorizationRequest,
  exchangeCode,
  isMetadataDocumentClientId,
  OAuthError,
  refreshGrant,
  registerClient,
  revokeOAuthToken,
} from "../core/identity/oauth.ts";
import { rateLimited, toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { anonymous } from "../core/kernel/operation.ts";
import { ADMIN_SCOPE, isKnownScope, scopeCatalog, tokenPresets } from "../core/kernel/scopes.ts";
import type { Platform } from "../core/platform.ts";
import { boundedBody, clientIp } from "./request.ts";

const PRM_PATH = "/.well-known/oauth-protected-resource";
const CSRF_COOKIE = "bosun_oauth_csrf";
const MAX_FORM_BODY = 64 * 1024;
/** What a client may ask for, and what the protected resource metadata advertises. */
const GRANTABLE = scopeCatalog.map((s) => s.scope).filter((s) => s !== ADMIN_SCOPE);

/** Where people reach this server: BOSUN_PUBLIC_URL, else the request's own origin. */
export const issuerUrl = (c: Context, platform: Platform) => platform.config.publicUrl ?? new URL(c.req.url).origin;
/** The MCP endpoint's URL: the resource (RFC 8707) OAuth tokens are bound to. */
export const mcpResourceUrl = (c: Context, platform: Platform) => `${issuerUrl(c, platform)}/mcp`;
/** The WWW-Authenticate challenge of a 401 from /mcp: where a client starts discovery (RFC 9728 §5.1). */
export const mcpChallenge = (c: Context, platform: Platform, invalidToken: boolean) =>
  `Bearer resource_metadata="${issuerUrl(c, platform)}${PRM_PATH}/mcp"${invalidToken ? ', error="invalid_token"' : ""}`;

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function oauthError(c: Context, err: unknown): Response {
  if (err instanceof OAuthError)
    return c.json({ error: err.error, error_description: err.description }, err.status as 400, {
      "Cache-Control": "no-store",
    });
  const e = toBosunError(err);
  if (e.code === "rate_limited") {
    c.header("Retry-After", String(e.details.retry_after ?? 1));
    return c.json({ error: "invalid_request", error_description: e.message }, 429);
  }
  if (e.code === "internal") throw err;
  return c.json({ error: "invalid_request", error_description: e.message }, e.status as 400);
}

/** Token, registration and revocation requests count against the per-IP limit shared by every process. */
async function limit(platform: Platform, c: Context) {
  const state = await platform.securityLimiter.take(
    `oauth:${clientIp(c, platform)}`,
    platform.config.authRateLimitPerMinute,
  );
  if (!state.allowed) throw rateLimited(state.retryAfter);
}

async function formParams(c: Context): Promise<Record<string, string>> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header("content-type") ?? ""))
    throw new OAuthError("invalid_request", "send the body as application/x-www-form-urlencoded");
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of new URLSearchParams(await c.req.text())) {
    // RFC 6749 §3.2: a parameter sent twice is an error, not a choice.
    if (k in out) throw new OAuthError("invalid_request", `${k} is repeated`);
    out[k] = v;
  }
  return out;
}

// ---- the consent page ------------------------------------------------------------------------------------------

const STYLE =
  "body{font:16px system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}input[type=email],input[type=password],input[type=text]{width:100%;padding:.4rem;margin:.3rem 0 .8rem}fieldset{margin:1rem 0}label.s{display:block;font-size:.9rem}.err{color:#b00}.warn{background:#fff4d6;padding:.5rem}button{padding:.5rem 1rem;margin-right:.5rem}";

interface ConsentView {
  req: AuthorizationRequest;
  csrf: string;
  error?: string;
  email?: string;
  checked: Set<string>;
  projects?: string;
}

function renderConsent(v: ConsentView): string {
  const { req } = v;
  const hidden = {
    response_type: "code",
    client_id: req.client.id,
    redirect_uri: req.redirectUri,
    code_challenge: req.codeChallenge,
    code_challenge_method: "S256",
    resource: req.resource,
    state: req.state ?? "",
    scope: req.scope.join(" "),
    csrf: v.csrf,
  };
  const hiddenInputs = Object.entries(hidden)
    .map(([k, val]) => `<input type="hidden" name="${k}" value="${esc(val)}">`)
    .join("");
  const options = ["*", ...GRANTABLE].map((s) => {
    const text =
      s === "*" ? "Everything you can do (*)" : `${s} — ${scopeCatalog.find((i) => i.scope === s)!.description}`;
    return `<label class="s"><input type="checkbox" name="scopes" value="${esc(s)}"${v.checked.has(s) ? " checked" : ""}> ${esc(text)}</label>`;
  });
  const back = new URL(req.redirectUri);
  // The client's name is whatever it registered: shown as its claim, beside where the code will really go. <bdi>
  // keeps any bidi characters in a name registered before they were refused from reordering the host after it.
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Connect an app · Bosun</title><style>${STYLE}</style></head>
<body><h1>Connect an app to Bosun</h1>
<p class="warn">An app calling itself <b><bdi>${esc(req.client.name)}</bdi></b>${req.client.url ? ` (published at <b>${esc(new URL(req.client.id).host)}</b>)` : ""} asks for access to your Bosun account for <code>${esc(req.resource)}</code>. Access will be sent to <b>${esc(back.host)}</b>. Continue only if you just started this from that app.</p>
${v.error ? `<p class="err" role="alert">${esc(v.error)}</p>` : ""}
<form method="post" action="/oauth/authorize">${hiddenInputs}
<label>Email<input type="email" name="email" required autocomplete="username" value="${esc(v.email ?? "")}"></label>
<label>Password<input type="password" name="password" required autocomplete="current-password"></label>
<label>Two-factor code (if you turned it on)<input type="text" name="totp_code" autocomplete="one-time-code" inputmode="numeric"></label>
<fieldset><legend>What the app may do (never more than you can; your role in each project still applies)</legend>${options.join("")}</fieldset>
<label>Only these projects (slugs, comma-separated; empty: every project you can reach)<input type="text" name="projects" value="${esc(v.projects ?? "")}"></label>
<button type="submit" name="decision" value="allow">Allow</button><button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</form></body></html>`;
}

function redirectTo(uri: string, params: Record<string, string | undefined>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

export function mountOAuth(app: Hono, platform: Platform) {
  const csrfKey = platform.secrets.deriveKey("oauth-consent-csrf");
  const csrfFor = (nonce: string) => crypto.createHmac("sha256", csrfKey).update(nonce).digest("base64url");
  const csrfOk = (nonce: string | undefined, given: string | undefined) => {
    if (!nonce || !given) return false;
    const want = Buffer.from(csrfFor(nonce));
    const got = Buffer.from(given);
    return want.length === got.length && crypto.timingSafeEqual(want, got);
  };

  const page = (c: Context, html: string, status: number, redirectUri?: string) =>
    c.html(html, status as 200, {
      // The form posts here and is answered with a redirect to the app: that origin must be allowed too.
      "Content-Security-Policy": `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${redirectUri ? ` ${new URL(redirectUri).origin}` : ""}; frame-ancestors 'none'; base-uri 'none'`,
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "no-referrer",
      "Cache-Control": "no-store",
    });
  const errorPage = (c: Context, message: string, status = 400) =>
    page(
      c,
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Cannot connect · Bosun</title><style>${STYLE}</style></head><body><h1>This app cannot connect</h1><p class="err">${esc(message)}</p></body></html>`,
      status,
    );

  const publicCors = cors({ origin: "*", allowMethods: ["GET", "POST", "OPTIONS"], maxAge: 600 });
  // Browser-based clients read these cross-origin; none uses a cookie. The consent page is not among them.
  for (const path of [
    PRM_PATH,
    `${PRM_PATH}/*`,
    "/.well-known/oauth-authorization-server",
    "/oauth/register",
    "/oauth/token",
    "/oauth/revoke",
  ])
    app.use(path, publicCors);
  app.use(
    "/oauth/*",
    boundedBody({
      maxSize: MAX_FORM_BODY,
      onError: (c) => c.json({ error: "invalid_request", error_description: "the body is too large" }, 413),
    }),
  );

  const resourceMetadata = (c: Context) =>
    c.json({
      resource: mcpResourceUrl(c, platform),
      authorization_servers: [issuerUrl(c, platform)],
      scopes_supported: GRANTABLE,
      bearer_methods_supported: ["header"],
      resource_name: "Bosun",
      resource_documentation: `${issuerUrl(c, platform)}/docs`,
    });
  app.get(PRM_PATH, resourceMetadata);
  app.get(`${PRM_PATH}/mcp`, resourceMetadata);

  app.get("/.well-known/oauth-authorization-server", (c) => {
    const base = issuerUrl(c, platform);
    return c.json({
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      revocation_endpoint: `${base}/oauth/revoke`,
      scopes_supported: GRANTABLE,
      response_types_supported: ["code"],
      response_modes_supported: ["query"],
      grant_types_supported: ["authorization_code", "refresh_token"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
      // The MCP spec's preferred registration: an https client_id naming the client's metadata document.
      client_id_metadata_document_supported: true,
      revocation_endpoint_auth_methods_supported: ["none"],
      authorization_response_iss_parameter_supported: true,
      service_documentation: `${base}/docs`,
    });
  });

  app.post("/oauth/register", async (c) => {
    try {
      await limit(platform, c);
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        throw new OAuthError("invalid_client_metadata", "the body must be JSON");
      }
      return c.json(await registerClient(platform.db, body, clientIp(c, platform)), 201, {
        "Cache-Control": "no-store",
      });
    } catch (err) {
      return oauthError(c, err);
    }
  });

  app.get("/oauth/authorize", async (c) => {
    // A URL client_id makes Bosun fetch that URL: counted like a registration, so the page cannot be used to
    // make this server send requests at anyone's rate.
    if (isMetadataDocumentClientId(c.req.query("client_id") ?? "")) {
      try {
        await limit(platform, c);
      } catch {
        return errorPage(c, "Too many sign-in attempts from your address; wait a minute and start again.", 429);
      }
    }
    const checked = await checkAuthorizationRequest(platform, c.req.query(), mcpResourceUrl(c, platform));
    if ("fatal" in checked) return errorPage(c, checked.fatal);
    if ("redirect" in checked) {
      const { uri, error, description, state } = checked.redirect;
      return c.redirect(
        redirectTo(uri, { error, error_description: description, state, iss: issuerUrl(c, platform) }),
        302,
      );
    }
    const nonce = crypto.randomBytes(24).toString("base64url");
    setCookie(c, CSRF_COOKIE, nonce, {
      path: "/oauth/authorize",
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(issuerUrl(c, platform)).protocol === "https:",
      maxAge: 1800,
    });
    const req = checked.ok;
    const asked = req.scope.filter((s) => isKnownScope(s) && s !== ADMIN_SCOPE);
    // Nothing asked for: the least, read-only, is offered ticked.
    const ticked = new Set(asked.length ? asked : tokenPresets.viewer);
    return page(c, renderConsent({ req, csrf: csrfFor(nonce), checked: ticked }), 200, req.redirectUri);
  });

  app.post("/oauth/authorize", async (c) => {
    let form: Record<string, string | File | (string | File)[]>;
    try {
      form = await c.req.parseBody({ all: true });
    } catch {
      return errorPage(c, "The form could not be read.");
    }
    const one = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : undefined);
    const many = (k: string) => [form[k] ?? []].flat().filter((v): v is string => typeof v === "string");
    if (!csrfOk(getCookie(c, CSRF_COOKIE), one("csrf")))
      return errorPage(c, "This form has expired or did not come from this page. Start again from the app.", 403);
    const params = Object.fromEntries(
      [
        "client_id",
        "redirect_uri",
        "response_type",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "state",
        "scope",
      ].map((k) => [k, one(k) || undefined]),
    );
    const checked = await checkAuthorizationRequest(platform, params, mcpResourceUrl(c, platform));
    if ("fatal" in checked) return errorPage(c, checked.fatal);
    const iss = issuerUrl(c, platform);
    if ("redirect" in checked) {
      const { uri, error, description, state } = checked.redirect;
      return c.redirect(redirectTo(uri, { error, error_description: description, state, iss }), 303);
    }
    const req = checked.ok;
    if (one("decision") === "deny")
      return c.redirect(redirectTo(req.redirectUri, { error: "access_denied", state: req.state, iss }), 303);

    const scopes = many("scopes");
    const projectsText = one("projects") ?? "";
    const projects = projectsText.split(/[\s,]+/).filter(Boolean);
    const retry = (error: string, status: number) =>
      page(
        c,
        renderConsent({
          req,
          csrf: one("csrf")!,
          error,
          email: one("email"),
          checked: new Set(scopes),
          projects: projectsText,
        }),
        status,
        req.redirectUri,
      );
    const ip = clientIp(c, platform);
    const requestId = c.get("requestId");
    let session: string;
    try {
      const login = (await invoke(
        platform,
        "login",
        { email: one("email") ?? "", password: one("password") ?? "", totp_code: one("totp_code") || undefined },
        anonymous("rest", ip),
        { requestId },
      )) as { token: string };
      session = login.token;
    } catch (err) {
      const e = toBosunError(err);
      if (e.details.needs_totp) return retry("Enter the code from your authenticator app.", 401);
      return retry(e.code === "validation_error" ? "Enter a valid email and password." : e.message, e.status);
    }
    // The consent is made as the person, by a login session that ends as soon as the code is issued.
    const person = await platform.auth.principal(session, "rest", ip);
    try {
      const granted = (await invoke(
        platform,
        "authorize_oauth_client",
        {
          client_id: req.client.id,
          redirect_uri: req.redirectUri,
          code_challenge: req.codeChallenge,
          code_challenge_method: "S256",
          resource: req.resource,
          scopes,
          ...(projects.length ? { projects } : {}),
        },
        person,
        { requestId },
      )) as { code: string };
      return c.redirect(redirectTo(req.redirectUri, { code: granted.code, state: req.state, iss }), 303);
    } catch (err) {
      const e = toBosunError(err);
      if (e.code === "internal") throw err;
      const message =
        e.code === "validation_error" && e.details.issues
          ? `Choose at least one permission. (${(e.details.issues as { path: string; message: string }[]).map((i) => `${i.path}: ${i.message}`).join("; ")})`
          : e.message;
      return retry(message, e.status);
    } finally {
      await invoke(platform, "logout", {}, person, { requestId }).catch((err) =>
        platform.log.warn({ err }, "could not end the consent page's session"),
      );
    }
  });

  app.post("/oauth/token", async (c) => {
    try {
      await limit(platform, c);
      const p = await formParams(c);
      const origin = { clientIp: clientIp(c, platform), requestId: c.get("requestId") };
      const tokens =
        p.grant_type === "authorization_code"
          ? await exchangeCode(platform, p, origin)
          : p.grant_type === "refresh_token"
            ? await refreshGrant(platform, p, origin)
            : (() => {
                throw new OAuthError(
                  "unsupported_grant_type",
                  "grant_type must be authorization_code or refresh_token",
                );
              })();
      return c.json(tokens, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
    } catch (err) {
      return oauthError(c, err);
    }
  });

  app.post("/oauth/revoke", async (c) => {
    try {
      await limit(platform, c);
      await revokeOAuthToken(platform, await formParams(c), {
        clientIp: clientIp(c, platform),
        requestId: c.get("requestId"),
      });
      return c.body(null, 200);
    } catch (err) {
      return oauthError(c, err);
    }
  });
}
