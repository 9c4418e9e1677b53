// Requests to a site on its own origin (`http://{slug}.localhost:{port}/…`) over real HTTP. Browsers resolve
// `*.localhost` to loopback, Node's resolver does not, and fetch() will not send a Host header of our
// choosing: so this connects to 127.0.0.1 and sends the URL's host as the Host header, as a browser would.
import http from "node:http";

export interface SiteResponse {
  status: number;
  headers: Headers;
  text: string;
}

export function siteFetch(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | URLSearchParams } = {},
): Promise<SiteResponse> {
  const u = new URL(url);
  const body = init.body === undefined ? undefined : String(init.body);
  const headers: Record<string, string> = {
    ...(init.body instanceof URLSearchParams ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
    ...init.headers,
    Host: u.host,
  };
  if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: Number(u.port || 80),
        path: `${u.pathname}${u.search}`,
        method: init.method ?? "GET",
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            for (const one of [v ?? []].flat()) h.append(k, String(one));
          resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
