// One outbound HTTP(S) request Bosun makes itself to a URL someone else chose (a webhook endpoint, an OAuth
// client's metadata document): the host resolved and checked once by the egress policy, the connection pinned to
// that address (no second lookup a rebinding DNS could answer differently), no redirects followed (a 3xx is an
// answer, so a redirect cannot lead inside), a deadline, and a cap on the bytes read back.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { type EgressPolicy, pinnedLookup, resolveEgress } from "./egress.ts";

export interface EgressResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** At most `maxBytes` of the body; `truncated` when there was more. */
  body: Buffer;
  truncated: boolean;
}

export interface EgressRequestOptions {
  method?: "GET" | "POST";
  headers?: Record<string, string | number>;
  body?: string;
  policy: EgressPolicy;
  timeoutMs: number;
  maxBytes: number;
  /** Extra root certificates (PEM) trusted besides Node's own: a private PKI (BOSUN_EGRESS_CA_FILE). */
  ca?: string;
}

/** Why the request got no answer: a bad URL, a refused or unresolvable host, a connection error or the deadline. */
export class EgressRequestError extends Error {}

const caCache = new Map<string, string>();
/** The PEM of BOSUN_EGRESS_CA_FILE, read once per process. */
export function egressCa(file: string | undefined): string | undefined {
  if (!file) return undefined;
  let pem = caCache.get(file);
  if (pem === undefined) {
    pem = fs.readFileSync(file, "utf8");
    caCache.set(file, pem);
  }
  return pem;
}

export async function egressRequest(target: string, opts: EgressRequestOptions): Promise<EgressResponse> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new EgressRequestError("not a valid URL");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new EgressRequestError("not an http(s) URL");
  let address: string;
  try {
    address = await resolveEgress(url.hostname.replace(/^\[|\]$/g, ""), opts.policy);
  } catch (err) {
    throw new EgressRequestError((err as Error).message);
  }
  const secure = url.protocol === "https:";
  // Giving `ca` replaces Node's bundled roots, so the extra CA is added to them, not swapped in.
  const ca = secure && opts.ca ? [...tls.rootCertificates, opts.ca] : undefined;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: EgressRequestError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    const req = (secure ? https : http).request(
      url,
      {
        method: opts.method ?? "GET",
        lookup: pinnedLookup(address),
        agent: false,
        ca,
        timeout: opts.timeoutMs,
        headers: {
          ...opts.headers,
          ...(opts.body === undefined ? {} : { "content-length": Buffer.byteLength(opts.body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const finish = () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).subarray(0, opts.maxBytes),
            truncated,
          });
        };
        res.on("data", (c: Buffer) => {
          if (size < opts.maxBytes) chunks.push(c);
          size += c.length;
          // Past the cap, stop reading: a huge or endless body must not hold the connection or the memory.
          if (size > opts.maxBytes) {
            truncated = true;
            finish();
            res.destroy();
          }
        });
        res.on("end", finish);
        res.on("error", finish);
      },
    );
    const timeout = () => {
      fail(new EgressRequestError(`no answer within ${opts.timeoutMs} ms`));
      req.destroy();
    };
    const timer = setTimeout(timeout, opts.timeoutMs);
    req.on("timeout", timeout);
    req.on("error", (err: NodeJS.ErrnoException) =>
      fail(new EgressRequestError(`cannot connect to ${url.host} (${err.code ?? err.message})`)),
    );
    req.end(opts.body);
  });
}
