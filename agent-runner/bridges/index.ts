// The runner's own tools (not operations, so the REST API is no open proxy), from operator configuration.
import type { Bridge } from "../tools.ts";
import { createFetchUrl } from "./fetch-url.ts";
import { createWebSearch, webSearchConfig } from "./web-search.ts";

export { createFetchUrl, fetchUrl } from "./fetch-url.ts";
export { createWebSearch, webSearchConfig } from "./web-search.ts";

/**
 * web_search (answers not_configured while TAVILY_API_KEY is unset) and fetch_url, which reaches public
 * addresses only — even where the operator lets instances live on private ones (BOSUN_EGRESS_ALLOW_PRIVATE):
 * a page fetched for a model must never reach this host's own services or a cloud metadata endpoint.
 */
export function bridgesFromConfig(env: NodeJS.ProcessEnv = process.env): Bridge[] {
  return [createWebSearch(webSearchConfig(env)), createFetchUrl({ policy: { allowPrivate: false } })];
}
