// `bosun serve`: one process serving REST, /openapi.json, /docs and /mcp on its embedded or Postgres database.
import fs from "node:fs";
import path from "node:path";
import { serve } from "@hono/node-server";
import { ensureOwner } from "../core/identity/bootstrap.ts";
import { createPlatform } from "../core/platform.ts";
import { createApp } from "../openapi/app.ts";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

export async function serveCommand(opts: { port: string; host: string }) {
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, not '${opts.port}'`);
  const platform = await createPlatform({
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
  const app = createApp(platform, {
    mcp: loopback ? { allowedHosts: [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`] } : {},
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
  const stop = async () => {
    process.stderr.write("stopping…\n");
    server.close();
    await platform.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
