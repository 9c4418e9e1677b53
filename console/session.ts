// The console's credential: the login session `login` issues, kept in an HttpOnly, SameSite=Strict cookie (Secure
// over https) instead of an Authorization header, so the page's JavaScript never holds it. Every change also
// needs the session's CSRF token (a header htmx sends, or a hidden form field) and a same-origin Origin.
import crypto from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { BosunError, unauthorized } from "../core/kernel/errors.ts";
import type { Principal } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { clientIp } from "../http/request.ts";

export const COOKIE = "bosun_console";
export const CSRF_HEADER = "x-csrf-token";
export const CSRF_FIELD = "_csrf";

declare module "hono" {
  interface ContextVariableMap {
    consolePrincipal: Principal;
    consoleCsrf: string;
  }
}

/** Over https (directly, or as BOSUN_PUBLIC_URL says people reach us) the cookie is Secure. */
const isHttps = (c: Context, platform: Platform) =>
  new URL(c.req.url).protocol === "https:" || (platform.config.publicUrl ?? "").startsWith("https:");

export function setSessionCookie(c: Context, platform: Platform, token: string, expiresAt: string) {
  setCookie(c, COOKIE, token, {
    path: "/",
    httpOnly: true,
    sameSite: "Strict",
    secure: isHttps(c, platform),
    expires: new Date(expiresAt),
  });
}

export const clearSessionCookie = (c: Context) => deleteCookie(c, COOKIE, { path: "/" });

/** The CSRF token of a session: derived from its id, so nothing is stored and it dies with the session. */
export function csrfToken(platform: Platform, sessionId: string): string {
  return crypto.createHmac("sha256", platform.secrets.deriveKey("console-csrf")).update(sessionId).digest("base64url");
}

/** The principal of the request's session cookie (the invoker re-checks the session on every call). */
export async function sessionPrincipal(c: Context, platform: Platform): Promise<Principal | null> {
  const jwt = getCookie(c, COOKIE);
  // Only login sessions live in this cookie: an API token pasted into it is not a console sign-in.
  if (!jwt || jwt.startsWith("bsn_")) return null;
  try {
    const principal = await platform.auth.principal(jwt, "console", clientIp(c, platform));
    return principal.credential?.kind === "session" ? principal : null;
  } catch {
    return null;
  }
}

/** The origins this server answers on: the request's own, and BOSUN_PUBLIC_URL's (behind a proxy). */
function ownOrigins(c: Context, platform: Platform): Set<string> {
  const origins = new Set([new URL(c.req.url).origin]);
  const host = c.req.header("host");
  if (host) origins.add(`${new URL(c.req.url).protocol}//${host}`);
  if (platform.config.publicUrl) origins.add(new URL(platform.config.publicUrl).origin);
  return origins;
}

/**
 * Every change must come from our own pages: the Origin header names this server (browsers send it on every
 * POST), and — once signed in — the session's CSRF token is in the X-CSRF-Token header or the _csrf field.
 */
export function sameOrigin(c: Context, platform: Platform): boolean {
  const origin = c.req.header("origin");
  if (origin) return ownOrigins(c, platform).has(origin);
  return c.req.header("sec-fetch-site") === "same-origin";
}

const forbidden = (message: string) => new BosunError("forbidden", message);

/**
 * Resolves the session for every console route (pages and actions): signed out, pages redirect to sign-in and
 * actions answer 401; a change without the CSRF token or from another origin is refused with 403 before any
 * operation runs.
 */
export function consoleAuth(platform: Platform): MiddlewareHandler {
  return async (c, next) => {
    const changes = c.req.method !== "GET" && c.req.method !== "HEAD";
    if (changes && !sameOrigin(c, platform)) throw forbidden("cross-origin request refused");
    const principal = await sessionPrincipal(c, platform);
    if (!principal) {
      if (changes) throw unauthorized("sign in to the console first");
      const back = new URL(c.req.url);
      return c.redirect(`/console/sign-in?next=${encodeURIComponent(back.pathname + back.search)}`, 303);
    }
    const expected = csrfToken(platform, principal.credential?.id ?? "");
    if (changes) {
      let sent = c.req.header(CSRF_HEADER);
      if (
        !sent &&
        /^(application\/x-www-form-urlencoded|multipart\/form-data)/i.test(c.req.header("content-type") ?? "")
      ) {
        const form = await c.req.parseBody();
        const field = form[CSRF_FIELD];
        sent = typeof field === "string" ? field : undefined;
      }
      const ok =
        !!sent && sent.length === expected.length && crypto.timingSafeEqual(Buffer.from(sent), Buffer.from(expected));
      if (!ok) throw forbidden("missing or wrong CSRF token; reload the page");
    }
    c.set("consolePrincipal", principal);
    c.set("consoleCsrf", expected);
    await next();
  };
}
