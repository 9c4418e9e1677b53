// The Telegram bridge end to end: real telegraf long-polling a fake Bot API over HTTP on 127.0.0.1, the real
// runner on a fake Anthropic server, and the real test sshd. A chat pairs with a code, asks for a diagnosis,
// sees the reply stream in by edits, approves a destructive command with a button (it runs on the server),
// denies another (it does not run); strangers, bad codes and other people's presses get an explanation only.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAnthropicProvider } from "../agent-runner/providers/anthropic.ts";
import { RunWorkers } from "../agent-runner/worker.ts";
import { AgentScheduler } from "../core/agent/scheduler.ts";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import { type FakeModelServer, startFakeAnthropic } from "../testkit/fake-anthropic.ts";
import { type FakeTelegram, type SentMessage, startFakeTelegram } from "../testkit/fake-telegram.ts";
import { type InstanceWorld, startInstanceWorld } from "../testkit/instances.ts";
import { TelegramBridge } from "./bot.ts";
import { callbackData } from "./relay.ts";

let w: InstanceWorld;
let tg: FakeTelegram;
let model: FakeModelServer;
let workers: RunWorkers;
let bridge: TelegramBridge;
let token: string;
let ownerToken: string;
let chatSeq = 7_000_000_000;

beforeAll(async () => {
  tg = await startFakeTelegram();
  w = await startInstanceWorld({
    project: "ops",
    instance: "web",
    config: {
      agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 },
      telegram: { botToken: tg.token, apiRoot: tg.url, publicUrl: undefined, webhookSecret: undefined },
    },
  });
  await credit(w.t.platform.db, { accountId: w.user.id, pool: "ai_credits", amount: 5_000_000, reason: "top_up" });
  token = await w.user.token(["agent:*", "instances:*", "billing:read"]);
  ownerToken = await w.user.token(["*"]);
  const second = await w.t.request("POST", "/v1/projects/ops/instances", {
    token: w.token,
    body: {
      name: "db",
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
      private_key: w.sshd.privateKey,
    },
  });
  expect(second.status).toBe(201);
  model = await startFakeAnthropic();
  workers = new RunWorkers(
    {
      platform: w.t.platform,
      provider: createAnthropicProvider({ apiKey: "sk-test", baseURL: model.baseURL, maxRetries: 0 }),
      bridges: [],
      log: pino({ level: "silent" }),
    },
    { concurrency: 1, pollMs: 30 },
  ).start();
  bridge = new TelegramBridge(w.t.platform, { minIntervalMs: 10, editIntervalMs: 60, pollMs: 200 });
  expect(await bridge.start()).toContain("long polling");
}, 60_000);
afterAll(async () => {
  await bridge?.stop();
  await workers?.stop();
  await model?.close();
  await tg?.close();
  await w?.close();
});

const newChat = () => {
  const chat = chatSeq++;
  return { chat, user: chat }; // in a private chat, the chat id is the user's id
};
const CODE = /[A-Z2-9]{4}-[A-Z2-9]{4}/;

/** Sends `text` and waits for the next message the bot sends in that chat that satisfies `match`. */
async function say(
  chat: number,
  from: number,
  text: string,
  match: (m: SentMessage) => boolean = () => true,
): Promise<SentMessage> {
  const before = new Set(tg.messagesIn(chat).map((m) => m.message_id));
  tg.sendText({ chat, from, text });
  return tg.waitForMessage((m) => m.chat_id === chat && !before.has(m.message_id) && match(m));
}

async function pair(
  chat: number,
  user: number,
  instance = "web",
  scopes = ["agent:*", "instances:*", "billing:read"],
): Promise<{ linkId: string; memberId: string; token: string }> {
  // A fresh member per pairing: code entries are limited per account (10 a minute), and this file pairs often.
  const member = await w.t.account();
  await w.t.addMember("ops", ownerToken, member, "developer");
  const token = await member.token(scopes);
  const links = (
    await w.t.platform.db.selectFrom("telegram_links").select("id").where("chat_id", "=", String(chat)).execute()
  ).length;
  const reply = await say(chat, user, links ? "/link" : "/start", (m) => CODE.test(m.text));
  const code = CODE.exec(reply.text)![0];
  const res = await w.t.request("POST", `/v1/projects/ops/instances/${instance}/agent/telegram`, {
    token,
    body: { code },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes(`Linked to ${instance}`));
  return { linkId: res.body.link.id, memberId: member.id, token };
}

const runStatus = async (runId: string) =>
  (await w.t.platform.db.selectFrom("agent_runs").select("status").where("id", "=", runId).executeTakeFirstOrThrow())
    .status;
const latestRun = async (chat: number) => {
  const row = await w.t.platform.db
    .selectFrom("telegram_links as l")
    .innerJoin("agent_runs as r", "r.conversation_id", "l.conversation_id")
    .select(["r.id", "r.status"])
    .where("l.chat_id", "=", String(chat))
    .orderBy("r.created_at", "desc")
    .executeTakeFirst();
  return row;
};
const buttons = (m: SentMessage) => m.reply_markup?.inline_keyboard?.flat() ?? [];
const approvalMessage = (chat: number, command: string) =>
  tg.waitForMessage(
    (m) => m.chat_id === chat && m.text.includes("Approve?") && m.text.includes(command) && buttons(m).length === 2,
  );

describe("pairing", () => {
  it("answers a stranger with an explanation only, and nothing they send reaches an agent", async () => {
    const { chat, user } = newChat();
    const requestsBefore = model.requests.length;
    const convsBefore = (await w.t.platform.db.selectFrom("agent_conversations").select("id").execute()).length;
    const reply = await say(chat, user, "disk is full on web-1, clean it up");
    expect(reply.text).toContain("not linked");
    expect(buttons(reply)).toEqual([]);
    tg.sendText({ chat: chat + 1_000_000, from: user, text: "/start", chatType: "group" });
    const group = await tg.waitForMessage((m) => m.chat_id === chat + 1_000_000);
    expect(group.text).toContain("private chats");
    expect(CODE.test(group.text)).toBe(false);
    expect(model.requests.length).toBe(requestsBefore);
    expect((await w.t.platform.db.selectFrom("agent_conversations").select("id").execute()).length).toBe(convsBefore);
  });

  it("an expired or reused code links nothing; the chat stays unlinked and is told so", async () => {
    const { chat, user } = newChat();
    const first = CODE.exec((await say(chat, user, "/start", (m) => CODE.test(m.text))).text)![0];
    await w.t.platform.db
      .updateTable("telegram_pairing_codes")
      .set({ expires_at: new Date(Date.now() - 1) })
      .where("chat_id", "=", String(chat))
      .execute();
    const expired = await w.t.request("POST", "/v1/projects/ops/instances/web/agent/telegram", {
      token,
      body: { code: first },
    });
    expect(expired.status).toBe(400);
    expect(expired.body.error.message).toContain("expired");

    await pair(chat, user);
    const other = newChat();
    const reused = CODE.exec((await say(other.chat, other.user, "/start", (m) => CODE.test(m.text))).text)![0];
    expect(
      (await w.t.request("POST", "/v1/projects/ops/instances/web/agent/telegram", { token, body: { code: reused } }))
        .status,
    ).toBe(201);
    const again = await w.t.request("POST", "/v1/projects/ops/instances/db/agent/telegram", {
      token,
      body: { code: reused },
    });
    expect(again.status).toBe(400);
    const links = await w.t.platform.db
      .selectFrom("telegram_links as l")
      .innerJoin("instances as i", "i.id", "l.instance_id")
      .select("i.name")
      .where("l.chat_id", "=", String(other.chat))
      .execute();
    expect(links.map((l) => l.name)).toEqual(["web"]);
  });
});

describe("chatting with the instance's agent", () => {
  it("streams a diagnosis, runs an approved destructive command on the server and not a denied one", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    w.sshd.writeFile("logs/old/huge.log", "x".repeat(10_000));
    w.sshd.writeFile("keep/data", "precious\n");
    model.script([
      {
        text: "Let me see what uses the space.",
        toolUse: { name: "run_command", input: { command: "du -sh ~/logs/old" } },
      },
      (req) => {
        expect(req.rawBody).toContain("logs/old"); // the model saw the command's real output
        return {
          text: "Old logs take the space. I will delete them.",
          toolUse: { name: "run_command", input: { command: "rm -rf ~/logs/old" } },
        };
      },
      { text: "Deleted `~/logs/old`; the disk has room again." },
    ]);
    tg.sendText({ chat, from: user, text: "disk is full on web-1, clean it up" });

    const ask = await approvalMessage(chat, "rm -rf ~/logs/old");
    expect(ask.text).toContain("$ rm -rf ~/logs/old");
    expect(fs.existsSync(path.join(w.sshd.home, "logs/old/huge.log"))).toBe(true); // nothing before approval
    const stream = tg.messagesIn(chat).find((m) => m.text.includes("$ du -sh ~/logs/old"))!;
    expect(stream.text).toContain("$ du -sh ~/logs/old → exit 0");
    expect(stream.text).toContain("Old logs take the space.");
    expect(stream.history.length).toBeGreaterThan(1); // streamed: one message, edited as the run went
    await tg.waitFor(() => stream.text.endsWith("⏸ waiting for your approval"));

    // Someone else's press is refused with an explanation and changes nothing.
    const [approve] = buttons(ask);
    const strangerPress = tg.pressButton({
      chat,
      from: user + 1,
      messageId: ask.message_id,
      data: approve!.callback_data!,
    });
    const refused = await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === strangerPress));
    expect(refused.text).toContain("Only the person who linked");
    expect((await latestRun(chat))!.status).toBe("awaiting_approval");

    const press = tg.pressButton({ chat, from: user, messageId: ask.message_id, data: approve!.callback_data! });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press))).text).toBe("Approved.");
    await tg.waitFor(() => stream.text.includes("the disk has room again") && !stream.text.includes("working"));
    expect(fs.existsSync(path.join(w.sshd.home, "logs/old"))).toBe(false);
    expect(stream.text).toContain("$ rm -rf ~/logs/old → exit 0");
    expect(stream.raw).toContain("<code>~/logs/old</code>"); // Markdown rendered as Telegram HTML
    await tg.waitFor(() => ask.text.includes("✅ Approved") && buttons(ask).length === 0);
    // The press counted once: a second one is told it is decided.
    const late = tg.pressButton({ chat, from: user, messageId: ask.message_id, data: approve!.callback_data! });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === late))).text).toContain(
      "Already approved",
    );
    const decided = await w.t.platform.db
      .selectFrom("agent_approvals")
      .select(["status", "decided_via"])
      .where("tool", "=", "run_command")
      .orderBy("created_at", "desc")
      .executeTakeFirstOrThrow();
    expect(decided).toEqual({ status: "approved", decided_via: "telegram" });
    await bridge.relay.idle();

    // The same conversation goes on; this time the person says no.
    model.script([
      (req) => {
        expect(req.rawBody).toContain("Deleted"); // the earlier turn is in the transcript
        return { toolUse: { name: "run_command", input: { command: "rm -rf ~/keep" } } };
      },
      { text: "Understood, I left ~/keep alone." },
    ]);
    tg.sendText({ chat, from: user, text: "also remove ~/keep" });
    const ask2 = await approvalMessage(chat, "rm -rf ~/keep");
    const deny = buttons(ask2)[1]!;
    expect(deny.text).toContain("Deny");
    const press2 = tg.pressButton({ chat, from: user, messageId: ask2.message_id, data: deny.callback_data! });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press2))).text).toBe("Denied.");
    await tg.waitForMessage(
      (m) => m.chat_id === chat && m.text.includes("I left ~/keep alone") && !m.text.includes("working"),
    );
    expect(fs.readFileSync(path.join(w.sshd.home, "keep/data"), "utf8")).toBe("precious\n");
    await tg.waitFor(() => ask2.text.includes("❌ Denied"));
    const convs = await w.t.platform.db
      .selectFrom("telegram_links")
      .innerJoin("agent_conversations as c", "c.id", "telegram_links.conversation_id")
      .select(["c.credential_kind"])
      .where("chat_id", "=", String(chat))
      .execute();
    expect(convs).toEqual([{ credential_kind: "telegram_link" }]);
    await bridge.relay.idle();
  }, 60_000);

  it("a scheduled run in ask mode streams into the chat its schedule names, and the chat's button approves it", async () => {
    const { chat, user } = newChat();
    const { token: memberToken } = await pair(chat, user);
    model.script([
      { text: "Marking.", toolUse: { name: "run_command", input: { command: "touch ~/scheduled-mark" } } },
      { text: "Marked the server." },
    ]);
    const res = await w.t.request("POST", "/v1/projects/ops/agent/schedules", {
      token: memberToken,
      body: {
        name: `tg-${chat}`,
        cron: "0 4 * * *",
        prompt: "Mark the server",
        instance: "web",
        mode: "ask",
        report_channel: "telegram",
        telegram_chat_id: chat,
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await new AgentScheduler(w.t.platform).tick(new Date(res.body.next_run_at))).started).toBe(1);

    const ask = await approvalMessage(chat, "touch ~/scheduled-mark");
    expect(fs.existsSync(path.join(w.sshd.home, "scheduled-mark"))).toBe(false); // nothing before approval
    const press = tg.pressButton({
      chat,
      from: user,
      messageId: ask.message_id,
      data: buttons(ask)[0]!.callback_data!,
    });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press))).text).toBe("Approved.");
    await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes("Marked the server."));
    expect(fs.existsSync(path.join(w.sshd.home, "scheduled-mark"))).toBe(true);
  });

  it("a scheduled due time that starts no run is told in the chat, with why", async () => {
    const { chat, user } = newChat();
    const { memberId } = await pair(chat, user);
    // Only this schedule comes due at the clock below.
    await w.t.platform.db.updateTable("agent_schedules").set({ enabled: false }).execute();
    await w.t.platform.db
      .insertInto("agent_schedules")
      .values({
        id: crypto.randomUUID(),
        project_id: (
          await w.t.platform.db.selectFrom("projects").select("id").where("slug", "=", "ops").executeTakeFirstOrThrow()
        ).id,
        account_id: memberId,
        name: `gone-${chat}`,
        cron: "0 4 * * *",
        timezone: "UTC",
        instance: "web",
        prompt: "check",
        mode: "read_only",
        report_channel: "telegram",
        report_telegram_link_id: (
          await w.t.platform.db
            .selectFrom("telegram_links")
            .select("id")
            .where("chat_id", "=", String(chat))
            .executeTakeFirstOrThrow()
        ).id,
        credential_kind: "token",
        credential_id: crypto.randomUUID(), // a token that does not exist (revoked and gone)
        scopes: ["instances:read"],
        next_run_at: new Date("2030-01-01T04:00:00Z"),
      })
      .execute();
    await new AgentScheduler(w.t.platform).tick(new Date("2030-01-01T04:00:00Z"));
    const note = await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes(`Scheduled run gone-${chat}`));
    expect(note.text).toContain("did not start");
    expect(note.text).toContain("credential no longer holds");
  });

  it("a 10,000-character reply arrives as three messages under 4096 characters, none cut mid-line", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    const lines = Array.from(
      { length: 126 },
      (_, i) => `${String(i).padStart(3, "0")} ${"word ".repeat(15).trim()}`,
    ).map((l) => l.padEnd(79, "."));
    const reply = lines.join("\n");
    expect(reply.length).toBeGreaterThanOrEqual(10_000);
    model.script([{ text: reply }]);
    const before = tg.messagesIn(chat).length;
    tg.sendText({ chat, from: user, text: "print a long report" });
    await tg.waitFor(() =>
      tg
        .messagesIn(chat)
        .slice(before)
        .some((m) => m.text.endsWith(lines.at(-1)!)),
    );
    await bridge.relay.idle();
    const parts = tg.messagesIn(chat).slice(before);
    expect(parts).toHaveLength(3);
    for (const p of parts) {
      expect(p.text.length).toBeLessThan(4096);
      for (const l of p.text.split("\n")) expect(lines).toContain(l);
    }
    expect(parts.map((p) => p.text).join("\n")).toBe(reply);
  }, 30_000);

  it("waits out a 429 for its retry_after, and falls back to plain text when the markup is refused", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    model.script([
      { text: "Looking.", toolUse: { name: "run_command", input: { command: "uptime" } } },
      { text: "**All fine**: load is low." },
    ]);
    tg.throttleNext("editMessageText", 1);
    tg.sendText({ chat, from: user, text: "how is the load?" });
    const final = await tg.waitForMessage(
      (m) => m.chat_id === chat && m.text.includes("All fine") && !m.text.includes("working"),
      15_000,
    );
    expect(final.raw).toContain("<b>All fine</b>");
    expect(tg.throttled.editMessageText).toBe(1);
    const i = tg.calls.findIndex((c) => c.method === "editMessageText" && c.status === 429);
    const next = tg.calls.slice(i + 1).find((c) => c.method === "editMessageText")!;
    expect(next.at - tg.calls[i]!.at).toBeGreaterThanOrEqual(990);
    await bridge.relay.idle();

    model.script([{ text: "**Plain** now." }]);
    tg.rejectMarkupNext(1);
    const plain = await say(chat, user, "and now?", (m) => m.text.includes("Plain"));
    await tg.waitFor(() => plain.text.includes("now.") && !plain.text.includes("working"));
    expect(plain.parse_mode).toBeNull();
    expect(plain.text).toBe("**Plain** now."); // the source text, readable as is
    await bridge.relay.idle();
  }, 30_000);
});

describe("metering", () => {
  it("says so in the chat when the project owner's credit cannot pay for the run, or there is none at all", async () => {
    const poor = await w.t.account();
    const all = await poor.token(["*"]);
    expect(
      (
        await w.t.request("POST", "/v1/projects", {
          token: all,
          body: { slug: "poor-ops", name: "Poor", kind: "instance" },
        })
      ).status,
    ).toBe(201);
    const reg = await w.t.request("POST", "/v1/projects/poor-ops/instances", {
      token: all,
      body: {
        name: "box",
        host: w.sshd.host,
        port: w.sshd.port,
        username: w.sshd.username,
        private_key: w.sshd.privateKey,
      },
    });
    expect(reg.status).toBe(201);
    const { chat, user } = newChat();
    const code = CODE.exec((await say(chat, user, "/start", (m) => CODE.test(m.text))).text)![0];
    expect(
      (await w.t.request("POST", "/v1/projects/poor-ops/instances/box/agent/telegram", { token: all, body: { code } }))
        .status,
    ).toBe(201);
    await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes("Linked to box"));
    const modelCalls = model.requests.length;

    // No credit at all: no run is started.
    expect((await say(chat, user, "check the disk")).text).toMatch(/No AI credit left/);
    // One micro-dollar: the run starts, and its first model call cannot be held.
    await credit(w.t.platform.db, { accountId: poor.id, pool: "ai_credits", amount: 1, reason: "top_up" });
    const stopped = await say(chat, user, "check the disk", (m) => m.text.includes("Stopped"));
    await tg.waitFor(() => !stopped.text.includes("working"));
    expect(stopped.text).toMatch(/⚠️ Stopped: .*credit/i);
    expect(model.requests.length).toBe(modelCalls);
    await bridge.relay.idle();
  }, 30_000);
});

describe("commands", () => {
  it("/link, /use, /status, /new, /credits and /stop work on the chat's instances", async () => {
    const { chat, user } = newChat();
    const { memberId } = await pair(chat, user, "web"); // /credits below runs as this link's person
    await pair(chat, user, "db"); // the newest link is selected
    await credit(w.t.platform.db, { accountId: memberId, pool: "ai_credits", amount: 2_500_000, reason: "top_up" });
    expect((await say(chat, user, "/status")).text).toMatch(
      /▶ db \(ops\)[\s\S]*• web \(ops\)|• web \(ops\)[\s\S]*▶ db \(ops\)/,
    );
    expect((await say(chat, user, "/use nope")).text).toContain("No linked instance");
    expect((await say(chat, user, "/use web")).text).toContain("Now talking to web");
    expect((await say(chat, user, "/credits")).text).toBe("Your AI credit: $2.50");

    // A run parked on an approval, then /stop: cancelled, its approval no longer offered.
    model.script([{ toolUse: { name: "run_command", input: { command: "rm -rf ~/tmpdir" } } }]);
    tg.sendText({ chat, from: user, text: "clean tmp" });
    const ask = await approvalMessage(chat, "rm -rf ~/tmpdir");
    const run = (await latestRun(chat))!;
    const conv = await w.t.platform.db
      .selectFrom("agent_conversations")
      .select(["instance"])
      .innerJoin("agent_runs as r", "r.conversation_id", "agent_conversations.id")
      .where("r.id", "=", run.id)
      .executeTakeFirstOrThrow();
    expect(conv.instance).toBe("web");
    expect((await say(chat, user, "and another thing")).text).toContain("still working"); // one run at a time
    expect((await say(chat, user, "/stop")).text).toContain("Stopping");
    expect(await runStatus(run.id)).toBe("cancelled");
    await tg.waitFor(() => ask.text.includes("No longer needed") && buttons(ask).length === 0);
    await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes("⏹ Cancelled."));
    await bridge.relay.idle();

    expect((await say(chat, user, "/new")).text).toContain("New conversation");
    model.script([{ text: "Fresh start." }]);
    tg.sendText({ chat, from: user, text: "hello" });
    await tg.waitForMessage(
      (m) => m.chat_id === chat && m.text.includes("Fresh start.") && !m.text.includes("working"),
    );
    const convs = await w.t.platform.db
      .selectFrom("agent_conversations")
      .select("id")
      .where("credential_kind", "=", "telegram_link")
      .where("instance", "=", "web")
      .where(
        "credential_id",
        "in",
        (
          await w.t.platform.db.selectFrom("telegram_links").select("id").where("chat_id", "=", String(chat)).execute()
        ).map((l) => l.id),
      )
      .execute();
    expect(convs).toHaveLength(2);
    await bridge.relay.idle();
  }, 60_000);

  it("an approval decided over REST first shows as decided in the chat, and the button then says so", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    w.sshd.writeFile("rest-decides/file", "x");
    model.script([
      { toolUse: { name: "run_command", input: { command: "rm -rf ~/rest-decides" } } },
      { text: "Removed." },
    ]);
    tg.sendText({ chat, from: user, text: "remove rest-decides" });
    const ask = await approvalMessage(chat, "rm -rf ~/rest-decides");
    const denyData = buttons(ask)[1]!.callback_data!; // pressed only after REST decided
    const pending = await w.t.request("GET", "/v1/projects/ops/agent/approvals", { token });
    const approval = pending.body.approvals.find(
      (a: { input: { command: string } }) => a.input.command === "rm -rf ~/rest-decides",
    );
    expect(
      (await w.t.request("POST", `/v1/projects/ops/agent/approvals/${approval.id}/approve`, { token, body: {} }))
        .status,
    ).toBe(200);
    await tg.waitFor(() => ask.text.includes("✅ Approved (via rest)") && buttons(ask).length === 0);
    const press = tg.pressButton({ chat, from: user, messageId: ask.message_id, data: denyData });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press))).text).toContain(
      "Already approved",
    );
    const forged = tg.pressButton({
      chat,
      from: user,
      messageId: ask.message_id,
      data: `d:${approval.id}:${"x".repeat(11)}`,
    });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === forged))).text).toContain(
      "not valid",
    );
    await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes("Removed.") && !m.text.includes("working"));
    expect(fs.existsSync(path.join(w.sshd.home, "rest-decides"))).toBe(false);
    await bridge.relay.idle();
  }, 30_000);

  it("after a restart, a run parked on an approval is relayed again once it is decided", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    w.sshd.writeFile("restart-dir/file", "x");
    model.script([
      { toolUse: { name: "run_command", input: { command: "rm -rf ~/restart-dir" } } },
      { text: "Removed it after the restart." },
    ]);
    tg.sendText({ chat, from: user, text: "remove restart-dir" });
    const ask = await approvalMessage(chat, "rm -rf ~/restart-dir");
    await bridge.stop();
    bridge = new TelegramBridge(w.t.platform, { minIntervalMs: 10, editIntervalMs: 60, pollMs: 200 });
    await bridge.start();
    // The buttons sent before the restart still work: they name the approval, not a process.
    const press = tg.pressButton({
      chat,
      from: user,
      messageId: ask.message_id,
      data: buttons(ask)[0]!.callback_data!,
    });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press))).text).toBe("Approved.");
    const after = await tg.waitForMessage(
      (m) => m.chat_id === chat && m.text.includes("Removed it after the restart.") && !m.text.includes("working"),
    );
    expect(after.text).toContain("$ rm -rf ~/restart-dir → exit 0");
    expect(fs.existsSync(path.join(w.sshd.home, "restart-dir"))).toBe(false);
    await bridge.relay.idle();
  }, 30_000);

  it("unlinking stops a run started from the chat, and the chat is a stranger again", async () => {
    const { chat, user } = newChat();
    await pair(chat, user);
    model.script([{ toolUse: { name: "run_command", input: { command: "rm -rf ~/never" } } }]);
    tg.sendText({ chat, from: user, text: "remove never" });
    await approvalMessage(chat, "rm -rf ~/never");
    const run = (await latestRun(chat))!;
    const un = await w.t.request("DELETE", `/v1/projects/ops/instances/web/agent/telegram?chat_id=${chat}`, { token });
    expect(un.body).toEqual({ unlinked: 1 });
    expect(await runStatus(run.id)).toBe("cancelled");
    await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes("⏹ Cancelled."));
    expect((await say(chat, user, "are you there?")).text).toContain("not linked");
    await bridge.relay.idle();
  }, 30_000);

  it("a chat whose link lacks instances:exec can neither approve nor deny a command, even with a valid button", async () => {
    const { chat, user } = newChat();
    await pair(chat, user, "web", ["agent:*", "instances:read", "instances:files"]);
    w.sshd.writeFile("tg-scope/file", "x");
    model.script([{ toolUse: { name: "run_command", input: { command: "rm -rf ~/tg-scope" } } }, { text: "Removed." }]);
    // A run on the same instance, started over REST by someone who may run commands.
    const start = await w.t.request("POST", "/v1/projects/ops/agent/conversations", {
      token,
      body: { project: "ops", instance: "web", message: "remove tg-scope" },
    });
    expect(start.status).toBe(201);
    let approvalId: string | undefined;
    for (let i = 0; i < 200 && !approvalId; i++) {
      approvalId = (
        await w.t.platform.db
          .selectFrom("agent_approvals")
          .select("id")
          .where("run_id", "=", start.body.run_id)
          .executeTakeFirst()
      )?.id;
      if (!approvalId) await new Promise((r) => setTimeout(r, 50));
    }
    expect(approvalId).toBeDefined();
    const anyMessage = tg.messagesIn(chat).at(-1)!;
    for (const action of ["a", "d"] as const) {
      const press = tg.pressButton({
        chat,
        from: user,
        messageId: anyMessage.message_id,
        data: callbackData(bridge.relay.key, action, chat, approvalId!),
      });
      const answer = await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === press));
      expect(answer.text).toContain("instances:exec");
    }
    const row = await w.t.platform.db
      .selectFrom("agent_approvals")
      .select(["status"])
      .where("id", "=", approvalId!)
      .executeTakeFirstOrThrow();
    expect(row.status).toBe("pending");
    expect(fs.existsSync(path.join(w.sshd.home, "tg-scope/file"))).toBe(true);
    await w.t.request("POST", `/v1/projects/ops/agent/conversations/${start.body.conversation.id}/cancel`, {
      token,
      body: {},
    });
  }, 30_000);
});
