// `bosun serve`: one process serving REST, /openapi.json, /docs and /mcp on its embedded or Postgres database.
import fs from "node:fs";
import path from "node:path";
import { serve } from "@hono/node-server";
import { startRunner } from "../agent-runner/start.ts";
import { AgentScheduler } from "../core/agent/scheduler.ts";
import { agentUnavailable } from "../core/config.ts";
import { startEventWorkers } from "../core/events/worker.ts";
import { ensureOwner, type OwnerBootstrap } from "../core/identity/bootstrap.ts";
import { createPlatform, type Platform } from "../core/platform.ts";
import { startCertificateWorker } from "../core/sites/certificates.ts";
import { siteUrl } from "../core/sites/origin.ts";
import { WorkerCronScheduler } from "../core/workers/cron.ts";
import { createApp } from "../http/app.ts";
import { createSitesApp } from "../sites-server/app.ts";
import { serveSitesHttps } from "../sites-server/tls.ts";
import { createTelegram, startTelegram } from "../telegram/start.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export async function serveCommand(opts: { port: string; host: string; sitesPort?: string }) {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be a port number, not '${opts.port}'`);
  const sitesPort = Number(opts.sitesPort ?? process.env.BOSUN_SITES_PORT ?? 8788);
  if (!Number.isInteger(sitesPort) || sitesPort < 0 || sitesPort > 65535)
    throw new Error(`--sites-port must be a port number, not '${opts.sitesPort}'`);
  const platform = await createPlatform({
    config: { sitesPort },
    onMigration: (name, i, total) => process.stderr.write(`migrating ${i}/${total}: ${name}\n`),
  });
  const owner = await ensureOwner(platform);
  const apiUrl = `http://${opts.host === "0.0.0.0" || opts.host === "::" ? "localhost" : opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}`;
  // Links in emails (set password, invitations) point here unless BOSUN_PUBLIC_URL says where people reach us.
  platform.config.publicUrl ??= apiUrl;
  if (owner) {
    const file = path.join(platform.config.dataDir, "admin-token");
    fs.mkdirSync(platform.config.dataDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, `${owner.token}\n`, { mode: 0o600 });
    process.stderr.write(
      firstStartMessage({
        ...owner,
        apiUrl,
        tokenFile: file,
        agentUnavailable: agentUnavailable(platform.config.agent),
        mail: platform.mail.configured,
      }),
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
  const sitesApp = createSitesApp(platform);
  const sitesServer = serve({ fetch: sitesApp.fetch, port: sitesPort, hostname: opts.host }, (info) => {
    process.stderr.write(sitesStartNote(platform));
  });
  // Not fatal: the API and MCP still serve; published sites wait for a free port (--sites-port).
  sitesServer.once("error", (err) => {
    process.stderr.write(
      `bosun: sites listener not started, cannot listen on ${opts.host}:${sitesPort}: ${err.message}\n`,
    );
  });
  // Custom domains over HTTPS: certificates by ACME (issued and renewed by a worker here), chosen by SNI.
  const httpsPort = platform.config.sitesHttpsPort;
  const sitesHttps =
    httpsPort === undefined
      ? null
      : serveSitesHttps(platform, sitesApp, {
          port: httpsPort,
          hostname: opts.host,
          onListen: (port) =>
            process.stderr.write(
              `  Sites over HTTPS on port ${port} for verified custom domains (certificates from ${platform.config.acme.directoryUrl})\n`,
            ),
        });
  sitesHttps?.once("error", (err) => {
    process.stderr.write(
      `bosun: HTTPS sites listener not started, cannot listen on ${opts.host}:${httpsPort}: ${err.message}\n`,
    );
  });
  const certificates = sitesHttps ? startCertificateWorker(platform) : null;
  // Agent runs execute here too (any number of processes may run workers on one database).
  const runner = startRunner(platform);
  process.stderr.write(`  ${runner.note}\n`);
  // Scheduled agent runs: every process may tick; the database makes each due time start once.
  const scheduler = platform.config.agentSchedulerSeconds
    ? new AgentScheduler(platform).start(platform.config.agentSchedulerSeconds * 1000)
    : null;
  // Workers' cron triggers: likewise, each due time runs once and a trigger never runs twice at once.
  const cron = platform.config.workersCronSeconds
    ? new WorkerCronScheduler(platform).start(platform.config.workersCronSeconds * 1000)
    : null;
  // Event fan-out, webhook deliveries and notification email/Telegram, leased from the same job queue.
  const events = startEventWorkers(platform);
  process.stderr.write(`  ${events.note}\n`);
  // The Telegram bridge (polling, or the webhook mounted above); it adapts operations like REST and MCP.
  process.stderr.write(`  ${await startTelegram(telegram.bridge)}\n`);
  const stop = async () => {
    process.stderr.write("stopping…\n");
    await telegram.bridge?.stop();
    await runner.workers?.stop();
    await certificates?.stop();
    await scheduler?.stop();
    await cron?.stop();
    await events.workers?.stop();
    sitesServer.close();
    sitesHttps?.close();
    server.close();
    await platform.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

/** Where sites are served; in path mode (asked for), a warning saying what sharing one origin gives up. */
export function sitesStartNote(platform: Platform): string {
  const where = siteUrl(platform, "{project}");
  if (!platform.config.sitesPathMode)
    return `  Sites ${where}/   (each site on its own origin; previews from create_preview_link)\n`;
  return (
    `  Sites ${where}/   (one shared origin: BOSUN_SITES_PATH_MODE)\n` +
    "  warning: BOSUN_SITES_PATH_MODE is on: every site shares one origin, so a site's pages can read other sites' pages and password cookies. Use it only for sites you trust.\n"
  );
}

/** What the owner reads on the first start: who they are, how to log in, how to try the agent, how to add people. */
export function firstStartMessage(
  o: OwnerBootstrap & { apiUrl: string; tokenFile: string; agentUnavailable: string | null; mail: boolean },
): string {
  const agent = o.agentUnavailable
    ? [
        "  To try the agent, first give this server a model: set ANTHROPIC_API_KEY (or OPENAI_API_KEY with",
        "  BOSUN_AGENT_PROVIDER=openai) and restart bosun serve. Then:",
      ]
    : ["  To try the agent:"];
  return (
    [
      "",
      "  First start: created the platform owner account (the operator).",
      `    email:       ${o.email}`,
      `    password:    ${o.password}`,
      `    admin token: ${o.token}`,
      `  The token is also in ${o.tokenFile} (readable only by you). It is not shown again.`,
      "",
      "  Log in with the email and password (POST /v1/auth/login), or use the token directly:",
      `    export BOSUN_URL=${o.apiUrl} BOSUN_TOKEN=$(cat ${o.tokenFile})`,
      "    bosun call get_me",
      "",
      ...agent,
      "    bosun call create_project --slug my-site --name 'My site' --kind site",
      "    bosun call start_agent_chat --project my-site --message 'Create a home page that says hello'",
      "  Your own use of the agent is metered (bosun call get_usage) but never refused for lack of credit.",
      "",
      "  Add people without opening registration: bosun call create_account --email them@example.com --name Them,",
      "  or bosun call invite_member --project my-site --email them@example.com --role developer.",
      o.mail
        ? "  Their one-time links go out by email."
        : "  This server sends no email (set BOSUN_SMTP_URL): the one-time link is printed in the answer for you to pass on.",
      "",
    ].join("\n") + "\n"
  );
}
