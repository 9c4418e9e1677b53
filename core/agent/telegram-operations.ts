// Linking a Telegram chat to an instance, from any surface: the chat shows a one-time code (/start), the
// person enters it here with their own credential and chooses what the chat may do (at most what they hold).
import crypto from "node:crypto";
import { z } from "zod";
import { loadInstance } from "../instances/reach.ts";
import { InstanceRef } from "../instances/ref.ts";
import { iso, Timestamp } from "../kernel/common.ts";
import { BosunError, insufficientScope, rateLimited, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { hasScope, isKnownScope } from "../kernel/scopes.ts";
import { cancelActiveRun } from "./runs.ts";
import { TELEGRAM_LINK_TOPIC } from "./telegram-links.ts";
import { consumePairingCode, ENTRIES_PER_MINUTE } from "./telegram-pairing.ts";

/** What a chat may do when the caller names no scopes: talk to the agent, decide approvals, see credit. */
export const DEFAULT_LINK_SCOPES = [
  "agent:read",
  "agent:write",
  "instances:read",
  "instances:files",
  "instances:exec",
  "billing:read",
];

const TelegramLink = z
  .object({
    id: z.string(),
    project: z.string(),
    instance: z.string(),
    chat_id: z.number().int(),
    telegram_user: z.object({ id: z.number().int(), username: z.string().nullable() }),
    scopes: z.array(z.string()),
    created_at: Timestamp,
  })
  .meta({ id: "TelegramLink" });

type LinkRow = {
  id: string;
  chat_id: string;
  telegram_user_id: string;
  telegram_username: string | null;
  scopes: string[];
  created_at: Date;
};
const view = (ctx: ProjectContext, instance: string, l: LinkRow): z.input<typeof TelegramLink> => ({
  id: l.id,
  project: ctx.project.slug,
  instance,
  chat_id: Number(l.chat_id),
  telegram_user: { id: Number(l.telegram_user_id), username: l.telegram_username },
  scopes: l.scopes,
  created_at: iso(l.created_at),
});

/** A person links chats; an agent run or a chat cannot link further chats. */
function assertPerson(ctx: ProjectContext) {
  const kind = ctx.principal.credential?.kind;
  if (kind !== "token" && kind !== "session")
    throw new BosunError("forbidden", "only a person's token or session can link a Telegram chat");
}

export const linkTelegramChat = defineOperation({
  id: "link_telegram_chat",
  summary: "Link a Telegram chat to an instance",
  description:
    "`code`: the one-time code the Bosun bot answers /start with in a private Telegram chat (valid 10 minutes). The chat's messages then go to this instance's agent, acting as you with `scopes` (at most your own); approvals can be decided there.",
  tags: ["agent", "telegram"],
  scope: "agent:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/instances/{instance}/agent/telegram", status: 201 },
  rateLimit: "auth",
  input: z.object({
    ...InstanceRef,
    code: z
      .string()
      .min(4)
      .max(20)
      .regex(/^[A-Za-z0-9 -]+$/, "letters, digits and dashes")
      .meta({ description: "The code the bot showed", example: "ABCD-EFGH" }),
    scopes: z.array(z.string().max(64)).min(1).max(40).optional().meta({
      description:
        "What the chat may do; default: agent:read, agent:write, instances:read, instances:files, instances:exec and billing:read, as far as you hold them",
    }),
  }),
  output: z.object({ link: TelegramLink }),
  handler: async (ctx, input) => {
    assertPerson(ctx);
    const instance = await loadInstance(ctx, input.instance);
    // Code entries per account, besides the per-IP `auth` limit: a code is 40 bits, but guessing must stay hopeless.
    const limit = await ctx.platform.securityLimiter.take(
      `telegram-code:${ctx.principal.account.id}`,
      ENTRIES_PER_MINUTE,
    );
    if (!limit.allowed) throw rateLimited(limit.retryAfter);
    let scopes: string[];
    if (input.scopes) {
      input.scopes.forEach((s, i) => {
        if (!isKnownScope(s)) throw validationError([{ path: `scopes.${i}`, message: `unknown scope '${s}'` }]);
      });
      for (const s of input.scopes)
        if (!hasScope(ctx.principal.scopes, s))
          throw insufficientScope(s, "a chat cannot have more power than the credential that links it");
      scopes = [...new Set(input.scopes)];
    } else {
      scopes = DEFAULT_LINK_SCOPES.filter((s) => hasScope(ctx.principal.scopes, s));
    }
    if (!hasScope(scopes, "agent:write"))
      throw validationError([{ path: "scopes", message: "a chat needs agent:write to talk to the agent" }]);
    const cred = ctx.principal.credential;
    const link = await ctx.tx(async (trx) => {
      const chat = await consumePairingCode(ctx.platform, trx, input.code);
      if (chat.chat_type !== "private") throw new BosunError("forbidden", "only private chats can be linked");
      const row = await trx
        .insertInto("telegram_links")
        .values({
          id: crypto.randomUUID(),
          account_id: ctx.principal.account.id,
          project_id: ctx.project.id,
          instance_id: instance.id,
          chat_id: chat.chat_id,
          telegram_user_id: chat.telegram_user_id,
          telegram_username: chat.telegram_username,
          scopes,
          credential_kind: cred.kind,
          credential_id: cred.id,
        })
        // Linking a chat again (another person, other scopes) replaces the old link and starts a new conversation.
        .onConflict((oc) =>
          oc.columns(["chat_id", "instance_id"]).doUpdateSet((eb) => ({
            account_id: eb.ref("excluded.account_id"),
            telegram_user_id: eb.ref("excluded.telegram_user_id"),
            telegram_username: eb.ref("excluded.telegram_username"),
            scopes: eb.ref("excluded.scopes"),
            credential_kind: eb.ref("excluded.credential_kind"),
            credential_id: eb.ref("excluded.credential_id"),
            conversation_id: null,
          })),
        )
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .insertInto("telegram_chat_state")
        .values({ chat_id: chat.chat_id, selected_link_id: row.id })
        .onConflict((oc) => oc.column("chat_id").doUpdateSet({ selected_link_id: row.id, updated_at: new Date() }))
        .execute();
      return row;
    });
    await ctx.platform.notifier
      .publish(TELEGRAM_LINK_TOPIC, JSON.stringify({ event: "linked", link_id: link.id, chat_id: link.chat_id }))
      .catch(() => {});
    return { link: view(ctx, instance.name, link) };
  },
});

export const getTelegramLink = defineOperation({
  id: "get_telegram_link",
  summary: "Get the Telegram chats linked to an instance",
  description: "Your chats linked to this instance (all linked chats, for the project's owners and maintainers).",
  tags: ["agent"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/instances/{instance}/agent/telegram" },
  input: z.object(InstanceRef),
  output: z.object({ links: z.array(TelegramLink) }),
  handler: async (ctx, input) => {
    const instance = await loadInstance(ctx, input.instance);
    let q = ctx.db
      .selectFrom("telegram_links")
      .selectAll()
      .where("instance_id", "=", instance.id)
      .orderBy("created_at");
    if (!managesLinks(ctx)) q = q.where("account_id", "=", ctx.principal.account.id);
    return { links: (await q.execute()).map((l) => view(ctx, instance.name, l)) };
  },
});

const managesLinks = (ctx: ProjectContext) => ctx.project.role === "owner" || ctx.project.role === "maintainer";

export const unlinkTelegramChat = defineOperation({
  id: "unlink_telegram_chat",
  summary: "Unlink Telegram chats from an instance",
  description:
    "Your chats linked to this instance (or just `chat_id`) stop reaching its agent at once; a run started from them is " +
    "cancelled. Owners and maintainers may unlink anyone's chat.",
  tags: ["agent", "telegram"],
  scope: "agent:write",
  effect: "write",
  http: { method: "delete", path: "/projects/{project}/instances/{instance}/agent/telegram" },
  input: z.object({ ...InstanceRef, chat_id: z.number().int().optional().meta({ description: "Only this chat" }) }),
  output: z.object({ unlinked: z.number().int() }),
  handler: async (ctx, input) => {
    const instance = await loadInstance(ctx, input.instance);
    let q = ctx.db.deleteFrom("telegram_links").where("instance_id", "=", instance.id);
    if (!managesLinks(ctx)) q = q.where("account_id", "=", ctx.principal.account.id);
    if (input.chat_id !== undefined) q = q.where("chat_id", "=", String(input.chat_id));
    const gone = await q.returning(["id", "chat_id"]).execute();
    for (const link of gone) {
      // The checker would stop the run at its next step anyway; a parked run would wait for nobody.
      const convs = await ctx.db
        .selectFrom("agent_conversations")
        .select("id")
        .where("credential_kind", "=", "telegram_link")
        .where("credential_id", "=", link.id)
        .execute();
      for (const c of convs) await cancelActiveRun(ctx.platform, c.id);
      await ctx.platform.notifier
        .publish(
          TELEGRAM_LINK_TOPIC,
          JSON.stringify({
            event: "unlinked",
            link_id: link.id,
            chat_id: link.chat_id,
            project: ctx.project.slug,
            instance: instance.name,
          }),
        )
        .catch(() => {});
    }
    return { unlinked: gone.length };
  },
});

export const telegramOperations = [linkTelegramChat, getTelegramLink, unlinkTelegramChat];
