// MCP resources and prompts over the SDK client: site files and agent transcripts read through the invoker, so
// scopes, tenants and pins apply as they do to tools; prompts for the two workflows.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { connectMcp } from "../testkit/mcp-client.ts";

let t: TestPlatform;
let token: string;
let conversationId: string;
const clients: Client[] = [];

beforeAll(async () => {
  // No runner workers: a conversation's run stays queued, its transcript is what the test reads.
  t = await startTestPlatform({ config: { agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 } } });
  const owner = await t.account();
  token = await owner.token(["*"]);
  for (const slug of ["res-site", "res-other"]) {
    expect((await t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind: "site" } })).status).toBe(
      201,
    );
  }
  const page = await t.request("POST", "/v1/projects/res-site/pages", {
    token,
    body: { slug: "about", title: "About us", content: "<h1>About</h1>" },
  });
  expect(page.status, JSON.stringify(page.body)).toBe(201);
  await credit(t.platform.db, { accountId: owner.id, pool: "ai_credits", amount: 1_000_000, reason: "top_up" });
  const chat = await t.request("POST", "/v1/projects/res-site/agent/conversations", {
    token,
    body: { project: "res-site", message: "Add a contact page" },
  });
  expect(chat.status, JSON.stringify(chat.body)).toBe(201);
  conversationId = chat.body.conversation.id;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
});

async function connect(as: string, query = ""): Promise<Client> {
  const client = await connectMcp(t.app, as, query);
  clients.push(client);
  return client;
}
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 0, data: undefined }),
    (err: { code: number; data?: { error?: { code: string } } }) => ({ code: err.code, data: err.data }),
  );

describe("resources", () => {
  it("lists site pages and the templates, and reads a page and a transcript", async () => {
    const client = await connect(token);
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).toEqual([
      "bosun://projects/{project}/files/{+path}",
      "bosun://projects/{project}/agent/conversations/{conversation_id}",
    ]);
    const { resources } = await client.listResources();
    const about = resources.find((r) => r.uri === "bosun://projects/res-site/files/about.html");
    expect(about).toMatchObject({ title: "About us", mimeType: "text/html" });

    const read = await client.readResource({ uri: about!.uri });
    expect(read.contents).toEqual([
      expect.objectContaining({
        uri: about!.uri,
        mimeType: expect.stringMatching(/^text\/html/),
        text: expect.stringContaining("<h1>About</h1>"),
      }),
    ]);

    const transcript = await client.readResource({
      uri: `bosun://projects/res-site/agent/conversations/${conversationId}`,
    });
    const body = JSON.parse((transcript.contents[0] as { text: string }).text);
    expect(body.messages[0].content).toEqual([{ type: "text", text: "Add a contact page" }]);
  });

  it("refuses what the caller may not read: another tenant's site, a missing scope, a pin, an unknown URI", async () => {
    const uri = "bosun://projects/res-site/files/about.html";
    // Another tenant: not found, exactly as the tool answers.
    const stranger = await connect(await (await t.account()).token(["*"]));
    expect(await failure(stranger.readResource({ uri }))).toMatchObject({
      code: -32002,
      data: { error: { code: "not_found" } },
    });
    expect((await stranger.listResources()).resources).toEqual([]);

    // The owner's token without files:read: refused by the invoker, naming the scope.
    const narrow = await connect(await (await t.account()).token(["projects:read"]));
    expect((await narrow.listResources()).resources).toEqual([]);
    const owner403 = await connect(
      await t
        .request("POST", "/v1/tokens", { token, body: { name: "n", scopes: ["pages:read"] } })
        .then((r) => r.body.token),
    );
    const refused = await failure(owner403.readResource({ uri }));
    expect(refused.data?.error).toMatchObject({ code: "insufficient_scope", required_scope: "files:read" });

    // Pinned to another project: this one is out of reach.
    const pinned = await connect(token, "project=res-other");
    expect((await failure(pinned.readResource({ uri }))).data?.error?.code).toBe("not_found");
    expect((await pinned.listResources()).resources).toEqual([]);

    for (const bad of [
      "bosun://projects/res-site/nothing",
      "file:///etc/passwd",
      "bosun://projects/res-site/files/%E0%A4%A",
    ]) {
      expect.soft((await failure((await connect(token)).readResource({ uri: bad }))).code, bad).toBeLessThan(0);
    }
    expect(
      (await failure(stranger.readResource({ uri: `bosun://projects/res-site/agent/conversations/${conversationId}` })))
        .code,
    ).toBe(-32002);
  });
});

describe("prompts", () => {
  it("offers diagnose_server and change_site, rendered with the user's arguments", async () => {
    const client = await connect(token);
    const { prompts } = await client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(["diagnose_server", "change_site"]);
    const got = await client.getPrompt({
      name: "diagnose_server",
      arguments: { project: "srv", instance: "web-1", symptom: "502 errors" },
    });
    const text = (got.messages[0]!.content as { text: string }).text;
    expect(text).toContain("'web-1'");
    expect(text).toContain('"502 errors"');
    expect(text).toMatch(/tail_log/);
    const site = await client.getPrompt({
      name: "change_site",
      arguments: { project: "res-site", change: "new hours" },
    });
    expect((site.messages[0]!.content as { text: string }).text).toMatch(/publish_site only after the user has agreed/);

    expect((await failure(client.getPrompt({ name: "change_site", arguments: { project: "res-site" } }))).code).toBe(
      -32602,
    );
    expect((await failure(client.getPrompt({ name: "nope" }))).code).toBe(-32602);
  });
});
