// OAuth for remote MCP clients, end to end: the MCP SDK's own client-side OAuth (OAuthClientProvider) discovers,
// registers, is sent to the consent page (driven here with fetch, as a person's browser would), trades the code,
// calls a tool, refreshes; and the protocol's refusals, each one.
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { calculatePKCECodeChallenge, generateRandomCodeVerifier } from "oauth4webapi";
import { generate } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepOAuth } from "../core/identity/oauth.ts";
import { startTestPlatform, type TestAccount, type TestPlatform } from "../testkit/harness.ts";
import { MemoryOAuthProvider } from "../testkit/oauth-provider.ts";

const ORIGIN = "http://127.0.0.1";
const MCP_URL = `${ORIGIN}/mcp`;
const REDIRECT = "http://127.0.0.1:53682/callback";

let t: TestPlatform;
let owner: TestAccount;
let ownerToken: string;

beforeAll(async () => {
  t = await startTestPlatform();
  owner = await t.account();
  ownerToken = await owner.token(["*"]);
  for (const slug of ["alpha", "beta"]) {
    const res = await t.request("POST", "/v1/projects", {
      token: ownerToken,
      body: { slug, name: slug, kind: "site" },
    });
    expect(res.status).toBe(201);
  }
});
afterAll(() => t?.close());

/** Every request the SDK or a "browser" makes goes to the real app, in process. */
const appFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
  input instanceof Request ? t.app.request(input) : t.app.request(String(input), init);

const newProvider = () =>
  new MemoryOAuthProvider(REDIRECT, {
    client_name: "Test <b>client</b>",
    redirect_uris: [REDIRECT],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  });

const htmlDecode = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

interface ConsentFields {
  email: string;
  password: string;
  totp_code?: string;
  scopes: string[];
  projects?: string;
  decision?: string;
}

/** What a person's browser does: open the consent page, fill in the form, post it with the page's cookie. */
async function consent(authorizationUrl: URL | string, fields: ConsentFields, tamper?: (f: URLSearchParams) => void) {
  const page = await t.app.request(String(authorizationUrl));
  expect(page.status).toBe(200);
  const html = await page.text();
  const cookie = page.headers.get("set-cookie")!.split(";")[0]!;
  const form = new URLSearchParams();
  for (const [, name, value] of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g))
    form.set(name!, htmlDecode(value!));
  form.set("email", fields.email);
  form.set("password", fields.password);
  if (fields.totp_code) form.set("totp_code", fields.totp_code);
  for (const s of fields.scopes) form.append("scopes", s);
  form.set("projects", fields.projects ?? "");
  form.set("decision", fields.decision ?? "allow");
  tamper?.(form);
  const res = await t.app.request(`${ORIGIN}/oauth/authorize`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: cookie },
    body: form.toString(),
  });
  return { res, html, body: res.status === 303 ? "" : await res.text(), location: res.headers.get("location") };
}

const codeOf = (location: string | null) => new URL(location!).searchParams.get("code")!;

async function connect(provider: MemoryOAuthProvider) {
  const client = new Client({ name: "oauth-test", version: "0.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: appFetch }),
  );
  return client;
}

/** The SDK's whole first sign-in: discovery from the 401, registration, consent, the code exchange. */
async function signIn(fields: ConsentFields): Promise<MemoryOAuthProvider> {
  const provider = newProvider();
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: appFetch });
  await expect(new Client({ name: "oauth-test", version: "0.0.0" }).connect(transport)).rejects.toThrow(
    UnauthorizedError,
  );
  const { location, html } = await consent(provider.authorizationUrl!, fields);
  // The name is the client's own claim: shown as text, never as markup, and bidi-isolated from the host after it.
  expect(html).toContain("<bdi>Test &#60;b&#62;client&#60;/b&#62;</bdi>");
  await transport.finishAuth(codeOf(location));
  return provider;
}

const tokenRequest = (params: Record<string, string>) =>
  t.app.request(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(params).toString(),
  });

const mcpStatus = async (token: string, url = MCP_URL) =>
  (
    await t.app.request(url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${token}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    })
  ).status;

/** A client registered by hand, and an authorization URL with a fresh PKCE pair, for the refusal tests. */
async function manualClient(redirect = REDIRECT) {
  const reg = await t.app.request(`${ORIGIN}/oauth/register`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ client_name: "manual", redirect_uris: [redirect], token_endpoint_auth_method: "none" }),
  });
  expect(reg.status).toBe(201);
  const clientId = ((await reg.json()) as { client_id: string }).client_id;
  const verifier = generateRandomCodeVerifier();
  const challenge = await calculatePKCECodeChallenge(verifier);
  const url = (over: Record<string, string | null> = {}) => {
    const u = new URL(`${ORIGIN}/oauth/authorize`);
    const params: Record<string, string | null> = {
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirect,
      code_challenge: challenge,
      code_challenge_method: "S256",
      resource: MCP_URL,
      state: "st-1",
      ...over,
    };
    for (const [k, v] of Object.entries(params)) if (v !== null) u.searchParams.set(k, v);
    return u;
  };
  const exchange = (code: string, over: Record<string, string> = {}) =>
    tokenRequest({
      grant_type: "authorization_code",
      code,
      code_verifier: verifier,
      client_id: clientId,
      redirect_uri: redirect,
      resource: MCP_URL,
      ...over,
    });
  return { clientId, verifier, url, exchange };
}

describe("discovery", () => {
  it("a 401 from /mcp points to the protected resource metadata, which names the authorization server", async () => {
    const res = await t.app.request(MCP_URL, { method: "POST", body: "{}" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer resource_metadata="${ORIGIN}/.well-known/oauth-protected-resource/mcp"`,
    );
    const bad = await t.app.request(MCP_URL, {
      method: "POST",
      body: "{}",
      headers: { Authorization: "Bearer bsn_x" },
    });
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');

    for (const path of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const prm = (await (await t.app.request(`${ORIGIN}${path}`)).json()) as Record<string, unknown>;
      expect(prm.resource).toBe(MCP_URL);
      expect(prm.authorization_servers).toEqual([ORIGIN]);
      expect(prm.scopes_supported).not.toContain("platform:admin");
    }
    const as = (await (await t.app.request(`${ORIGIN}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(as).toMatchObject({
      issuer: ORIGIN,
      authorization_endpoint: `${ORIGIN}/oauth/authorize`,
      token_endpoint: `${ORIGIN}/oauth/token`,
      registration_endpoint: `${ORIGIN}/oauth/register`,
      revocation_endpoint: `${ORIGIN}/oauth/revoke`,
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["none"],
    });
  });

  it("registration takes public clients with https or loopback redirect URIs only", async () => {
    const register = (body: unknown) =>
      t.app.request(`${ORIGIN}/oauth/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    for (const uri of ["https://claude.ai/api/mcp/auth_callback", "http://localhost:3000/cb", "http://[::1]:9/cb"])
      expect((await register({ redirect_uris: [uri] })).status, uri).toBe(201);
    for (const uri of ["http://evil.example/cb", "javascript:alert(1)", "https://a.example/cb#x", "/relative"]) {
      const res = await register({ redirect_uris: [uri] });
      expect(res.status, uri).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_redirect_uri");
    }
    const secret = await register({ redirect_uris: [REDIRECT], token_endpoint_auth_method: "client_secret_basic" });
    expect(secret.status).toBe(400);
    expect(((await secret.json()) as { error: string }).error).toBe("invalid_client_metadata");
    expect((await register({ redirect_uris: [] })).status).toBe(400);
  });
});

describe("the SDK's OAuth flow (the consent page invokes authorize_oauth_client)", () => {
  it("signs in, calls a tool within its project, refreshes with rotation; a reused refresh token ends the grant", async () => {
    const provider = await signIn({
      email: owner.email,
      password: owner.password,
      scopes: ["projects:read", "tokens:read"],
      projects: "alpha",
    });
    const first = provider.saved!;
    expect(first.token_type).toBe("Bearer");
    expect(first.refresh_token).toMatch(/^bsr_/);
    expect(first.scope).toBe("projects:read tokens:read");

    const client = await connect(provider);
    const listed = await client.callTool({ name: "list_projects", arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect((listed.structuredContent as { projects: { slug: string }[] }).projects.map((p) => p.slug)).toEqual([
      "alpha",
    ]);
    // Bound to project alpha: beta is as unknown as another tenant's.
    const beta = await client.callTool({ name: "get_project", arguments: { project: "beta" } });
    expect(beta.isError).toBe(true);
    expect(JSON.stringify(beta.content)).toContain("not_found");
    await client.close();

    // A Bosun credential like any other: listed, and bound to the MCP endpoint only.
    const tokens = await t.request("GET", "/v1/tokens", { token: ownerToken });
    const issued = tokens.body.tokens.find((k: { name: string }) => k.name === "OAuth: Test <b>client</b>");
    expect(issued).toMatchObject({ scopes: ["projects:read", "tokens:read"], projects: ["alpha"] });
    expect(issued.expires_at).not.toBeNull();
    // Another resource (here the same server under another name) refuses it: the token names its audience.
    expect(await mcpStatus(first.access_token, "http://localhost/mcp")).toBe(401);
    expect(await mcpStatus(first.access_token)).toBe(200);
    const rest = await t.request("GET", "/v1/projects", { token: first.access_token });
    expect(rest.status).toBe(401);
    expect(rest.body.error.message).toContain(MCP_URL);

    // The consent page's login session ended with the consent.
    const sessions = await t.request("GET", "/v1/me/sessions", { token: ownerToken });
    expect(sessions.body.sessions).toEqual([]);

    // Refresh through the SDK: a new pair; the old access token is retired with it.
    expect(await auth(provider, { serverUrl: MCP_URL, fetchFn: appFetch })).toBe("AUTHORIZED");
    const second = provider.saved!;
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(await mcpStatus(first.access_token)).toBe(401);
    expect(await mcpStatus(second.access_token)).toBe(200);

    // The old refresh token again (a thief's copy): refused, and the whole family ends.
    const reuse = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token!,
      client_id: provider.info!.client_id,
    });
    expect(reuse.status).toBe(400);
    expect(((await reuse.json()) as { error: string }).error).toBe("invalid_grant");
    expect(await mcpStatus(second.access_token)).toBe(401);
    const after = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: second.refresh_token!,
      client_id: provider.info!.client_id,
    });
    expect(((await after.json()) as { error: string }).error).toBe("invalid_grant");

    // Audited: both issues of tokens, and the grant ended by the reuse.
    const audit = async (operation: string) =>
      (await t.request("GET", `/v1/audit-events?operation=${operation}`, { token: ownerToken })).body.events;
    const issuedEvents = await audit("oauth_token");
    expect(issuedEvents.map((e: { actor: { token_prefix: string } }) => e.actor.token_prefix)).toEqual(
      expect.arrayContaining([first.access_token.slice(0, 12), second.access_token.slice(0, 12)]),
    );
    expect((await audit("oauth_grant_ended")).map((e: { outcome: string }) => e.outcome)).toContain("refresh_reuse");
  });

  it("revocation (RFC 7009) ends the grant: the next MCP call is a 401 and refresh fails", async () => {
    const provider = await signIn({ email: owner.email, password: owner.password, scopes: ["projects:read"] });
    const { access_token, refresh_token } = provider.saved!;
    expect(await mcpStatus(access_token)).toBe(200);
    const revoke = await t.app.request(`${ORIGIN}/oauth/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: access_token, client_id: provider.info!.client_id }).toString(),
    });
    expect(revoke.status).toBe(200);
    expect(await mcpStatus(access_token)).toBe(401);
    const refresh = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: refresh_token!,
      client_id: provider.info!.client_id,
    });
    expect(refresh.status).toBe(400);
  });

  it("revoke_api_token on an issued token ends its grant too", async () => {
    const provider = await signIn({ email: owner.email, password: owner.password, scopes: ["projects:read"] });
    const tokens = await t.request("GET", "/v1/tokens", { token: ownerToken });
    const issued = tokens.body.tokens.find(
      (k: { prefix: string }) => k.prefix === provider.saved!.access_token.slice(0, 12),
    );
    expect((await t.request("DELETE", `/v1/tokens/${issued.id}`, { token: ownerToken })).status).toBe(200);
    expect(await mcpStatus(provider.saved!.access_token)).toBe(401);
    const refresh = await tokenRequest({
      grant_type: "refresh_token",
      refresh_token: provider.saved!.refresh_token!,
      client_id: provider.info!.client_id,
    });
    expect(((await refresh.json()) as { error: string }).error).toBe("invalid_grant");
  });

  it("a viewer member's grant of everything still acts as a viewer in the project", async () => {
    const viewer = await t.account();
    await t.addMember("alpha", ownerToken, viewer, "viewer");
    const provider = await signIn({ email: viewer.email, password: viewer.password, scopes: ["*"] });
    const client = await connect(provider);
    const read = await client.callTool({ name: "get_project", arguments: { project: "alpha" } });
    expect(read.isError).toBeFalsy();
    const write = await client.callTool({ name: "update_project", arguments: { project: "alpha", name: "mine" } });
    expect(write.isError).toBe(true);
    expect(JSON.stringify(write.content)).toContain("insufficient_scope");
    const other = await client.callTool({ name: "get_project", arguments: { project: "beta" } });
    expect(JSON.stringify(other.content)).toContain("not_found");
    await client.close();
  });
});

describe("refusals", () => {
  it("PKCE plain, a missing or foreign resource, and a wrong response_type are answered at the redirect URI", async () => {
    const m = await manualClient();
    const cases: [Record<string, string | null>, string][] = [
      [{ code_challenge_method: "plain" }, "invalid_request"],
      [{ code_challenge_method: null }, "invalid_request"],
      [{ code_challenge: "short" }, "invalid_request"],
      [{ resource: null }, "invalid_target"],
      [{ resource: "https://other.example/mcp" }, "invalid_target"],
      [{ response_type: "token" }, "unsupported_response_type"],
    ];
    for (const [over, error] of cases) {
      const res = await t.app.request(String(m.url(over)));
      expect(res.status, JSON.stringify(over)).toBe(302);
      const back = new URL(res.headers.get("location")!);
      expect(back.origin + back.pathname).toBe(REDIRECT);
      expect(back.searchParams.get("error"), JSON.stringify(over)).toBe(error);
      expect(back.searchParams.get("state")).toBe("st-1");
    }
  });

  it("an unregistered redirect_uri or unknown client is refused on the page, never redirected", async () => {
    const m = await manualClient();
    const cases: Record<string, string>[] = [{ redirect_uri: "https://evil.example/cb" }, { client_id: "bmc_nope" }];
    for (const over of cases) {
      const res = await t.app.request(String(m.url(over)));
      expect(res.status).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(await res.text()).toContain("cannot connect");
    }
  });

  it("the consent page: CSP, no framing, CSRF checked, wrong password and excess power re-ask", async () => {
    const m = await manualClient();
    const page = await t.app.request(String(m.url()));
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("script-src");
    const html = await page.text();
    expect(html).not.toContain("<script");
    expect(html).toContain("manual");

    // No cookie: the form could have been posted from anywhere.
    const form = new URLSearchParams();
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="(\w+)" value="([^"]*)">/g))
      form.set(name!, htmlDecode(value!));
    form.set("email", owner.email);
    form.set("password", owner.password);
    form.set("scopes", "projects:read");
    const forged = await t.app.request(`${ORIGIN}/oauth/authorize`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    expect(forged.status).toBe(403);

    const wrong = await consent(m.url(), { email: owner.email, password: "not-it", scopes: ["projects:read"] });
    expect(wrong.res.status).toBe(401);
    expect(wrong.location).toBeNull();

    const admin = await consent(m.url(), { email: owner.email, password: owner.password, scopes: ["platform:admin"] });
    expect(admin.res.status).toBe(403);
    expect(admin.body).toContain("platform:admin");

    const foreign = await consent(m.url(), {
      email: owner.email,
      password: owner.password,
      scopes: ["projects:read"],
      projects: "someone-elses",
    });
    expect(foreign.res.status).toBe(404);

    // Tampered hidden fields are checked again on the post.
    const tampered = await consent(m.url(), { email: owner.email, password: owner.password, scopes: ["*"] }, (f) =>
      f.set("redirect_uri", "https://evil.example/cb"),
    );
    expect(tampered.res.status).toBe(400);
    expect(tampered.location).toBeNull();

    const denied = await consent(m.url(), { email: owner.email, password: "", scopes: [], decision: "deny" });
    expect(new URL(denied.location!).searchParams.get("error")).toBe("access_denied");
  });

  it("with two-factor on, the consent asks for the code and takes it", async () => {
    const person = await t.account();
    const token = await person.token(["account:write"]);
    const secret: string = (await t.request("POST", "/v1/me/totp/setup", { token })).body.secret;
    const at = (step: number) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + step * 30 });
    expect((await t.request("POST", "/v1/me/totp/confirm", { token, body: { code: await at(0) } })).status).toBe(200);
    const m = await manualClient();
    const fields = { email: person.email, password: person.password, scopes: ["projects:read"] };
    const asked = await consent(m.url(), fields);
    expect(asked.res.status).toBe(401);
    expect(asked.body).toContain("authenticator");
    expect(asked.location).toBeNull();
    const ok = await consent(m.url(), { ...fields, totp_code: await at(1) });
    expect(ok.res.status).toBe(303);
    expect((await m.exchange(codeOf(ok.location))).status).toBe(200);
  });

  it("a code is single-use, needs its verifier and redirect_uri; reusing it ends what it issued", async () => {
    const m = await manualClient();
    const ok = await consent(m.url(), { email: owner.email, password: owner.password, scopes: ["projects:read"] });
    const back = new URL(ok.location!);
    expect(back.searchParams.get("state")).toBe("st-1");
    expect(back.searchParams.get("iss")).toBe(ORIGIN);
    const code = codeOf(ok.location);

    const wrongVerifier = await m.exchange(code, { code_verifier: generateRandomCodeVerifier() });
    expect(((await wrongVerifier.json()) as { error: string }).error).toBe("invalid_grant");
    // That attempt spent the code.
    expect(((await (await m.exchange(code)).json()) as { error: string }).error).toBe("invalid_grant");

    const ok2 = codeOf(
      (await consent(m.url(), { email: owner.email, password: owner.password, scopes: ["projects:read"] })).location,
    );
    expect(
      ((await (await m.exchange(ok2, { redirect_uri: "http://127.0.0.1:1/other" })).json()) as { error: string }).error,
    ).toBe("invalid_grant");

    const ok3 = codeOf(
      (await consent(m.url(), { email: owner.email, password: owner.password, scopes: ["projects:read"] })).location,
    );
    const issued = await m.exchange(ok3);
    expect(issued.status).toBe(200);
    expect(issued.headers.get("cache-control")).toBe("no-store");
    const { access_token } = (await issued.json()) as { access_token: string };
    expect(await mcpStatus(access_token)).toBe(200);
    const again = await m.exchange(ok3);
    expect(((await again.json()) as { error: string }).error).toBe("invalid_grant");
    expect(await mcpStatus(access_token)).toBe(401);

    const unsupported = await tokenRequest({ grant_type: "password", username: "a", password: "b" });
    expect(((await unsupported.json()) as { error: string }).error).toBe("unsupported_grant_type");
  });
});

describe("the sweeper", () => {
  it("drops clients that never got a grant after a day, and keeps those that did", async () => {
    const idle = await manualClient();
    const used = await manualClient();
    const ok = await consent(used.url(), { email: owner.email, password: owner.password, scopes: ["projects:read"] });
    expect((await used.exchange(codeOf(ok.location))).status).toBe(200);
    const later = new Date(Date.now() + 2 * 86_400_000);
    // Aged by moving the sweep's clock, not the rows; the used code expired long before then too.
    expect(await sweepOAuth(t.platform.db, later)).toBeGreaterThanOrEqual(2);
    const left = await t.platform.db
      .selectFrom("oauth_clients")
      .select("id")
      .where("id", "in", [idle.clientId, used.clientId])
      .execute();
    expect(left.map((r) => r.id)).toEqual([used.clientId]);
  });
});
