// Telegram links as data and operations, without a bot: pairing codes (hashed, single-use, expiring,
// rate-limited, private chats only), link_telegram_chat / get_telegram_link / unlink_telegram_chat, and the
// telegram_link credential check the invoker runs on every call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { dbSnapshot } from "../../testkit/operation-inputs.ts";
import { invoke } from "../kernel/invoker.ts";
import { linkPrincipal } from "./telegram-links.ts";
import { issuePairingCode, normalizeCode } from "./telegram-pairing.ts";

let w: InstanceWorld;
let chatSeq = 5_000_000_000; // Telegram chat ids exceed 32 bits
beforeAll(async () => {
  w = await startInstanceWorld({ project: "tg-ops", instance: "web" });
});
afterAll(() => w?.close());

const newChat = () => {
  const id = chatSeq++;
  return { chatId: id, chatType: "private", userId: id + 1, username: "alice" };
};
const path = "/v1/projects/tg-ops/instances/web/agent/telegram";
const link = (token: string, body: Record<string, unknown>) => w.t.request("POST", path, { token, body });

describe("pairing codes", () => {
  it("stores only a keyed hash, replaces a chat's earlier code, and refuses group chats", async () => {
    const chat = newChat();
    const first = await issuePairingCode(w.t.platform, chat);
    expect(first.code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    expect(first.expiresAt.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    const second = await issuePairingCode(w.t.platform, chat);
    const dump = JSON.stringify(await dbSnapshot(w.t.platform.db));
    for (const code of [first.code, second.code]) {
      expect(dump).not.toContain(code);
      expect(dump).not.toContain(normalizeCode(code));
    }
    const rows = await w.t.platform.db
      .selectFrom("telegram_pairing_codes")
      .selectAll()
      .where("chat_id", "=", String(chat.chatId))
      .execute();
    expect(rows).toHaveLength(1); // the first code is gone
    const token = await w.user.token(["agent:*", "instances:*", "billing:read"]);
    expect((await link(token, { code: first.code })).status).toBe(400);
    expect((await link(token, { code: second.code })).status).toBe(201);

    await expect(issuePairingCode(w.t.platform, { ...newChat(), chatType: "group" })).rejects.toMatchObject({
      code: "forbidden",
    });
  });

  it("gives a chat at most three codes a minute", async () => {
    const chat = newChat();
    for (let i = 0; i < 3; i++) await issuePairingCode(w.t.platform, chat);
    await expect(issuePairingCode(w.t.platform, chat)).rejects.toMatchObject({ code: "rate_limited" });
  });
});

describe("link_telegram_chat", () => {
  it("links a chat with the default scopes the token holds; a code works once and answers the same for used, expired and unknown", async () => {
    const chat = newChat();
    const { code } = await issuePairingCode(w.t.platform, chat);
    const token = await w.user.token(["agent:*", "instances:read", "instances:files"]);
    const res = await link(token, { code: code.toLowerCase() }); // typed from a phone: case does not matter
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.link).toMatchObject({
      project: "tg-ops",
      instance: "web",
      chat_id: chat.chatId,
      telegram_user: { id: chat.userId, username: "alice" },
      scopes: ["agent:read", "agent:write", "instances:read", "instances:files"], // no exec, no billing: the token has neither
    });

    const reused = await link(token, { code });
    expect(reused.status).toBe(400);
    expect(reused.body.error.issues[0].path).toBe("code");

    const stale = newChat();
    const expired = await issuePairingCode(w.t.platform, stale);
    await w.t.platform.db
      .updateTable("telegram_pairing_codes")
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where("chat_id", "=", String(stale.chatId))
      .execute();
    const late = await link(token, { code: expired.code });
    expect(late.status).toBe(400);
    expect(late.body.error.message).toBe(reused.body.error.message);
    expect((await link(token, { code: "ZZZZ-ZZZZ" })).body.error.message).toBe(reused.body.error.message);

    const got = await w.t.request("GET", path, { token });
    expect(got.body.links.map((l: { chat_id: number }) => l.chat_id)).toContain(chat.chatId);
  });

  it("never grants a chat more than the linking token holds, and leaves the code usable after such a refusal", async () => {
    const { code } = await issuePairingCode(w.t.platform, newChat());
    const narrow = await w.user.token(["agent:*", "instances:read"]);
    const wide = await link(narrow, { code, scopes: ["agent:write", "instances:exec"] });
    expect(wide.status).toBe(403);
    expect(wide.body.error.required_scope).toBe("instances:exec");
    const mute = await link(narrow, { code, scopes: ["agent:read"] });
    expect(mute.status).toBe(400);
    const ok = await link(narrow, { code, scopes: ["agent:write", "instances:read"] });
    expect(ok.status).toBe(201);
    expect(ok.body.link.scopes).toEqual(["agent:write", "instances:read"]);
  });

  it("refuses a token without agent:write, another project's instance and a site project", async () => {
    const { code } = await issuePairingCode(w.t.platform, newChat());
    const reader = await w.user.token(["agent:read", "instances:*"]);
    expect((await link(reader, { code })).status).toBe(403);
    const token = await w.user.token(["*"]);
    expect(
      (await w.t.request("POST", "/v1/projects/tg-ops/instances/nope/agent/telegram", { token, body: { code } }))
        .status,
    ).toBe(404);
    expect(
      (await w.t.request("POST", "/v1/projects", { token, body: { slug: "tg-site", name: "S", kind: "site" } })).status,
    ).toBe(201);
    expect(
      (await w.t.request("POST", "/v1/projects/tg-site/instances/web/agent/telegram", { token, body: { code } }))
        .status,
    ).toBe(422);
    expect((await link(token, { code })).status).toBe(201); // none of that used the code up
  });

  it("limits code entries per account", async () => {
    const user = await w.t.account();
    const owner = await w.user.token(["*"]);
    await w.t.addMember("tg-ops", owner, user, "developer");
    const token = await user.token(["agent:*", "instances:*"]);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push((await link(token, { code: `WRNG-${String(i).padStart(4, "2")}` })).status);
    expect(statuses.slice(0, 10).every((s) => s === 400)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });
});

describe("the telegram_link credential", () => {
  async function linked(scopes = ["agent:*", "instances:*", "billing:read"]) {
    const user = await w.t.account();
    const owner = await w.user.token(["*"]);
    await w.t.addMember("tg-ops", owner, user, "developer");
    const token = await user.token(scopes);
    const chat = newChat();
    const { code } = await issuePairingCode(w.t.platform, chat);
    const res = await link(token, { code });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return { user, token, owner, chat, linkId: res.body.link.id as string };
  }
  const balances = async (linkId: string) =>
    invoke(w.t.platform, "get_balances", {}, await linkPrincipal(w.t.platform, linkId));

  it("acts as the linking person, pinned to the project and instance, within the link's scopes", async () => {
    const { user, linkId } = await linked(["agent:*", "instances:read"]);
    const p = await linkPrincipal(w.t.platform, linkId);
    expect(p).toMatchObject({
      account: { id: user.id },
      credential: { kind: "telegram_link", id: linkId },
      pins: { project: "tg-ops", instance: "web" },
      surface: "telegram",
    });
    await expect(
      invoke(w.t.platform, "get_instance", { project: "tg-ops", instance: "web" }, p),
    ).resolves.toMatchObject({ name: "web" });
    await expect(
      invoke(w.t.platform, "run_command", { project: "tg-ops", instance: "web", command: "true" }, p),
    ).rejects.toMatchObject({ code: "insufficient_scope" });
    await expect(invoke(w.t.platform, "list_projects", {}, p)).rejects.toMatchObject({ code: "insufficient_scope" });
  });

  it("stops holding once unlinked, once the linking token is revoked, or once the person leaves the project", async () => {
    const a = await linked();
    await expect(balances(a.linkId)).resolves.toBeTruthy();
    const principal = await linkPrincipal(w.t.platform, a.linkId);
    // A developer sees and unlinks only their own chats.
    const mine = await w.t.request("GET", path, { token: a.token });
    expect(mine.body.links.map((l: { id: string }) => l.id)).toEqual([a.linkId]);
    const un = await w.t.request("DELETE", `${path}?chat_id=${a.chat.chatId}`, { token: a.token });
    expect(un.body).toEqual({ unlinked: 1 });
    await expect(invoke(w.t.platform, "get_balances", {}, principal)).rejects.toMatchObject({
      code: "unauthorized",
      message: expect.stringContaining("no longer linked"),
    });

    const b = await linked();
    const pb = await linkPrincipal(w.t.platform, b.linkId);
    const tokenId = (
      await w.t.platform.db
        .selectFrom("telegram_links")
        .select("credential_id")
        .where("id", "=", b.linkId)
        .executeTakeFirstOrThrow()
    ).credential_id;
    expect(
      (await w.t.request("DELETE", `/v1/tokens/${tokenId}`, { token: await b.user.token(["tokens:*"]) })).status,
    ).toBe(200);
    await expect(invoke(w.t.platform, "get_balances", {}, pb)).rejects.toMatchObject({
      code: "unauthorized",
      message: expect.stringContaining("revoked"),
    });

    const c = await linked();
    const pc = await linkPrincipal(w.t.platform, c.linkId);
    expect((await w.t.request("DELETE", `/v1/projects/tg-ops/members/${c.user.id}`, { token: c.owner })).status).toBe(
      200,
    );
    await expect(invoke(w.t.platform, "get_balances", {}, pc)).rejects.toMatchObject({
      code: "unauthorized",
      message: expect.stringContaining("no longer has access"),
    });
  });

  it("lets the project owner see and unlink every chat on the instance", async () => {
    const a = await linked();
    const all = await w.t.request("GET", path, { token: a.owner });
    expect(all.body.links.map((l: { id: string }) => l.id)).toContain(a.linkId);
    const un = await w.t.request("DELETE", `${path}?chat_id=${a.chat.chatId}`, { token: a.owner });
    expect(un.body).toEqual({ unlinked: 1 });
    await expect(linkPrincipal(w.t.platform, a.linkId)).rejects.toMatchObject({ code: "unauthorized" });
  });
});
