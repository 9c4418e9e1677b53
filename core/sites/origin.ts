// Where a site is served. By default each site has its own origin — `{slug}.localhost:{sites port}` on a
// laptop (browsers resolve `*.localhost` to loopback), `{slug}.{BOSUN_SITES_DOMAIN}` in production — so one
// customer's page can never read another site (or its password cookie) as same-origin. Path mode
// (`/s/{slug}/` on one shared origin) only when the operator asks for it (BOSUN_SITES_PATH_MODE).
import type { Config } from "../config.ts";
import type { Platform } from "../platform.ts";

/** The sites listener's own base URL (scheme, host, port) — in path mode, the shared origin. */
export function sitesBaseUrl(platform: Platform): string {
  return platform.config.sitesUrl ?? `http://127.0.0.1:${platform.config.sitesPort}`;
}

/** The domain site host names end in: BOSUN_SITES_DOMAIN, else `localhost`. */
export const sitesDomainOf = (config: Config) => config.sitesDomain ?? "localhost";

/**
 * A site's base URL, without a trailing slash: `http://{slug}.localhost:8788`, `https://{slug}.{domain}`, or
 * in path mode `{sites url}/s/{slug}`. The scheme and port come from BOSUN_SITES_URL when it is set.
 */
export function siteUrl(platform: Platform, slug: string): string {
  const config = platform.config;
  if (config.sitesPathMode) return `${sitesBaseUrl(platform)}/s/${slug}`;
  const base = new URL(config.sitesUrl ?? `http://localhost:${config.sitesPort}`);
  return `${base.protocol}//${slug}.${sitesDomainOf(config)}${base.port ? `:${base.port}` : ""}`;
}

/**
 * The site a Host header names (`{slug}.{domain}` or `{slug}.localhost`, any port), or null. One DNS label
 * only: `a.b.localhost` names no site.
 */
export function siteFromHost(config: Config, host: string | undefined): string | null {
  if (!host) return null;
  const name = host.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  for (const domain of new Set([sitesDomainOf(config), "localhost"])) {
    if (!name.endsWith(`.${domain}`)) continue;
    const label = name.slice(0, -domain.length - 1);
    if (/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(label)) return label;
  }
  return null;
}
