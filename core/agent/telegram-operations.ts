// Linking a Telegram chat to an instance or a site project, from any surface: the chat shows a one-time code (/start),
// the person enters it here with their own credential and chooses what the chat may do (at most what they hold).
// A site link talks to the project's site editor; its proposals get Apply / Discard buttons in the chat.
import crypto from "node:crypto";
import { z } from "zod";
import { loadInstance } from "../instances/reach.ts";
import { InstanceRef } from "../instances/ref.ts";
import { iso, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, insufficientScope, rateLimited, validationError } from "../kernel/errors.ts";
import { type DB, defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { hasScope, isKnownScope } from "../kernel/scopes.ts";
import { siteProject } from "../sites/site.ts";
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

/** A site chat's default: talk to the site editor, let it edit the draft, apply or discard its proposals, see credit. */
export const DEFAULT_SITE_LINK_SCOPES = [
  "agent:read",
  "agent:write",
  "files:read",
  "files:write",
  "pages:read",
  "pages:write",
  "assets:read",
  "settings:read",
  "settings:write",
  "billing:read",
];

const TelegramLink = z
  .object({
    id: z.string(),
    project: z.string(),
    instance: z.string().nullable().meta({ description: "null: linked to the site project's site editor" }),
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
const view = (ctx: ProjectContext, instance: string | null, l: LinkRow): z.input<typeof TelegramLink> => ({
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

const Code = z
  .string()
  .min(4)
  .max(20)
  .regex(/^[A-Za-z0-9 -]+$/, "letters, digits and dashes")
  .meta({ description: "The code the bot showed", example: "ABCD-EFGH" });

/**
 * Links the chat that shows `code` to an instance, or (instance null) to the site project itself: at most the
 * caller's scopes, agent:write at least. Linking a chat again to the same target replaces the link.
 */
async function linkChat(
  ctx: ProjectContext,
  input: { code: string; scopes?: string[] | undefined },
  instance: { id: string; name: string } | null,
  defaults: string[],
): Promise<z.input<typeof TelegramLink>> {
  assertPerson(ctx);
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
    scopes = defaults.filter((s) => hasScope(ctx.principal.scopes, s));
  }
  if (!hasScope(scopes, "agent:write"))
    throw validationError([{ path: "scopes", message: "a chat needs agent:write to talk to the agent" }]);
  const cred = ctx.principal.credential;
  const link = await ctx.tx(async (trx) => {
    const chat = await consumePairingCode(ctx.platform, trx, input.code);
    if (chat.chat_type !== "private") throw new BosunError("forbidden", "only private chats can be linked");
    const row = await upsertLink(trx, {
      id: crypto.randomUUID(),
      account_id: ctx.principal.account.id,
      project_id: ctx.project.id,
      instance_id: instance?.id ?? null,
      chat_id: chat.chat_id,
      telegram_user_id: chat.telegram_user_id,
      telegram_username: chat.telegram_username,
      scopes,
      credential_kind: cred.kind,
      credential_id: cred.id,
    });
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
  return view(ctx, instance?.name ?? null, link);
}

type NewLink = {
  id: string;
  account_id: string;
  project_id: string;
  instance_id: string | null;
  chat_id: string;
  telegram_user_id: string;
  telegram_username: string | null;
  scopes: string[];
  credential_kind: string;
  credential_id: string;
};

/** Linking a chat again (another person, other scopes) replaces the old link and starts a new conversation. */
function upsertLink(trx: DB, values: NewLink) {
  return trx
    .insertInto("telegram_links")
    .values(values)
    .onConflict((oc) => {
      // Instance links are unique per chat and instance; site links per chat and project (a partial index).
      const target =
        values.instance_id === null
          ? oc.columns(["chat_id", "project_id"]).where("instance_id", "is", null)
          : oc.columns(["chat_id", "instance_id"]);
      return target.doUpdateSet((eb) => ({
        account_id: eb.ref("excluded.account_id"),
        telegram_user_id: eb.ref("excluded.telegram_user_id"),
        telegram_username: eb.ref("excluded.telegram_username"),
        scopes: eb.ref("excluded.scopes"),
        credential_kind: eb.ref("excluded.credential_kind"),
        credential_id: eb.ref("excluded.credential_id"),
        conversation_id: null,
      }));
    })
    .returningAll()
    .executeTakeFirstOrThrow();
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
    code: Code,
    scopes: z.array(z.string().max(64)).min(1).max(40).optional().meta({
      description:
        "What the chat may do; default: agent:read, agent:write, instances:read, instances:files, instances:exec and billing:read, as far as you hold them",
    }),
  }),
  output: z.object({ link: TelegramLink }),
  handler: async (ctx, input) => {
    const instance = await loadInstance(ctx, input.instance);
    return { link: await linkChat(ctx, input, instance, DEFAULT_LINK_SCOPES) };
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
    return { unlinked: await unlinkChats(ctx, instance, input.chat_id) };
  },
});

/** Deletes the caller's links (anyone's, for owners and maintainers) to an instance or (null) the site; answers how many. */
async function unlinkChats(
  ctx: ProjectContext,
  instance: { id: string; name: string } | null,
  chatId: number | undefined,
): Promise<number> {
  let q = ctx.db.deleteFrom("telegram_links").where("project_id", "=", ctx.project.id);
  q = instance ? q.where("instance_id", "=", instance.id) : q.where("instance_id", "is", null);
  if (!managesLinks(ctx)) q = q.where("account_id", "=", ctx.principal.account.id);
  if (chatId !== undefined) q = q.where("chat_id", "=", String(chatId));
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
          instance: instance?.name ?? null,
        }),
      )
      .catch(() => {});
  }
  return gone.length;
}

// Site projects: the chat talks to the project's site editor (no instance).

export const linkSiteTelegramChat = defineOperation({
  id: "link_site_telegram_chat",
  summary: "Link a Telegram chat to a site project",
  description:
    "Like link_telegram_chat, for a site project: the chat's messages go to its site editor, acting as you with " +
    "`scopes`; its proposals get Apply / Discard buttons there.",
  tags: ["agent", "telegram"],
  scope: "agent:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/agent/telegram", status: 201 },
  rateLimit: "auth",
  input: z.object({
    project: ProjectRef,
    code: Code,
    scopes: z.array(z.string().max(64)).min(1).max(40).optional().meta({
      description:
        "What the chat may do; default: agent, files, pages and settings read/write, assets:read and billing:read, as far as you hold them",
    }),
  }),
  output: z.object({ link: TelegramLink }),
  handler: async (ctx, input) => {
    siteProject(ctx);
    return { link: await linkChat(ctx, input, null, DEFAULT_SITE_LINK_SCOPES) };
  },
});

export const getSiteTelegramLinks = defineOperation({
  id: "get_site_telegram_links",
  summary: "Get the Telegram chats linked to a site project",
  description: "Your chats linked to this site (all of them, for owners and maintainers).",
  tags: ["agent", "telegram"],
  scope: "agent:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/agent/telegram" },
  input: z.object({ project: ProjectRef }),
  output: z.object({ links: z.array(TelegramLink) }),
  handler: async (ctx) => {
    const project = siteProject(ctx);
    let q = ctx.db
      .selectFrom("telegram_links")
      .selectAll()
      .where("project_id", "=", project.id)
      .where("instance_id", "is", null)
      .orderBy("created_at");
    if (!managesLinks(ctx)) q = q.where("account_id", "=", ctx.principal.account.id);
    return { links: (await q.execute()).map((l) => view(ctx, null, l)) };
  },
});

export const unlinkSiteTelegramChat = defineOperation({
  id: "unlink_site_telegram_chat",
  summary: "Unlink Telegram chats from a site project",
  description: "Like unlink_telegram_chat, for a site project's chats.",
  tags: ["agent", "telegram"],
  scope: "agent:write",
  effect: "write",
  http: { method: "delete", path: "/projects/{project}/agent/telegram" },
  input: z.object({
    project: ProjectRef,
    chat_id: z.number().int().optional().meta({ description: "Only this chat" }),
  }),
  output: z.object({ unlinked: z.number().int() }),
  handler: async (ctx, input) => {
    siteProject(ctx);
    return { unlinked: await unlinkChats(ctx, null, input.chat_id) };
  },
});

export const telegramOperations = [
  linkTelegramChat,
  getTelegramLink,
  unlinkTelegramChat,
  linkSiteTelegramChat,
  getSiteTelegramLinks,
  unlinkSiteTelegramChat,
];
