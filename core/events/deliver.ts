// One webhook attempt: the body signed by the Standard Webhooks scheme (`standardwebhooks`), POSTed through the
// egress policy — the target's host resolved and checked once, the connection pinned to that address, no
// redirects followed (a 3xx is a failure, so a redirect cannot lead a delivery inside).
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { Webhook } from "standardwebhooks";
import { type EgressPolicy, resolveEgress } from "../egress.ts";
import { BosunError } from "../kernel/errors.ts";

export interface AttemptResult {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  /** The start of the response body, for the delivery log (attacker-written: shown, never interpreted). */
  excerpt: string | null;
  error: string | null;
}

const EXCERPT_BYTES = 1024;

/** The three Standard Webhooks headers for `body`. */
export function signedHeaders(secret: string, msgId: string, at: Date, body: string): Record<string, string> {
  return {
    "webhook-id": msgId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(msgId, at, body),
  };
}

export async function attemptDelivery(
  target: string,
  headers: Record<string, string>,
  body: string,
  opts: { policy: EgressPolicy; timeoutMs: number },
): Promise<AttemptResult> {
  const started = performance.now();
  const done = (r: Omit<AttemptResult, "latencyMs">): AttemptResult => ({
    ...r,
    latencyMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return done({ ok: false, status: null, excerpt: null, error: "not a valid URL" });
  }
  let address: string;
  try {
    address = await resolveEgress(url.hostname.replace(/^\[|\]$/g, ""), opts.policy);
  } catch (err) {
    return done({ ok: false, status: null, excerpt: null, error: (err as Error).message });
  }
  const family = net.isIP(address);
  // net.connect may ask for all addresses (autoSelectFamily); either way it gets only the checked one.
  const lookup: net.LookupFunction = (_host, options, cb) => {
    if (options.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  };
  const mod = url.protocol === "https:" ? https : http;
  return new Promise((resolve) => {
    const req = mod.request(
      url,
      {
        method: "POST",
        lookup,
        agent: false,
        timeout: opts.timeoutMs,
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "user-agent": "Bosun-Webhooks/1",
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          if (size < EXCERPT_BYTES) chunks.push(c);
          size += c.length;
        });
        const finish = () => {
          const status = res.statusCode ?? 0;
          const excerpt = Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8");
          const ok = status >= 200 && status < 300;
          resolve(done({ ok, status, excerpt, error: ok ? null : `the endpoint answered ${status}` }));
        };
        res.on("end", finish);
        res.on("error", () => finish());
      },
    );
    const timer = setTimeout(() => req.destroy(new BosunError("timeout", "timed out")), opts.timeoutMs);
    req.on("timeout", () => req.destroy(new BosunError("timeout", "timed out")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const error =
        err instanceof BosunError
          ? `no answer within ${opts.timeoutMs} ms`
          : `cannot connect to ${url.host} (${err.code ?? err.message})`;
      resolve(done({ ok: false, status: null, excerpt: null, error }));
    });
    req.on("close", () => clearTimeout(timer));
    req.end(body);
  });
}

/** The delay before retry `attempt` (1-based): doubling from `baseMs`, capped at six hours, ±25% jitter. */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const plain = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 6 * 3600_000);
  return Math.round(plain * (0.75 + random() * 0.5));
}
