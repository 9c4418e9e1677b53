// One webhook attempt: the body signed by the Standard Webhooks scheme (`standardwebhooks`), POSTed through the
// egress policy (core/egress-http.ts: checked and pinned address, no redirects — a 3xx is a failure).
import { Webhook } from "standardwebhooks";
import type { EgressPolicy } from "../egress.ts";
import { EgressRequestError, egressRequest } from "../egress-http.ts";

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
  opts: { policy: EgressPolicy; timeoutMs: number; ca?: string },
): Promise<AttemptResult> {
  const started = performance.now();
  const done = (r: Omit<AttemptResult, "latencyMs">): AttemptResult => ({
    ...r,
    latencyMs: Math.round(performance.now() - started),
  });
  try {
    const res = await egressRequest(target, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "user-agent": "Bosun-Webhooks/1" },
      body,
      policy: opts.policy,
      timeoutMs: opts.timeoutMs,
      maxBytes: EXCERPT_BYTES,
      ca: opts.ca,
    });
    const ok = res.status >= 200 && res.status < 300;
    const excerpt = res.body.toString("utf8");
    return done({ ok, status: res.status, excerpt, error: ok ? null : `the endpoint answered ${res.status}` });
  } catch (err) {
    if (!(err instanceof EgressRequestError)) throw err;
    return done({ ok: false, status: null, excerpt: null, error: err.message });
  }
}

/** The delay before retry `attempt` (1-based): doubling from `baseMs`, capped at six hours, ±25% jitter. */
export function backoffMs(attempt: number, baseMs: number, random = Math.random): number {
  const plain = Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 6 * 3600_000);
  return Math.round(plain * (0.75 + random() * 0.5));
}
