// Client ID metadata documents (the MCP spec's preferred registration): the client's id is an https URL where it
// publishes its metadata. Served here by a real TLS listener on 127.0.0.1 whose certificate Bosun trusts through
// BOSUN_EGRESS_CA_FILE; the MCP SDK's own client signs in with it, and each bad document is refused.
import fs from "node:fs";
import https from "node:https";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { calculatePKCECodeChallenge, generateRandomCodeVerifier } from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientIdUrlProblem } from "../core/identity/oauth.ts";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../testkit/harness.ts";
import { MemoryOAuthProvider } from "../testkit/oauth-provider.ts";
import { selfSignedCertificate } from "../testkit/tls.ts";

const ORIGIN = "http://127.0.0.1";
const MCP_URL = `${ORIGIN}/mcp`;
const REDIRECT = "http://127.0.0.1:53682/callback";

let t: TestPlatform;
let owner: TestAccount;
let dir: string;
let server: https.Server;
let base: string;
/** What the document server answers, by path: a JSON document, or a raw status and body. */
const documents = new Map<string, { status?: number; body: unknown }>();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-cimd-"));
  const tls = selfSignedCertificate(dir, "clients", "the OAuth client metadata document test");
  server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const doc = documents.get(req.url ?? "");
    res.writeHead(doc?.status ?? (doc ? 200 : 404), { "content-type": "application/json" });
    res.end(doc ? (typeof doc.body === "string" ? doc.body : JSON.stringify(doc.body)) : "{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  // The document host is on loopback, so this Bosun allows private egress; its CA is the listener's own cert.
  t = await startTestPlatform({ config: { egressAllowPrivate: true, egressCaFile: tls.certFile } });
  owner = await t.account();
});
afterAll(async () => {
  await t?.close();
  await new Promise((r) => server?.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});

const appFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
  input instanceof Request ? t.app.request(input) : t.app.request(String(input), init);

/** Publishes a client's metadata document at `name` and returns its URL (the client_id). */
function publish(name: string, over: Record<string, unknown> = {}) {
  const url = `${base}/clients/${name}.json`;
  documents.set(`/clients/${name}.json`, {
    body: {
      client_id: url,
      client_name: `The ${name} app`,
      redirect_uris: [REDIRECT],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...over,
    },
  });
  return url;
}

/** The consent page as a browser sees it, then the form posted back with its cookie: the redirect's code. */
async function consent(url: URL | string) {
  const page = await t.app.request(String(url));
  const html = await page.text();
  expect(page.status, html).toBe(200);
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g))
    form.set(
      name ?? "",
      (value ?? "").replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))),
    );
  form.set("email", owner.email);
  form.set("password", owner.password);
  form.append("scopes", "projects:read");
  form.set("decision", "allow");
  const res = await t.app.request(`${ORIGIN}/oauth/authorize`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Cookie: (page.headers.get("set-cookie") ?? "").split(";")[0] ?? "",
    },
    body: form.toString(),
  });
  expect(res.status).toBe(303);
  return { html, code: new URL(res.headers.get("location") ?? "").searchParams.get("code") ?? "" };
}

/** An authorization request by hand for `clientId`: the page a person would be sent to. */
async function authorizePage(clientId: string) {
  const u = new URL(`${ORIGIN}/oauth/authorize`);
  const challenge = await calculatePKCECodeChallenge(generateRandomCodeVerifier());
  for (const [k, v] of Object.entries({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    code_challenge: challenge,
    code_challenge_method: "S256",
    resource: MCP_URL,
  }))
    u.searchParams.set(k, v);
  const res = await t.app.request(u.toString());
  return { status: res.status, html: await res.text(), location: res.headers.get("location") };
}

describe("OAuth client ID metadata documents", () => {
  it("the authorization server metadata says they are supported", async () => {
    const res = await t.app.request(`${ORIGIN}/.well-known/oauth-authorization-server`);
    expect(await res.json()).toMatchObject({ client_id_metadata_document_supported: true });
  });

  it("the MCP SDK signs in with its document's URL as client_id, with no registration, and calls a tool", async () => {
    const clientId = publish("claude");
    const provider = new MemoryOAuthProvider(
      REDIRECT,
      { client_name: "unused: the document is what counts", redirect_uris: [REDIRECT] },
      clientId,
    );
    const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: appFetch });
    await expect(new Client({ name: "cimd", version: "0.0.0" }).connect(transport)).rejects.toThrow(UnauthorizedError);
    // The SDK chose the URL-based client_id (no POST /oauth/register happened).
    expect(provider.authorizationUrl?.searchParams.get("client_id")).toBe(clientId);
    const { html, code } = await consent(provider.authorizationUrl ?? "");
    // The consent page shows the document's name as a claim and the host that vouches for it.
    expect(html).toContain("The claude app");
    expect(html).toContain(`published at <b>${new URL(base).host}</b>`);
    await transport.finishAuth(code);
    expect(provider.saved?.access_token).toMatch(/^bsn_/);

    const client = new Client({ name: "cimd", version: "0.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: appFetch }),
    );
    const listed = await client.callTool({ name: "list_projects", arguments: {} });
    expect(listed.isError).toBeFalsy();
    await client.close();

    // Refresh works for the URL client too (the grant points at the row kept under the URL).
    expect(await auth(provider, { serverUrl: MCP_URL, fetchFn: appFetch })).toBe("AUTHORIZED");
    const row = await t.platform.db
      .selectFrom("oauth_clients")
      .select(["id", "name"])
      .where("id", "=", clientId)
      .executeTakeFirst();
    expect(row).toEqual({ id: clientId, name: "The claude app" });
  });

  it("a changed document takes effect at the next sign-in: a withdrawn redirect URI is refused", async () => {
    const clientId = publish("fickle");
    expect((await authorizePage(clientId)).status).toBe(200);
    publish("fickle", { redirect_uris: ["http://127.0.0.1:9/elsewhere"] });
    const page = await authorizePage(clientId);
    expect(page.status).toBe(400);
    expect(page.html).toContain("not one this app registered");
  });

  it("refuses each bad document before anything is sent to the redirect URI", async () => {
    const cases: [string, () => string, string][] = [
      [
        "another client_id inside",
        () => publish("liar", { client_id: `${base}/clients/other.json` }),
        "does not name itself",
      ],
      ["a client secret", () => publish("secretive", { client_secret: "s3cret" }), "carries a client secret"],
      [
        "a confidential client",
        () => publish("confidential", { token_endpoint_auth_method: "private_key_jwt" }),
        "only public clients",
      ],
      [
        "an unsafe redirect URI",
        () => publish("unsafe", { redirect_uris: ["http://evil.example/cb"] }),
        "redirect_uris.0",
      ],
      ["no document", () => `${base}/clients/missing.json`, "answered HTTP 404"],
      [
        "not JSON",
        () => {
          documents.set("/clients/garbage.json", { body: "<html>" });
          return `${base}/clients/garbage.json`;
        },
        "is not JSON",
      ],
      ["a huge document", () => publish("huge", { client_name: "x".repeat(8000) }), "larger than 5120 bytes"],
    ];
    for (const [what, make, message] of cases) {
      const page = await authorizePage(make());
      expect(page.status, what).toBe(400);
      expect(page.location, what).toBeNull();
      expect(page.html, what).toContain(message);
    }
  });

  it("refuses a client_id URL that is not https, has no path, or hides dot segments", async () => {
    expect(clientIdUrlProblem("https://apps.example.com/client.json")).toBeNull();
    expect(clientIdUrlProblem("http://apps.example.com/client.json")).not.toBeNull();
    expect(clientIdUrlProblem("https://apps.example.com/")).toBe("must have a path");
    expect(clientIdUrlProblem("https://apps.example.com/a/../client.json")).toBe("must not have . or .. path segments");
    expect(clientIdUrlProblem("https://u:p@apps.example.com/c.json")).toBe("must not carry credentials");
    expect(clientIdUrlProblem(`https://apps.example.com/${"a".repeat(2000)}`)).toBe("is too long");
    const page = await authorizePage("https://apps.example.com/");
    expect(page.status).toBe(400);
    expect(page.html).toContain("must have a path");
  });
});
