// `bosun serve`: one process serving REST, /openapi.json, /docs and /mcp on its embedded or Postgres database.
import fs from "node:fs";
import path from "node:path";
import { serve } from "@hono/node-server";
import { startRunner } from "../agent-runner/start.ts";
import { createTelegram, startTelegram } from "../agent-runner/telegram/start.ts";
import { ensureOwner } from "../core/identity/bootstrap.ts";
import { createPlatform } from "../core/platform.ts";
import { createApp } from "../openapi/app.ts";
import { siteUrl } from "../core/sites/origin.ts";
import { createSitesApp } from "../openapi/sites-app.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export async function serveCommand(opts: { port: string; host: string; sitesPort?: string }) {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not '${opts.port}'`);
  const sitesPort = Number(opts.sitesPort ?? process.env.BOSUN_SITES_PORT ?? 8788);
  if (!Number.isInteger(sitesPort) || sitesPort < 0 || sitesPort > 65535) throw new Error(`--sites-port must be a port number, not '${opts.sitesPort}'`);
  const platform = await createPlatform({
    config: { sitesPort },
    onMigration: (name, i, total) => process.stderr.write(`migrating ${i}/${total}: ${name}\n`),
  });
  const owner = await ensureOwner(platform);
  if (owner) {
    const file = path.join(platform.config.dataDir, "admin-token");
    fs.mkdirSync(platform.config.dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, `${owner.token}\n`, { mode: 0o600 });
    process.stderr.write(
      [
        "",
        "  First start: created the platform owner account.",
        `    email:       ${owner.email}`,
        `    password:    ${owner.password}`,
        `    admin token: ${owner.token}`,
        `  The token is also in ${file} (readable only by you). It is not shown again.`,
        "",
      ].join("\n") + "\n",
    );
  }
  const loopback = LOOPBACK.has(opts.host);
  const telegram = createTelegram(platform);
  const app = createApp(platform, {
    mcp: loopback ? { allowedHosts: [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`] } : {},
    telegramWebhook: telegram.webhook,
  });
  const server = serve({ fetch: app.fetch, port, hostname: opts.host }, (info) => {
    const where = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${info.port}`;
    process.stderr.write(
      `Bosun is listening on ${where} (database: ${platform.dbKind === "pglite" ? `embedded, ${platform.config.dataDir}` : "postgres"})\n` +
        `  REST ${where}/v1   docs ${where}/docs   OpenAPI ${where}/openapi.json   MCP ${where}/mcp\n`,
    );
  });
  // Unhandled, a listen error (the port is taken) would crash with a stack trace and skip closing the database.
  server.once("error", (err) => {
    process.stderr.write(`bosun: cannot listen on ${opts.host}:${port}: ${err.message}\n`);
    void platform.close().finally(() => process.exit(1));
  });
  // Customer sites on their own origin (a second listener), so their JavaScript never runs on the API's.
  const sitesHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  platform.config.sitesUrl ??= `http://${sitesHost}:${sitesPort}`;
  const sitesServer = serve({ fetch: createSitesApp(platform).fetch, port: sitesPort, hostname: opts.host }, (info) => {
    // Each site on its own origin unless path mode was asked for (then say what that gives up).
    process.stderr.write(`  Sites ${siteUrl(platform, "{project}")}/   (each site on its own origin; previews from create_preview_link)\n`);
    if (platform.config.sitesPathMode) {
      process.stderr.write(
        "  warning: BOSUN_SITES_PATH_MODE is on: every site shares one origin, so a site's pages can read other sites' pages and password cookies. Use it only for sites you trust.\n",
      );
    }
  });
  // Not fatal: the API and MCP still serve; published sites wait for a free port (--sites-port).
  sitesServer.once("error", (err) => {
    process.stderr.write(`bosun: sites listener not started, cannot listen on ${opts.host}:${sitesPort}: ${err.message}\n`);
  });
  // Agent runs execute here too (any number of processes may run workers on one database).
  const runner = startRunner(platform);
  process.stderr.write(`  ${runner.note}\n`);
  // The Telegram bridge (polling, or the webhook mounted above); it adapts operations like REST and MCP.
  process.stderr.write(`  ${await startTelegram(telegram.bridge)}\n`);
  const stop = async () => {
    process.stderr.write("stopping…\n");
    await telegram.bridge?.stop();
    await runner.workers?.stop();
    sitesServer.close();
    server.close();
    await platform.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
