// Telegram chats linked to a site project (link_site_telegram_chat): a message starts the site editor in ask mode,
// its proposal arrives as a message with Apply / Discard buttons, and a press calls apply_proposal /
// discard_proposal through the invoker as the chat's link — so a conflict with the person's own draft edit, or a
// link without files:write, applies nothing. Real telegraf polling the fake Bot API, the real runner on the fake
// Anthropic server, the real event workers for notifications.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentScheduler } from "../core/agent/scheduler.ts";
import { DEFAULT_SITE_LINK_SCOPES } from "../core/agent/telegram-operations.ts";
import { credit } from "../core/billing/ledger.ts";
import { loadConfig } from "../core/config.ts";
import { EventWorkers } from "../core/events/worker.ts";
import type { ScriptedReply } from "../testkit/fake-anthropic.ts";
import { startFakeRunner } from "../testkit/fake-runner.ts";
import { type FakeTelegram, type SentMessage, startFakeTelegram } from "../testkit/fake-telegram.ts";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { TelegramBridge } from "./bot.ts";

let t: TestPlatform;
let tg: FakeTelegram;
let runner: Awaited<ReturnType<typeof startFakeRunner>>;
let events: EventWorkers;
let bridge: TelegramBridge;
let chatSeq = 8_000_000_000;

beforeAll(async () => {
  tg = await startFakeTelegram();
  t = await startTestPlatform({
    config: {
      agent: { ...loadConfig({}).agent, apiKey: "sk-test", workers: 0 },
      telegram: { botToken: tg.token, apiRoot: tg.url, publicUrl: undefined, webhookSecret: undefined },
      events: { workers: 0, retryBaseMs: 40, maxAttempts: 3, timeoutMs: 2000 },
    },
  });
  runner = await startFakeRunner(t.platform);
  events = new EventWorkers(t.platform, { concurrency: 1, pollMs: 20 }).start();
  bridge = new TelegramBridge(t.platform, { minIntervalMs: 10, editIntervalMs: 60, pollMs: 200 });
  expect(await bridge.start()).toContain("long polling");
}, 60_000);
afterAll(async () => {
  await bridge?.stop();
  await events?.stop();
  await runner?.workers.stop();
  await runner?.fake.close();
  await tg?.close();
  await t?.close();
});

const CODE = /[A-Z2-9]{4}-[A-Z2-9]{4}/;
const buttons = (m: SentMessage) => m.reply_markup?.inline_keyboard?.flat() ?? [];

interface Site {
  project: string;
  token: string;
  chat: number;
  api(method: string, path: string, body?: unknown): ReturnType<TestPlatform["request"]>;
}

let n = 0;
/** A site project with three draft files, its owner's credit, and a private chat linked to it with `scopes`. */
async function linkedSite(scopes?: string[]): Promise<Site> {
  const user = await t.account();
  const token = await user.token(["*"]);
  const project = `tgsite-${++n}-${user.id.slice(0, 6)}`;
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "S", kind: "site" } })).status,
  ).toBe(201);
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 5_000_000, reason: "top_up" });
  const api: Site["api"] = (method, path, body) => t.request(method, `/v1/projects/${project}${path}`, { token, body });
  await api("PUT", "/files", { path: "index.html", content: "<h1>Home</h1>\n<p>Welcome</p>\n" });
  await api("PUT", "/files", { path: "old.html", content: "<h1>Old</h1>\n" });

  const chat = chatSeq++;
  const reply = await say(chat, "/start", (m) => CODE.test(m.text));
  const code = CODE.exec(reply.text)?.[0];
  const res = await api("POST", "/agent/telegram", { code, ...(scopes ? { scopes } : {}) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.link).toMatchObject({ project, instance: null, chat_id: chat });
  const linked = await tg.waitForMessage((m) => m.chat_id === chat && m.text.includes(`Linked to ${project}`));
  expect(linked.text).toContain("site editor");
  return { project, token, chat, api };
}

/** Sends `text` from the chat's person and waits for the next bot message there that satisfies `match`. */
async function say(chat: number, text: string, match: (m: SentMessage) => boolean = () => true) {
  const before = new Set(tg.messagesIn(chat).map((m) => m.message_id));
  tg.sendText({ chat, from: chat, text });
  return tg.waitForMessage((m) => m.chat_id === chat && !before.has(m.message_id) && match(m));
}

/** Asks the site editor in the chat; answers the proposal message (with its buttons) the run ends with. */
async function propose(s: Site, script: ScriptedReply[], message = "Make the welcome warmer") {
  runner.fake.script(script);
  const before = new Set(tg.messagesIn(s.chat).map((m) => m.message_id));
  tg.sendText({ chat: s.chat, from: s.chat, text: message });
  const msg = await tg.waitForMessage(
    (m) => m.chat_id === s.chat && !before.has(m.message_id) && m.text.includes("Proposed changes"),
    15_000,
  );
  await bridge.relay.idle();
  return msg;
}

const press = async (s: Site, m: SentMessage, label: string, from = s.chat) => {
  const button = buttons(m).find((b) => b.text.includes(label));
  expect(button, `no ${label} button in ${JSON.stringify(m.reply_markup)}`).toBeDefined();
  const id = tg.pressButton({ chat: s.chat, from, messageId: m.message_id, data: button?.callback_data ?? "" });
  return (await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === id))).text ?? "";
};

const content = async (s: Site, path: string) => {
  const res = await s.api("GET", `/files/content?path=${encodeURIComponent(path)}`);
  return res.status === 200 ? (res.body as { content: string }).content : null;
};
const proposals = async (s: Site) =>
  (await s.api("GET", "/proposals")).body.proposals as { id: string; status: string }[];

const WARMER: ScriptedReply[] = [
  { toolUse: { name: "edit_file", input: { path: "index.html", old_str: "Welcome", new_str: "Welcome, friend" } } },
  { toolUse: { name: "delete_file", input: { path: "old.html" } } },
  { text: "Proposed a warmer welcome and removed the old page." },
];

describe("a chat linked to a site project", () => {
  it("link_site_telegram_chat (get_site_telegram_links lists it): a message runs the site editor in ask mode; its proposal's Apply button applies it and the message says so", async () => {
    const s = await linkedSite();
    const links = await s.api("GET", "/agent/telegram");
    expect(links.body.links).toHaveLength(1);
    expect(links.body.links[0].scopes).toContain("files:write");

    const msg = await propose(s, WARMER);
    expect(msg.text).toContain("(2 files)");
    expect(msg.text).toContain("• index.html");
    expect(msg.text).toContain("old.html (deleted)");
    expect(buttons(msg).map((b) => b.text)).toEqual(["✅ Apply", "🗑 Discard"]);
    const discardData = buttons(msg)[1]?.callback_data ?? "";
    // The run's account came first, and streamed into its own message.
    expect(tg.messagesIn(s.chat).some((m) => m.text.includes("Proposed a warmer welcome"))).toBe(true);
    // Ask mode: nothing in the draft yet.
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome</p>\n");
    const conv = await t.platform.db
      .selectFrom("telegram_links as l")
      .innerJoin("agent_conversations as c", "c.id", "l.conversation_id")
      .select(["c.kind", "c.mode", "c.instance", "c.credential_kind"])
      .where("l.chat_id", "=", String(s.chat))
      .executeTakeFirstOrThrow();
    expect(conv).toEqual({ kind: "site_editor", mode: "ask", instance: null, credential_kind: "telegram_link" });

    // Another Telegram user's press is refused.
    expect(await press(s, msg, "Apply", s.chat + 1)).toContain("Only the person who linked");
    expect((await proposals(s))[0]?.status).toBe("pending");

    expect(await press(s, msg, "Apply")).toBe("Applied.");
    expect(await content(s, "index.html")).toBe("<h1>Home</h1>\n<p>Welcome, friend</p>\n");
    expect(await content(s, "old.html")).toBeNull();
    await tg.waitFor(() => msg.text.includes("✅ Applied to the draft (2 files).") && buttons(msg).length === 0);
    expect(msg.text).toContain("• index.html"); // the summary stays
    const decided = await t.platform.db
      .selectFrom("audit_events")
      .select(["surface", "outcome"])
      .where("operation", "=", "apply_proposal")
      .orderBy("id", "desc")
      .executeTakeFirstOrThrow();
    expect(decided.surface).toBe("telegram");

    // A late press (a button kept from before) is told it is decided, and applies nothing again.
    const stale = tg.pressButton({ chat: s.chat, from: s.chat, messageId: msg.message_id, data: discardData });
    expect((await tg.waitFor(() => tg.answers.find((a) => a.callback_query_id === stale))).text).toContain(
      "Already applied",
    );
    expect((await proposals(s))[0]?.status).toBe("applied");

    // The same conversation goes on; this time the person discards.
    const next = await propose(
      s,
      [
        { toolUse: { name: "write_file", input: { path: "extra.html", content: "<p>extra</p>" } } },
        { text: "Added a page." },
      ],
      "add an extra page",
    );
    expect(next.text).toContain("(1 file)");
    expect(await press(s, next, "Discard")).toBe("Discarded.");
    await tg.waitFor(() => next.text.includes("Discarded; the draft is unchanged") && buttons(next).length === 0);
    expect(await content(s, "extra.html")).toBeNull();
    expect((await proposals(s)).map((p) => p.status)).toEqual(["discarded", "applied"]);
    const convs = await t.platform.db
      .selectFrom("agent_conversations")
      .select("id")
      .where("credential_kind", "=", "telegram_link")
      .where("project_id", "=", (await projectId(s)).id)
      .execute();
    expect(convs).toHaveLength(1);
  }, 60_000);

  it("a conflict with the person's own draft edit applies nothing, names the file and offers no overwrite", async () => {
    const s = await linkedSite();
    const msg = await propose(s, WARMER);
    // Meanwhile the person edits the draft over REST.
    expect((await s.api("PUT", "/files", { path: "index.html", content: "<p>mine</p>\n" })).status).toBeLessThan(300);
    expect(await press(s, msg, "Apply")).toContain("Not applied");
    await tg.waitFor(() => msg.text.includes("Not applied") && buttons(msg).length === 1);
    expect(msg.text).toContain("index.html");
    expect(msg.text).toContain("apply from the console or API with force");
    expect(buttons(msg).map((b) => b.text)).toEqual(["🗑 Discard"]); // nothing that overwrites
    expect(await content(s, "index.html")).toBe("<p>mine</p>\n");
    expect(await content(s, "old.html")).toBe("<h1>Old</h1>\n"); // all or nothing
    expect((await proposals(s))[0]?.status).toBe("pending");
    // Discarding it stays possible.
    expect(await press(s, msg, "Discard")).toBe("Discarded.");
    expect(await content(s, "index.html")).toBe("<p>mine</p>\n");
  }, 60_000);

  it("a link without files:write is refused the Apply and Discard buttons, and nothing is applied", async () => {
    const s = await linkedSite(["agent:*", "files:read", "pages:read", "pages:write", "settings:read"]);
    const msg = await propose(s, [
      { toolUse: { name: "create_page", input: { slug: "contact", title: "Contact", content: "<p>Call us</p>" } } },
      { text: "Proposed a contact page." },
    ]);
    expect(msg.text).toContain("contact.html");
    for (const label of ["Apply", "Discard"]) {
      const answer = await press(s, msg, label);
      expect(answer).toContain("may not do that");
      expect(answer).toContain("files:write");
    }
    expect(await content(s, "contact.html")).toBeNull();
    expect((await proposals(s))[0]?.status).toBe("pending");
    expect(buttons(msg)).toHaveLength(2); // someone who may can still decide it elsewhere, or here after relinking
  }, 60_000);

  it("/status and /use name the site; a proposal made outside the chat reaches it as a proposal.created notification; unlink_site_telegram_chat makes it a stranger", async () => {
    const s = await linkedSite();
    expect((await say(s.chat, "/status")).text).toContain(`▶ ${s.project} (site)`);
    expect((await say(s.chat, `/use ${s.project}`)).text).toContain(`Now talking to ${s.project}`);

    runner.fake.script([
      { toolUse: { name: "write_file", input: { path: "rest.html", content: "<p>rest</p>" } } },
      { text: "Done." },
    ]);
    const start = await s.api("POST", "/agent/conversations", { project: s.project, message: "add rest.html" });
    expect(start.status, JSON.stringify(start.body)).toBe(201);
    const note = await tg.waitForMessage(
      (m) => m.chat_id === s.chat && m.text.includes(`AI proposal for ${s.project}`),
      15_000,
    );
    expect(note.text).toContain("1 file(s) to review");
    expect(note.parse_mode).toBeNull();

    // Linking the same chat to the same site again replaces the link (one per chat and site).
    const again = CODE.exec((await say(s.chat, "/link", (m) => CODE.test(m.text))).text)?.[0];
    const relinked = await s.api("POST", "/agent/telegram", { code: again, scopes: ["agent:*", "files:read"] });
    expect(relinked.status, JSON.stringify(relinked.body)).toBe(201);
    const links = (await s.api("GET", "/agent/telegram")).body.links;
    expect(links).toHaveLength(1);
    expect(links[0].scopes).toEqual(["agent:*", "files:read"]);

    const un = await s.api("DELETE", `/agent/telegram?chat_id=${s.chat}`);
    expect(un.body).toEqual({ unlinked: 1 });
    expect((await s.api("GET", "/agent/telegram")).body.links).toEqual([]);
    expect((await say(s.chat, "are you there?")).text).toContain("not linked");
  }, 60_000);

  it("a scheduled site run reporting to the site chat streams there and ends with the proposal's buttons", async () => {
    const s = await linkedSite();
    runner.fake.script([
      { toolUse: { name: "write_file", input: { path: "news.html", content: "<p>news</p>" } } },
      { text: "Wrote the news page." },
    ]);
    const res = await s.api("POST", "/agent/schedules", {
      name: `tg-${s.chat}`,
      cron: "0 4 * * *",
      prompt: "Write the news page",
      mode: "ask",
      report_channel: "telegram",
      telegram_chat_id: s.chat,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await t.platform.db
      .updateTable("agent_schedules")
      .set({ enabled: false })
      .where("name", "!=", res.body.name)
      .execute();
    expect((await new AgentScheduler(t.platform).tick(new Date(res.body.next_run_at))).started).toBe(1);
    const msg = await tg.waitForMessage((m) => m.chat_id === s.chat && m.text.includes("Proposed changes"), 15_000);
    expect(msg.text).toContain("news.html");
    expect(await press(s, msg, "Apply")).toBe("Applied.");
    expect(await content(s, "news.html")).toBe("<p>news</p>");
    await bridge.relay.idle();
  }, 60_000);

  it("a scheduled site run allowed to publish asks in the site chat; its Approve button publishes what the run proposed", async () => {
    // Approving a publish needs publish:trigger, which a site link holds only when asked for.
    const s = await linkedSite([...DEFAULT_SITE_LINK_SCOPES, "publish:trigger"]);
    runner.fake.script([
      { toolUse: { name: "write_file", input: { path: "index.html", content: "<p>launch</p>" } } },
      { toolUse: { name: "publish_site", input: {} } },
      { text: "Published the launch page." },
    ]);
    const res = await s.api("POST", "/agent/schedules", {
      name: `pub-${s.chat}`,
      cron: "0 5 * * *",
      prompt: "Launch",
      mode: "ask",
      allow_publish: true,
      report_channel: "telegram",
      telegram_chat_id: s.chat,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await t.platform.db
      .updateTable("agent_schedules")
      .set({ enabled: false })
      .where("name", "!=", res.body.name)
      .execute();
    expect((await new AgentScheduler(t.platform).tick(new Date(res.body.next_run_at))).started).toBe(1);
    const ask = await tg.waitForMessage(
      (m) => m.chat_id === s.chat && m.text.includes("Approve?") && m.text.includes("publish_site"),
      15_000,
    );
    expect(ask.text).toContain(`on ${s.project}`);
    expect(await press(s, ask, "Approve")).toBe("Approved.");
    await tg.waitForMessage((m) => m.chat_id === s.chat && m.text.includes("Applied to the draft"), 15_000);
    expect(await content(s, "index.html")).toBe("<p>launch</p>");
    expect((await s.api("GET", "/releases")).body.releases.length).toBeGreaterThan(0);
    await bridge.relay.idle();
  }, 60_000);

  it("the chat's own proposal is not announced twice: no proposal.created notification to the chat that shows it", async () => {
    const s = await linkedSite();
    await propose(s, WARMER);
    const ev = await t.platform.db
      .selectFrom("events")
      .select("id")
      .where("type", "=", "proposal.created")
      .where("project_id", "=", (await projectId(s)).id)
      .executeTakeFirstOrThrow();
    // The event is fanned out (its in-app notification exists) with no Telegram job for this chat.
    let fanned = false;
    for (let i = 0; i < 200 && !fanned; i++) {
      fanned = !!(await t.platform.db
        .selectFrom("notifications")
        .select("id")
        .where("event_id", "=", ev.id)
        .executeTakeFirst());
      if (!fanned) await new Promise((r) => setTimeout(r, 50));
    }
    expect(fanned).toBe(true);
    const jobs = await t.platform.db
      .selectFrom("jobs")
      .select("key")
      .where("key", "like", `telegram:${ev.id}:%`)
      .execute();
    expect(jobs).toEqual([]);
  }, 60_000);
});

const projectId = (s: Site) =>
  t.platform.db.selectFrom("projects").select("id").where("slug", "=", s.project).executeTakeFirstOrThrow();
