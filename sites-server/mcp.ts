// A public MCP endpoint per site, at `/mcp` on the site's own origin (`/s/{slug}/mcp` in path mode): no
// authentication, read-only plus form submission, blind to password-protected sites — so any AI agent can
// ask a customer's site what a visitor could. It is the one MCP server (mcp-server/) in a fixed view: the
// public site operations (core/sites/public.ts) under visitor-friendly names, with the site filled in, called
// through the invoker as an anonymous principal (rate-limited per client IP, audited).
import type { Context } from "hono";
import { anonymous } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import type { LiveSite } from "../core/sites/serving.ts";
import { clientIp } from "../http/request.ts";
import { answerMcp } from "../mcp-server/http.ts";

/** Tool name (as a visitor's agent sees it) → public operation. */
export const SITE_TOOLS: Record<string, string> = {
  get_business_info: "get_business_info",
  get_menu: "get_menu",
  get_services: "get_services",
  get_faq: "get_faq",
  list_published_pages: "list_published_pages",
  get_published_page: "get_published_page",
  list_forms: "list_site_forms",
  get_form_schema: "get_site_form_schema",
  submit_form: "submit_site_form",
};

export function sitesMcpHandler(platform: Platform) {
  return (c: Context, site: LiveSite): Promise<Response> =>
    answerMcp(platform, c.req.raw, anonymous("mcp", clientIp(c, platform)), {
      fixed: {
        name: `bosun-site-${site.slug}`,
        instructions: `Public information about the website '${site.settings.site_name ?? site.slug}': business info, menu, services, FAQ, published pages and forms a visitor can submit.`,
        tools: SITE_TOOLS,
        // The endpoint belongs to one site: a `site` argument cannot point it elsewhere.
        args: { site: site.slug },
      },
    });
}
