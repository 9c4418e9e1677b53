// Notifications to people: the in-app list, email at a real SMTP server, Telegram to linked chats, preferences
// per event kind — fed by events raised by the real operations that cause them.
import crypto from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type FakeTelegram, startFakeTelegram } from "../../testkit/fake-telegram.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { CONTACT_FORM } from "../../testkit/sites.ts";
import { type SmtpFixture, startSmtpServer } from "../../testkit/smtp.ts";
import { until } from "../../testkit/webhook-receiver.ts";
import { publishEvent } from "./publish.ts";
import { EventWorkers } from "./worker.ts";

let t: TestPlatform;
let smtp: SmtpFixture;
let tg: FakeTelegram;
let workers: EventWorkers;

beforeAll(async () => {
  smtp = await startSmtpServer();
  tg = await startFakeTelegram();
  t = await startTestPlatform({
    config: {
      mail: { smtpUrl: smtp.url, from: "Bosun <bosun@example.test>" },
      telegram: { botToken: tg.token, apiRoot: tg.url, publicUrl: undefined, webhookSecret: undefined },
      events: { workers: 0, retryBaseMs: 40, maxAttempts: 3, timeoutMs: 2000 },
    },
  });
  workers = new EventWorkers(t.platform, { concurrency: 1, pollMs: 20 }).start();
});
afterAll(async () => {
  await workers?.stop();
  await t?.close();
  await smtp?.close();
  await tg?.close();
});

const notes = async (token: string, query = "") =>
  (await t.request("GET", `/v1/notifications${query}`, { token })).body;

it("a form post, publishes and a rollback reach the site owner's list_notifications; mark_notification_read and mark_all_read stick; another account sees none", async () => {
  const owner = await t.account();
  const token = await owner.token(["*"]);
  const p = "/v1/projects/notify-site";
  await t.request("POST", "/v1/projects", { token, body: { slug: "notify-site", name: "N", kind: "site" } });
  await t.request("PATCH", `${p}/settings`, { token, body: { settings: { forms: [CONTACT_FORM] } } });
  expect((await t.request("POST", `${p}/releases`, { token })).status).toBe(201);
  expect((await t.request("POST", `${p}/releases`, { token })).status).toBe(422); // nothing to publish: no event
  const sub = await t.request("POST", `${p}/forms/contact/submissions`, {
    token,
    body: { data: { name: "<b>Mallory</b>", email: "m@x.test" } },
  });
  expect(sub.status).toBe(201);
  await t.request("PUT", `${p}/files`, { token, body: { path: "index.html", content: "<p>v2</p>" } });
  expect((await t.request("POST", `${p}/releases`, { token })).status).toBe(201);
  expect((await t.request("POST", `${p}/rollback`, { token, body: { release: 1 } })).status).toBe(200);
  const list = await until(async () => {
    const b = await notes(token);
    return b.notifications.length >= 5 && b;
  });
  expect(list.notifications.map((n: any) => n.type).sort()).toEqual([
    "form.submitted",
    "site.published",
    "site.published",
    "site.rolled_back",
    "token.created",
  ]);
  expect(list.notifications.find((n: any) => n.type === "site.rolled_back").title).toBe(
    "notify-site was rolled back to release 1",
  );

  const form = list.notifications.find((n: any) => n.type === "form.submitted");
  expect(form).toMatchObject({ project: "notify-site", read_at: null });
  expect(form.body).toContain("<b>Mallory</b>"); // as text, for the surfaces to escape
  expect(list.unread_count).toBe(5);

  const read = await t.request("POST", `/v1/notifications/${form.id}/read`, { token });
  expect(read.status).toBe(200);
  expect((await notes(token, "?unread=true")).notifications.map((n: any) => n.id)).not.toContain(form.id);
  const page = await notes(token, "?limit=1");
  expect(page.notifications).toHaveLength(1);
  expect((await notes(token, `?limit=5&cursor=${encodeURIComponent(page.next_cursor)}`)).notifications).toHaveLength(4);

  const stranger = await (await t.account()).token(["*"]);
  expect((await t.request("POST", `/v1/notifications/${form.id}/read`, { token: stranger })).status).toBe(404);
  expect((await notes(stranger)).notifications.every((n: any) => n.type === "token.created")).toBe(true);
  expect((await t.request("POST", "/v1/notifications/read-all", { token })).body.marked).toBe(4);
  expect((await notes(token)).unread_count).toBe(0);

  // Bad input and missing scope.
  expect((await t.request("POST", "/v1/notifications/nope/read", { token })).status).toBe(400);
  const noScope = await owner.token(["projects:read"]);
  const denied = await t.request("GET", "/v1/notifications", { token: noScope });
  expect(denied.status).toBe(403);
  expect(denied.body.error.required_scope).toBe("notifications:read");
  // A credential restricted to a project never reads the account's notifications.
  const restricted = await owner.token(["*"], { projects: ["notify-site"] });
  expect((await t.request("GET", "/v1/notifications", { token: restricted })).status).toBe(403);
});

it("email arrives at a real SMTP server by default for what needs a person; preferences (list_notification_preferences, set_notification_preference) turn it off per kind", async () => {
  const owner = await t.account();
  const token = await owner.token(["*"]);
  const event = () =>
    publishEvent(t.platform.db, {
      type: "balance.low",
      account: owner.id,
      data: { pool: "ai", spendable_micros: 100, threshold_micros: 5_000_000 },
    });
  await event();
  const mail = await smtp.next(owner.email, 10_000);
  expect(mail.subject).toBe("Your AI credit is low");
  expect(mail.text).toContain("threshold_micros: 5000000");

  const prefs = await t.request("GET", "/v1/notification-preferences", { token });
  expect(prefs.body.preferences.find((p: any) => p.event_type === "balance.low")).toEqual({
    event_type: "balance.low",
    channels: ["in_app", "email"],
  });
  const set = await t.request("PUT", "/v1/notification-preferences/balance.low", {
    token,
    body: { channels: [] },
  });
  expect(set.status).toBe(200);
  const bad = await t.request("PUT", "/v1/notification-preferences/no.such", {
    token,
    body: { channels: ["email"] },
  });
  expect(bad.status).toBe(400);
  expect(bad.body.error.issues[0].path).toBe("event_type");
  const before = (await notes(token)).notifications.length;
  await event();
  // Another event after it, with email on: once it arrives, the balance.low one has been handled (and sent nothing).
  await publishEvent(t.platform.db, {
    type: "spend_cap.reached",
    account: owner.id,
    data: { pool: "ai", period_spend_micros: 10, hard_cap_micros: 10 },
  });
  expect((await smtp.next(owner.email, 10_000)).subject).toBe("Your monthly spend cap is reached");
  const after = (await notes(token)).notifications;
  expect(after.length).toBe(before + 1);
  expect(after[0].type).toBe("spend_cap.reached");
});

it("Telegram: chats linked to the account get the notifications they chose, as plain text", async () => {
  const owner = await t.account();
  const token = await owner.token(["*"]);
  await t.request("POST", "/v1/projects", { token, body: { slug: "tg-box", name: "box", kind: "instance" } });
  const project = await t.platform.db
    .selectFrom("projects")
    .select(["id", "slug"])
    .where("slug", "=", "tg-box")
    .executeTakeFirstOrThrow();
  const instanceId = crypto.randomUUID();
  await t.platform.db
    .insertInto("instances")
    .values({
      id: instanceId,
      project_id: project.id,
      name: "box",
      host: "203.0.113.5",
      port: 22,
      username: "root",
      private_key_enc: "x",
      public_key: "x",
      key_source: "generated",
      updated_at: new Date(),
    } as never)
    .execute();
  await t.platform.db
    .insertInto("telegram_links")
    .values({
      id: crypto.randomUUID(),
      account_id: owner.id,
      project_id: project.id,
      instance_id: instanceId,
      chat_id: 4242,
      telegram_user_id: 77,
      scopes: ["agent:write"],
      credential_kind: "token",
      credential_id: "x",
    })
    .execute();
  await publishEvent(t.platform.db, {
    type: "approval.requested",
    account: owner.id,
    project,
    data: {
      approval_id: crypto.randomUUID(),
      run_id: crypto.randomUUID(),
      conversation_id: crypto.randomUUID(),
      tool: "run_command",
      summary: "<i>restart nginx</i>",
    },
  });
  const msg = await tg.waitForMessage((m) => m.chat_id === 4242, 10_000);
  expect(msg.text).toContain("Approval needed in tg-box: run_command");
  expect(msg.parse_mode).toBeNull();
  expect(msg.text).toContain("<i>restart nginx</i>");
});
