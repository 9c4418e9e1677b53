// fetch_url against real HTTP servers on 127.0.0.1 — which are exactly the addresses the egress policy refuses
// by default. A stand-in resolver maps the name "public.test" to one of them to play a public site (the way an
// attacker's DNS would), so redirects from "outside" to inside can be tested for real.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EgressPolicy, resolveEgress } from "../../core/egress.ts";
import { BosunError } from "../../core/kernel/errors.ts";
import { createFetchUrl, fetchUrl } from "./fetch-url.ts";

let server: http.Server;
let base: string;
let port: number;
const seen: Array<{ path: string; host: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? "", host: req.headers.host ?? "" });
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": type, ...headers });
      res.end(body);
    };
    switch (req.url) {
      case "/page":
        return send(
          200,
          "text/html; charset=utf-8",
          `<!doctype html><html><head><title>Status &amp; health</title><style>body{color:red}</style></head>
           <body><script>alert("x")</script><h1>All good</h1><p>nginx is <b>up</b>&nbsp;again.</p>
           <ul><li>one</li><li>two</li></ul><a href="/docs">Docs</a></body></html>`,
        );
      case "/secret":
        return send(200, "text/plain", "internal secret");
      case "/to-private":
        return send(302, "text/plain", "", { location: `http://127.0.0.1:${port}/secret` });
      case "/to-file":
        return send(301, "text/plain", "", { location: "file:///etc/passwd" });
      case "/relative":
        return send(301, "text/plain", "", { location: "/secret" });
      case "/loop":
        return send(302, "text/plain", "", { location: "/loop" });
      case "/big":
        return send(200, "text/plain; charset=utf-8", "é".repeat(150_000));
      case "/png":
        return send(200, "image/png", "\x89PNG....");
      case "/slow":
        return; // never answers
      default:
        return send(404, "text/plain", "no such page");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

const closed: EgressPolicy = { allowPrivate: false };
const open: EgressPolicy = { allowPrivate: true };
/** "public.test" plays a public site living on our loopback server; every other name goes through the real check. */
const fakeDns = (host: string, policy: EgressPolicy) =>
  host === "public.test" ? Promise.resolve("127.0.0.1") : resolveEgress(host, policy);

async function refusal(p: Promise<unknown>): Promise<BosunError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BosunError);
  return err as BosunError;
}

describe("fetch_url", () => {
  it("refuses loopback and private targets by default, before connecting", async () => {
    const before = seen.length;
    for (const url of [
      `${base}/page`,
      `http://localhost:${port}/page`,
      `http://[::ffff:127.0.0.1]:${port}/page`,
      `http://[::1]:${port}/`,
      "http://169.254.169.254/latest/meta-data/",
    ]) {
      expect((await refusal(fetchUrl(url, { policy: closed }))).code).toBe("egress_denied");
    }
    expect(seen.length).toBe(before);
  });

  it("fetches them when the operator allows private addresses, HTML turned into text", async () => {
    const page = await fetchUrl(`${base}/page`, { policy: open });
    expect(page.status).toBe(200);
    expect(page.title).toBe("Status & health");
    expect(page.text).toContain("# All good");
    expect(page.text).toContain("nginx is up again.");
    expect(page.text).toContain("- one\n- two");
    expect(page.text).toContain(`Docs (${base}/docs)`);
    expect(page.text).not.toMatch(/alert|color:red|<\w/);
    expect(page.truncated).toBe(false);
  });

  it("connects to the checked address while sending the real host name", async () => {
    const page = await fetchUrl(`http://public.test:${port}/page`, { policy: closed, resolve: fakeDns });
    expect(page.title).toBe("Status & health");
    expect(seen.at(-1)).toEqual({ path: "/page", host: `public.test:${port}` });
  });

  it("re-checks every redirect: a public page redirecting to a private address is refused", async () => {
    const before = seen.length;
    const err = await refusal(fetchUrl(`http://public.test:${port}/to-private`, { policy: closed, resolve: fakeDns }));
    expect(err.code).toBe("egress_denied");
    expect(err.details.address).toBe("127.0.0.1");
    expect(seen.slice(before).map((s) => s.path)).toEqual(["/to-private"]);

    // Allowed by the operator, the same redirect is followed (and a relative one stays on the checked host).
    expect((await fetchUrl(`${base}/to-private`, { policy: open })).text).toBe("internal secret");
    const rel = await fetchUrl(`http://public.test:${port}/relative`, { policy: closed, resolve: fakeDns });
    expect(rel).toMatchObject({ url: `http://public.test:${port}/secret`, text: "internal secret" });
  });

  it("fetches only http and https, redirects included", async () => {
    for (const url of ["file:///etc/passwd", "ftp://example.com/x", "gopher://x", "javascript:alert(1)", "not a url"]) {
      expect((await refusal(fetchUrl(url, { policy: open }))).code).toBe("validation_error");
    }
    const err = await refusal(fetchUrl(`${base}/to-file`, { policy: open }));
    expect(err.code).toBe("validation_error");
    expect(err.message).toContain("file:");
  });

  it("stops after too many redirects", async () => {
    const before = seen.length;
    const err = await refusal(fetchUrl(`${base}/loop`, { policy: open, maxRedirects: 3 }));
    expect(err.code).toBe("unprocessable");
    expect(seen.length - before).toBe(4);
  });

  it("caps the text at 50 KB on a character boundary", async () => {
    const page = await fetchUrl(`${base}/big`, { policy: open });
    expect(page.truncated).toBe(true);
    expect(Buffer.byteLength(page.text)).toBeLessThanOrEqual(50 * 1024);
    expect(Buffer.byteLength(page.text)).toBeGreaterThan(50 * 1024 - 4);
    expect(page.text).toMatch(/^é+$/);
  });

  it("times out a server that never answers", async () => {
    const started = Date.now();
    const err = await refusal(fetchUrl(`${base}/slow`, { policy: open, timeoutMs: 300 }));
    expect(err.code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("does not show binary content and reports HTTP errors as pages", async () => {
    expect((await fetchUrl(`${base}/png`, { policy: open })).text).toBe("(image/png content is not shown)");
    expect(await fetchUrl(`${base}/missing`, { policy: open })).toMatchObject({ status: 404, text: "no such page" });
  });

  it("is a runner bridge the model calls with a url", async () => {
    const bridge = createFetchUrl({ policy: open });
    expect(bridge.spec.name).toBe("fetch_url");
    const out = await bridge.execute({ url: `${base}/page` }, new AbortController().signal);
    expect(out).toMatch(/^URL: http:\/\/127\.0\.0\.1:\d+\/page\nStatus: 200\nTitle: Status & health\n\n# All good/);
    expect((await refusal(bridge.execute({ url: 42 }, new AbortController().signal))).code).toBe("validation_error");
    expect(
      (await refusal(createFetchUrl({ policy: closed }).execute({ url: `${base}/page` }, new AbortController().signal)))
        .code,
    ).toBe("egress_denied");
  });

  it("gives the caller's cancellation back as its reason", async () => {
    const controller = new AbortController();
    const reason = new BosunError("conflict", "run cancelled");
    setTimeout(() => controller.abort(reason), 100);
    const err = await refusal(fetchUrl(`${base}/slow`, { policy: open, signal: controller.signal }));
    expect(err).toBe(reason);
  });
  it("bounds a name resolution that hangs by the same deadline", async () => {
    const hang = () => new Promise<string>(() => {});
    const started = Date.now();
    const err = await refusal(fetchUrl("http://slow-dns.test/", { policy: closed, timeoutMs: 200, resolve: hang }));
    expect(err.code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
