// The HTTPS sites listener: the same app as the HTTP one, with each custom domain's certificate chosen by SNI.
// Secure contexts are cached per process and dropped when any domain or certificate changes (on any process);
// a name with no certificate gets no context, so the handshake fails instead of showing another site's.
import type { Server } from "node:http";
import https from "node:https";
import tls from "node:tls";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { RESYNC_TOPIC } from "../core/notify.ts";
import type { Platform } from "../core/platform.ts";
import { certificateFor, DOMAIN_CHANGED_TOPIC } from "../core/sites/certificates.ts";

const MAX_CONTEXTS = 10_000;

/** SNI name → secure context (null: no certificate), cached until a domain changes. */
export class SniContexts {
  private cache = new Map<string, Promise<tls.SecureContext | null>>();

  constructor(private readonly platform: Platform) {
    const drop = () => this.cache.clear();
    platform.notifier.on(DOMAIN_CHANGED_TOPIC, drop);
    platform.notifier.on(RESYNC_TOPIC, drop);
  }

  get(servername: string): Promise<tls.SecureContext | null> {
    const name = servername.toLowerCase().replace(/\.$/, "");
    let hit = this.cache.get(name);
    if (!hit) {
      hit = certificateFor(this.platform, name).then((c) => (c ? tls.createSecureContext(c) : null));
      // A failed lookup (the database hiccuped) is not remembered.
      hit.catch(() => this.cache.delete(name));
      if (this.cache.size >= MAX_CONTEXTS) this.cache.clear();
      this.cache.set(name, hit);
    }
    return hit;
  }

  /** For tls.createServer: answers the certificate of the name the client asked for. */
  readonly callback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
    this.get(servername).then(
      (ctx) => (ctx ? cb(null, ctx) : cb(new Error(`no certificate for '${servername}'`))),
      (err) => {
        this.platform.log.warn({ err }, "SNI lookup failed");
        cb(err as Error);
      },
    );
  };
}

/** Starts the HTTPS sites listener on `port` (0: any free port); `onListen` is told the port. */
export function serveSitesHttps(
  platform: Platform,
  app: Hono,
  opts: { port: number; hostname?: string; onListen?: (port: number) => void },
): Server {
  const sni = new SniContexts(platform);
  return serve(
    {
      fetch: app.fetch,
      port: opts.port,
      hostname: opts.hostname,
      createServer: https.createServer,
      serverOptions: { SNICallback: sni.callback },
    },
    (info) => opts.onListen?.(info.port),
  ) as Server;
}
