// Webhook mode (BOSUN_PUBLIC_URL set): the bridge registers {public URL}/telegram/webhook with a secret token,
// the fake Bot API POSTs updates to the real HTTP app, calls without the secret are refused, and neither the bot
// token nor the webhook secret nor a pairing code shows up in the logs or the audit trail.

import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { type ServerType, serve } from "@hono/node-server";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../http/app.ts";
import { type FakeTelegram, startFakeTelegram } from "../testkit/fake-telegram.ts";
import { type InstanceWorld, startInstanceWorld } from "../testkit/instances.ts";
import { TelegramBridge, WEBHOOK_PATH } from "./bot.ts";

let w: InstanceWorld;
let tg: FakeTelegram;
let bridge: TelegramBridge;
let server: ServerType;
let base: string;
const logLines: string[] = [];

beforeAll(async () => {
  tg = await startFakeTelegram({ token: "424242:SECRET-bot-token-value" });
  w = await startInstanceWorld({
    project: "hook",
    instance: "web",
    config: {
      telegram: { botToken: tg.token, apiRoot: tg.url, publicUrl: "http://placeholder", webhookSecret: undefined },
    },
  });
  const log = pino(
    { level: "debug" },
    new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }),
  );
  bridge = new TelegramBridge(w.t.platform, { minIntervalMs: 10, editIntervalMs: 50, log });
  const app = createApp(w.t.platform, {
    telegramWebhook: {
      path: WEBHOOK_PATH,
      checkSecret: (h) => bridge.checkSecret(h),
      handleUpdate: (u) => bridge.handleUpdate(u),
    },
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  w.t.platform.config.telegram.publicUrl = base;
  expect(await bridge.start()).toContain("webhook");
}, 60_000);
afterAll(async () => {
  await bridge?.stop();
  server?.close();
  await tg?.close();
  await w?.close();
});

describe("webhook mode", () => {
  it("registers the webhook with a secret derived from the master key, and never long-polls", () => {
    expect(tg.webhook).toEqual({ url: `${base}/telegram/webhook`, secret_token: bridge.webhookSecret });
    expect(bridge.webhookSecret).toMatch(/^[A-Za-z0-9_-]{32,256}$/);
    expect(bridge.webhookSecret).not.toContain(tg.token);
    expect(tg.calls.map((c) => c.method)).not.toContain("getUpdates");
  });

  it("refuses calls without the secret; takes Telegram's, pairs and links over them", async () => {
    const update = {
      update_id: 1,
      message: {
        message_id: 1,
        date: 0,
        chat: { id: 31337, type: "private", first_name: "M" },
        from: { id: 31337, is_bot: false, first_name: "M" },
        text: "/start",
      },
    };
    for (const headers of [{}, { "x-telegram-bot-api-secret-token": "wrong" }] as Record<string, string>[]) {
      const res = await fetch(`${base}/telegram/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(update),
      });
      expect(res.status).toBe(401);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(tg.messagesIn(31337)).toEqual([]); // nothing was handled

    tg.sendText({ chat: 4242, from: 4242, text: "/start" }); // delivered by POST to the webhook, with the secret
    const reply = await tg.waitForMessage((m) => m.chat_id === 4242 && /[A-Z2-9]{4}-[A-Z2-9]{4}/.test(m.text));
    const code = /[A-Z2-9]{4}-[A-Z2-9]{4}/.exec(reply.text)![0];
    const token = await w.user.token(["agent:*", "instances:*"]);
    const linked = await w.t.request("POST", "/v1/projects/hook/instances/web/agent/telegram", {
      token,
      body: { code },
    });
    expect(linked.status).toBe(201);
    await tg.waitForMessage((m) => m.chat_id === 4242 && m.text.includes("Linked to web"));

    // A failure on the way out is logged, without the token.
    tg.throttleNext("sendMessage", 3600, 1);
    tg.sendText({ chat: 4242, from: 4242, text: "/status" });
    await tg.waitFor(() => logLines.some((l) => l.includes("telegram update failed")));

    await w.t.platform.audit.flush();
    const audit = JSON.stringify(await w.t.platform.db.selectFrom("audit_events").selectAll().execute());
    expect(audit).toContain("link_telegram_chat");
    const everything = logLines.join("") + audit;
    for (const secret of [tg.token, tg.token.split(":")[1]!, bridge.webhookSecret, code, code.replace("-", "")])
      expect(everything).not.toContain(secret);
  });
});
