// Webhooks end to end: real receivers on 127.0.0.1 verify every delivery with the stock `standardwebhooks`
// library; retries, auto-disable, tenancy and the operations' errors.
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { receiver, until } from "../../testkit/webhook-receiver.ts";
import { publishEvent } from "./publish.ts";
import { EventWorkers } from "./worker.ts";

let t: TestPlatform;
let workers: EventWorkers;
let owner: Awaited<ReturnType<TestPlatform["account"]>>;
let token: string;

const project = async (slug: string, tok = token) => {
  const res = await t.request("POST", "/v1/projects", { token: tok, body: { slug, name: slug, kind: "site" } });
  expect(res.status).toBe(201);
  const row = await t.platform.db
    .selectFrom("projects")
    .select(["id", "slug"])
    .where("slug", "=", slug)
    .executeTakeFirstOrThrow();
  return row;
};

beforeAll(async () => {
  t = await startTestPlatform({
    config: {
      egressAllowPrivate: true,
      events: { workers: 0, retryBaseMs: 40, maxAttempts: 4, timeoutMs: 2000 },
    },
  });
  workers = new EventWorkers(t.platform, { concurrency: 2, pollMs: 20 }).start();
  owner = await t.account();
  token = await owner.token(["*"]);
});
afterAll(async () => {
  await workers?.stop();
  await t?.close();
});

describe("deliveries", () => {
  it("create_webhook_endpoint, send_test_event, rotate_webhook_secret: every delivery is signed so a stock Standard Webhooks verifier accepts it, and a wrong secret does not", async () => {
    const rx = await receiver();
    const created = await t.request("POST", "/v1/webhooks", {
      token,
      body: { url: rx.url, events: ["token.revoked"] },
    });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const listed = await t.request("GET", "/v1/webhooks", { token });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    const stored = await t.platform.db
      .selectFrom("webhook_endpoints")
      .select("secret_enc")
      .where("id", "=", created.body.id)
      .executeTakeFirstOrThrow();
    expect(stored.secret_enc).not.toContain(created.body.secret.slice(6));

    const test = await t.request("POST", `/v1/webhooks/${created.body.id}/test`, { token });
    expect(test.status).toBe(202);
    await until(() => rx.got.length === 1);
    const [msg] = rx.got;
    const payload = new Webhook(created.body.secret).verify(msg!.body, msg!.headers as Record<string, string>) as any;
    expect(payload.type).toBe("webhook.test");
    expect(msg!.headers["webhook-id"]).toBe(test.body.webhook_id);
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 7).toString("base64")}`).verify(msg!.body, msg!.headers as any),
    ).toThrow();

    // A real event it subscribed to, caused by revoking a token; one it did not subscribe to is not sent.
    const other = await owner.token(["projects:read"]);
    const tokens = await t.request("GET", "/v1/tokens", { token });
    const victim = tokens.body.tokens.find((x: any) => other.startsWith(x.prefix));
    expect((await t.request("DELETE", `/v1/tokens/${victim.id}`, { token })).status).toBe(200);
    await until(() => rx.got.length === 2);
    const revoked = new Webhook(created.body.secret).verify(rx.got[1]!.body, rx.got[1]!.headers as any) as any;
    expect(revoked).toMatchObject({ type: "token.revoked", data: { token_id: victim.id, prefix: victim.prefix } });
    expect(rx.got[1]!.body).not.toContain(other); // never the token itself

    // Rotation: the old secret stops verifying.
    const rotated = await t.request("POST", `/v1/webhooks/${created.body.id}/rotate-secret`, { token });
    expect(rotated.body.secret).not.toBe(created.body.secret);
    await t.request("POST", `/v1/webhooks/${created.body.id}/test`, { token });
    await until(() => rx.got.length === 3);
    expect(() => new Webhook(created.body.secret).verify(rx.got[2]!.body, rx.got[2]!.headers as any)).toThrow();
    expect(new Webhook(rotated.body.secret).verify(rx.got[2]!.body, rx.got[2]!.headers as any)).toBeTruthy();
    await rx.close();
  });

  it("a flaky endpoint (fails 2 times, then succeeds) is retried with growing delays under one webhook-id (list_webhook_deliveries)", async () => {
    const rx = await receiver((n) => (n <= 2 ? 503 : 200));
    const ep = await t.request("POST", "/v1/webhooks", { token, body: { url: rx.url } });
    const test = await t.request("POST", `/v1/webhooks/${ep.body.id}/test`, { token });
    await until(() => rx.got.length === 3);
    const ids = new Set(rx.got.map((g) => g.headers["webhook-id"]));
    expect(ids).toEqual(new Set([test.body.webhook_id]));
    // The body is the same bytes each time; each attempt is freshly signed.
    expect(new Set(rx.got.map((g) => g.body)).size).toBe(1);
    for (const g of rx.got) new Webhook(ep.body.secret).verify(g.body, g.headers as any);
    // Base 40 ms, doubling, ±25%: the second wait is at least 60 ms; the first at least 30 ms.
    const gap1 = rx.got[1]!.at - rx.got[0]!.at;
    const gap2 = rx.got[2]!.at - rx.got[1]!.at;
    expect(gap1).toBeGreaterThanOrEqual(25);
    expect(gap2).toBeGreaterThanOrEqual(55);
    const log = await until(async () => {
      const r = await t.request("GET", `/v1/webhooks/${ep.body.id}/deliveries`, { token });
      return r.body.deliveries[0]?.status === "succeeded" && r.body;
    });
    expect(log.deliveries).toHaveLength(1);
    expect(log.deliveries[0]).toMatchObject({ attempts: 3, response_status: 200, response_excerpt: "answer 3" });
    expect(log.deliveries[0].latency_ms).toBeGreaterThanOrEqual(0);
    const attempts = await t.platform.db
      .selectFrom("webhook_attempts")
      .selectAll()
      .where("delivery_id", "=", test.body.id)
      .orderBy("attempt")
      .execute();
    expect(attempts.map((a) => a.response_status)).toEqual([503, 503, 200]);
    await rx.close();
  });

  it("after the last attempt fails the endpoint is disabled and its owner notified; update_webhook_endpoint re-enables, redeliver_webhook starts over", async () => {
    let up = false;
    const rx = await receiver(() => (up ? 200 : 500));
    const ep = await t.request("POST", "/v1/webhooks", { token, body: { url: rx.url } });
    const test = await t.request("POST", `/v1/webhooks/${ep.body.id}/test`, { token });
    await until(async () => {
      const r = await t.request("GET", "/v1/webhooks", { token });
      return r.body.endpoints.find((e: any) => e.id === ep.body.id && !e.enabled);
    });
    expect(rx.got).toHaveLength(4); // BOSUN_WEBHOOK_MAX_ATTEMPTS in this test
    const notes = await until(async () => {
      const r = await t.request("GET", "/v1/notifications", { token });
      return r.body.notifications.find((n: any) => n.type === "webhook_endpoint.disabled");
    });
    expect(notes.body).toContain(rx.url);

    // Disabled: redeliver is refused until it is on again; then the same webhook-id arrives.
    expect((await t.request("POST", `/v1/webhook-deliveries/${test.body.id}/redeliver`, { token })).status).toBe(409);
    up = true;
    const on = await t.request("PATCH", `/v1/webhooks/${ep.body.id}`, { token, body: { enabled: true } });
    expect(on.body).toMatchObject({ enabled: true, disabled_reason: null });
    const again = await t.request("POST", `/v1/webhook-deliveries/${test.body.id}/redeliver`, { token });
    expect(again.status).toBe(202);
    await until(() => rx.got.length === 5);
    expect(rx.got[4]!.headers["webhook-id"]).toBe(test.body.webhook_id);
    await rx.close();
  });

  it("a project's endpoint gets that project's events only; an account endpoint gets every event of its account", async () => {
    const a = await project("hooks-a");
    const b = await project("hooks-b");
    const rxA = await receiver();
    const rxAll = await receiver();
    await t.request("POST", "/v1/webhooks", {
      token,
      body: { url: rxA.url, project: "hooks-a", events: ["form.submitted"] },
    });
    await t.request("POST", "/v1/webhooks", { token, body: { url: rxAll.url, events: ["form.submitted"] } });
    for (const p of [b, a, b])
      await publishEvent(t.platform.db, {
        type: "form.submitted",
        account: owner.id,
        project: p,
        data: { submission_id: crypto.randomUUID(), form: "contact", fields: { email: "a@b.test" } },
      });
    await until(() => rxAll.got.length === 3);
    await until(() => rxA.got.length >= 1);
    await new Promise((r) => setTimeout(r, 200)); // let any wrong delivery arrive
    expect(rxA.got.map((g) => JSON.parse(g.body).data.project)).toEqual(["hooks-a"]);

    // A member removed from a project stops getting its events, through the endpoint they made while a member.
    const stranger = await t.account();
    const strangerToken = await stranger.token(["*"]);
    await t.addMember("hooks-b", token, { email: stranger.email }, "maintainer");
    const rxS = await receiver();
    const made = await t.request("POST", "/v1/webhooks", {
      token: strangerToken,
      body: { url: rxS.url, project: "hooks-b" },
    });
    expect(made.status).toBe(201);
    const members = await t.request("GET", "/v1/projects/hooks-b/members", { token });
    const m = members.body.members.find((x: any) => x.email === stranger.email);
    expect((await t.request("DELETE", `/v1/projects/hooks-b/members/${m.account_id}`, { token })).status).toBe(200);
    await publishEvent(t.platform.db, {
      type: "form.submitted",
      account: owner.id,
      project: b,
      data: { submission_id: crypto.randomUUID(), form: "contact", fields: { email: "a@b.test" } },
    });
    await until(() => rxAll.got.length === 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(rxS.got).toHaveLength(0);
    for (const r of [rxA, rxAll, rxS]) await r.close();
  });
});

describe("operations", () => {
  it("another account's endpoint is 404 to every operation; its deliveries too", async () => {
    const rx = await receiver();
    const ep = await t.request("POST", "/v1/webhooks", { token, body: { url: rx.url } });
    const test = await t.request("POST", `/v1/webhooks/${ep.body.id}/test`, { token });
    const other = await (await t.account()).token(["*"]);
    for (const [m, p, body] of [
      ["PATCH", `/v1/webhooks/${ep.body.id}`, { enabled: false }],
      ["DELETE", `/v1/webhooks/${ep.body.id}`, undefined],
      ["POST", `/v1/webhooks/${ep.body.id}/rotate-secret`, undefined],
      ["POST", `/v1/webhooks/${ep.body.id}/test`, undefined],
      ["GET", `/v1/webhooks/${ep.body.id}/deliveries`, undefined],
      ["POST", `/v1/webhook-deliveries/${test.body.id}/redeliver`, undefined],
    ] as const) {
      const res = await t.request(m, p, { token: other, body });
      expect(res.status, `${m} ${p}`).toBe(404);
    }
    expect((await t.request("GET", "/v1/webhooks", { token: other })).body.endpoints).toEqual([]);
    await rx.close();
  });

  it("bad input is a 400 naming the field; a missing scope a 403 naming it; a private target refused by policy", async () => {
    const bad = await t.request("POST", "/v1/webhooks", { token, body: { url: "ftp://example.com/x" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe("url");
    const badEvent = await t.request("POST", "/v1/webhooks", {
      token,
      body: { url: "https://example.com", events: ["nope"] },
    });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body.error.issues[0].path).toMatch(/^events/);
    const readOnly = await owner.token(["webhooks:read"]);
    const denied = await t.request("POST", "/v1/webhooks", { token: readOnly, body: { url: "https://example.com" } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("webhooks:write");

    const strict = await startTestPlatform();
    try {
      const a = await strict.account();
      const tok = await a.token(["*"]);
      for (const url of [
        "http://127.0.0.1:9/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
        "http://localhost/x",
      ]) {
        const res = await strict.request("POST", "/v1/webhooks", { token: tok, body: { url } });
        expect(res.status, url).toBe(403);
        expect(res.body.error.code).toBe("egress_denied");
      }
    } finally {
      await strict.close();
    }
  });

  it("a credential restricted to a project lists (list_webhook_endpoints) and deletes (delete_webhook_endpoint) only that project's endpoints", async () => {
    await project("hooks-c");
    const restricted = await owner.token(["webhooks:read", "webhooks:write"], { projects: ["hooks-c"] });
    const account = await t.request("POST", "/v1/webhooks", {
      token: restricted,
      body: { url: "https://example.com/a" },
    });
    expect(account.status).toBe(400);
    expect(account.body.error.issues[0].path).toBe("project");
    const mine = await t.request("POST", "/v1/webhooks", {
      token: restricted,
      body: { url: "https://example.com/c", project: "hooks-c" },
    });
    expect(mine.status).toBe(201);
    const listed = await t.request("GET", "/v1/webhooks", { token: restricted });
    expect(listed.body.endpoints.map((e: any) => e.project)).toEqual(["hooks-c"]);
    const accountEp = await t.request("POST", "/v1/webhooks", { token, body: { url: "https://example.com/acct" } });
    expect((await t.request("DELETE", `/v1/webhooks/${accountEp.body.id}`, { token: restricted })).status).toBe(404);
    expect((await t.request("DELETE", `/v1/webhooks/${mine.body.id}`, { token: restricted })).status).toBe(200);
  });

  it("list_event_types and the OpenAPI 3.1 document's webhooks name every catalog event; 3.0 leaves them out", async () => {
    const doc = await t.request("GET", "/openapi.json");
    const types = await t.request("GET", "/v1/event-types", { token });
    expect(types.status).toBe(200);
    const listed = types.body.event_types.map((e: { type: string }) => e.type);
    expect(listed).toContain("approval.requested");
    expect(Object.keys(doc.body.webhooks).sort()).toEqual([...listed].sort());
    const schema = doc.body.webhooks["approval.requested"].post.requestBody.content["application/json"].schema;
    expect(JSON.stringify(schema)).toContain("approval_id");
    const v30 = await t.request("GET", "/openapi.json?version=3.0");
    expect(v30.body.webhooks).toBeUndefined();
  });
});
