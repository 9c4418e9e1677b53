// The HTTP surface: REST under /v1, /openapi.json, /docs, /healthz, the console at /console, the MCP endpoint at /mcp and its OAuth
// endpoints (/.well-known/*, /oauth/*).
import crypto from "node:crypto";
import { Hono } from "hono";
import { assetServer, DOCS_ASSETS } from "../console/assets.ts";
import { mountConsole } from "../console/mount.tsx";
import { checkDatabase } from "../core/health.ts";
import { BosunError, notFound } from "../core/kernel/errors.ts";
import type { Platform } from "../core/platform.ts";
import { mountTelegramWebhook, type TelegramWebhook } from "../telegram/webhook.ts";
import { mountAccountPages } from "./account-pages.ts";
import { DOCS_CSP, renderDocsPage } from "./docs-page.ts";
import { openApiDocument } from "./document.ts";
import { errorResponse } from "./http-errors.ts";
import { type McpHttpOptions, mountMcp } from "./mcp-route.ts";
import { mountOAuth } from "./oauth.ts";
import { boundedBody, isMultipart, isRawBody, MAX_JSON_BODY, MAX_UPLOAD_BODY } from "./request.ts";
import { mountOperations } from "./routes.ts";
import { mountRunStream } from "./run-stream.ts";
import { mountWorkerLogStream } from "./worker-log-stream.ts";

declare module "hono" {
  interface ContextVariableMap {
    requestId: string;
    /** The response carries X-Request-Id among its own plain headers (http/routes.ts). */
    ownHeaders: boolean;
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface AppOptions {
  mcp?: McpHttpOptions;
  /** The Telegram bridge's webhook, when it takes updates that way (BOSUN_PUBLIC_URL). */
  telegramWebhook?: TelegramWebhook;
}

// Multipart bodies (file uploads: upload_asset) may carry a 10 MB file; every other body stays under the JSON limit.
const jsonLimit = boundedBody({
  maxSize: MAX_JSON_BODY,
  onError: (c) => errorResponse(c, new BosunError("payload_too_large", `the body is over ${MAX_JSON_BODY} bytes`)),
});
const uploadLimit = boundedBody({
  maxSize: MAX_UPLOAD_BODY,
  onError: (c) => errorResponse(c, new BosunError("payload_too_large", `the upload is over ${MAX_UPLOAD_BODY} bytes`)),
});

export function createApp(platform: Platform, options: AppOptions = {}): Hono {
  const app = new Hono();
  const ops = platform.operations.operations;
  const documents = new Map<string, string>();

  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", requestId);
    // Under /v1 and /mcp the handlers write it among their own headers (routes.ts, mcp-route.ts): a Headers
    // object made here would be dropped, or copied and sorted into theirs, on every call.
    const own = c.req.path.startsWith("/v1/") || c.req.path === "/mcp";
    if (!own) c.header("X-Request-Id", requestId);
    await next();
    if (c.get("ownHeaders")) return;
    // A handler that returns its own Response (the MCP transport) drops headers set before it; under /v1 and
    // /mcp, the answers not written by routes.ts (a 404, a body over the limit, a run stream) get it here.
    if (!c.res.headers.has("X-Request-Id")) c.header("X-Request-Id", requestId);
  });
  // Raw bodies (archives) are streamed, never buffered: the operation taking one counts it against its own limit.
  app.use("/v1/*", async (c, next) => {
    const type = c.req.header("content-type");
    if (isRawBody(type)) return next();
    return isMultipart(type) ? uploadLimit(c, next) : jsonLimit(c, next);
  });

  app.get("/healthz", async (c) => {
    await checkDatabase(platform);
    return c.json({ ok: true, database: platform.dbKind });
  });
  app.get("/openapi.json", (c) => {
    const version = c.req.query("version") === "3.0" ? "3.0" : "3.1";
    const origin = new URL(c.req.url).origin;
    const key = `${version} ${origin}`;
    if (!documents.has(key)) {
      if (documents.size >= 16) documents.clear(); // the origin comes from the Host header: keep the cache bounded
      documents.set(key, JSON.stringify(openApiDocument(ops, version, origin)));
    }
    return c.body(documents.get(key)!, 200, { "Content-Type": "application/json" });
  });
  const docsPage = renderDocsPage(ops);
  app.get("/docs", (c) => c.html(docsPage, 200, { "Content-Security-Policy": DOCS_CSP }));
  const docsAssets = assetServer(DOCS_ASSETS);
  app.get("/docs/assets/:name", (c) => docsAssets(c, c.req.param("name")));
  mountConsole(app, platform);
  mountAccountPages(app);
  mountOAuth(app, platform);

  mountRunStream(app, platform); // before the operations: its path extends list_agent_run_events
  mountWorkerLogStream(app, platform);
  if (options.telegramWebhook) mountTelegramWebhook(app, options.telegramWebhook);
  mountOperations(app, platform);
  mountMcp(app, platform, options.mcp);

  app.notFound((c) => errorResponse(c, notFound("route", `${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    platform.log.error({ err, requestId: c.get("requestId") }, "unhandled error");
    return errorResponse(c, err);
  });
  return app;
}
