// The HTTP plumbing the fake Anthropic, OpenAI and Tavily servers share: a node:http listener on 127.0.0.1 with
// an ephemeral port, every request recorded (so tests can assert what a client sent), a per-test script of
// replies consumed one per request, and a close() that ends keep-alive connections too (SDK clients pool
// sockets, and a lingering one would keep a test process alive). Plain node:http, no vitest: `bosun eval`
// starts these servers outside the test runner.
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** Path and query, as received. */
  path: string;
  /** Lower-cased header names, as node:http gives them. */
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (undefined when the body is empty or not JSON). */
  body: any;
  rawBody: string;
}

/** One step of a script: a fixed reply, or a function of the request (for replies that depend on what the
 *  client sent, e.g. an eval's model that reads the tool result it was given). */
export type ScriptStep<R> = R | ((request: RecordedRequest) => R);

export interface ScriptQueue<R> {
  /** Appends replies; each request consumes the next one. */
  script(steps: ScriptStep<R>[]): void;
  /** How many scripted replies have not been consumed yet (a test can assert its script ran to the end). */
  pending(): number;
}

export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse) => Promise<void> | void;

const MAX_BODY = 32 * 1024 * 1024;

export async function startFakeServer(handler: Handler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: req.headers,
        body,
        rawBody,
      };
      requests.push(recorded);
      Promise.resolve(handler(recorded, res)).catch((err: unknown) => {
        // A bug in a fake must show up as a failing request, not a hung one.
        if (!res.headersSent) sendJson(res, 500, { error: { message: `fake server error: ${String(err)}` } });
        else res.destroy();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function scriptQueue<R>(): ScriptQueue<R> & { next(req: RecordedRequest): R | undefined } {
  const queue: ScriptStep<R>[] = [];
  return {
    script: (steps) => void queue.push(...steps),
    pending: () => queue.length,
    next: (req) => {
      const step = queue.shift();
      return typeof step === "function" ? (step as (r: RecordedRequest) => R)(req) : step;
    },
  };
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Waits `ms`, or less if the client went away (a timed-out SDK request aborts; the fake should not linger). */
export function pause(ms: number, res: http.ServerResponse): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    }
    res.once("close", done);
  });
}

/** Starts an event stream (SSE): both model APIs answer `stream: true` this way. */
export function startEventStream(res: http.ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    ...headers,
  });
}

export function writeEvent(res: http.ServerResponse, data: unknown, event?: string): void {
  if (res.destroyed) return;
  res.write(`${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}
