// Telegram links as data: a chat linked to one instance (or to a site project: its site editor) acts as the person
// who linked it, narrowed to the scopes granted to the link and pinned to that project and instance. The credential is re-checked on every
// call (and so at every step of a run started from the chat): the link must still exist, its person must still
// be a member of the project, and the token that made the link must not be revoked.
import { unauthorized } from "../kernel/errors.ts";
import type { Principal } from "../kernel/operation.ts";
import type { CredentialChecker, Platform } from "../platform.ts";

/** Told to every process when a chat is linked or unlinked, so the bot can say so in the chat. */
export const TELEGRAM_LINK_TOPIC = "telegram_link";

export interface ChatLink {
  id: string;
  project: string;
  /** null: a site link (the chat talks to the project's site editor). */
  instance: string | null;
  telegramUserId: string;
  conversationId: string | null;
  selected: boolean;
}

/** The principal a message from a linked chat acts as. Throws unauthorized when the link is gone. */
export async function linkPrincipal(platform: Pick<Platform, "db">, linkId: string): Promise<Principal> {
  const row = await platform.db
    .selectFrom("telegram_links as l")
    .innerJoin("accounts as a", "a.id", "l.account_id")
    .innerJoin("projects as p", "p.id", "l.project_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .select(["l.scopes", "a.id as account_id", "a.email", "a.is_operator", "p.slug", "i.name as instance"])
    .where("l.id", "=", linkId)
    .executeTakeFirst();
  if (!row) throw unauthorized("this Telegram chat is no longer linked");
  return {
    account: { id: row.account_id, email: row.email, isOperator: row.is_operator },
    billedAccount: row.account_id,
    credential: { kind: "telegram_link", id: linkId },
    scopes: row.scopes,
    projects: [row.slug],
    pins: { project: row.slug, ...(row.instance ? { instance: row.instance } : {}) },
    surface: "telegram",
    clientIp: null,
  };
}

/** The invoker's check for `telegram_link` credentials. */
export function telegramLinkChecker(platform: Pick<Platform, "db">): CredentialChecker {
  return async (principal) => {
    const link = await platform.db
      .selectFrom("telegram_links as l")
      .leftJoin("project_members as m", (j) =>
        j.onRef("m.project_id", "=", "l.project_id").onRef("m.account_id", "=", "l.account_id"),
      )
      .select(["l.credential_kind", "l.credential_id", "m.role"])
      .where("l.id", "=", principal.credential.id)
      .executeTakeFirst();
    if (!link) throw unauthorized("this Telegram chat is no longer linked");
    if (!link.role) throw unauthorized("the person who linked this Telegram chat no longer has access to its project");
    if (link.credential_kind === "token") {
      // Revoking the linking token cuts off the chat too (a leaked token must not live on in a chat). Its
      // natural expiry does not: a link is made for the long run, and the person still holds their access.
      const token = await platform.db
        .selectFrom("api_tokens")
        .select("revoked_at")
        .where("id", "=", link.credential_id)
        .executeTakeFirst();
      if (!token || token.revoked_at) throw unauthorized("the token that linked this Telegram chat has been revoked");
    } else if (link.credential_kind === "session") {
      // Likewise a session ended to get someone out (revoked, password or two-factor changed). A plain logout
      // or the session's expiry does not: the person still holds their access. (No row: a session from before
      // sessions were stored, which nobody can have ended.)
      const session = await platform.db
        .selectFrom("sessions")
        .select("end_reason")
        .where("id", "=", link.credential_id)
        .executeTakeFirst();
      if (session?.end_reason && session.end_reason !== "logout") {
        throw unauthorized("the login session that linked this Telegram chat was ended");
      }
    }
  };
}

/** Every instance and site a chat is linked to, the selected one marked. */
export async function linksOfChat(platform: Pick<Platform, "db">, chatId: number | string): Promise<ChatLink[]> {
  const rows = await platform.db
    .selectFrom("telegram_links as l")
    .innerJoin("projects as p", "p.id", "l.project_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .leftJoin("telegram_chat_state as s", "s.chat_id", "l.chat_id")
    .select(["l.id", "p.slug", "i.name", "l.telegram_user_id", "l.conversation_id", "s.selected_link_id"])
    .where("l.chat_id", "=", String(chatId))
    .orderBy("l.created_at")
    .execute();
  return rows.map((r) => ({
    id: r.id,
    project: r.slug,
    instance: r.name,
    telegramUserId: String(r.telegram_user_id),
    conversationId: r.conversation_id,
    selected: r.selected_link_id === r.id,
  }));
}

/** The link messages go to: the selected one, or the only one. */
export const activeLink = (links: ChatLink[]) =>
  links.find((l) => l.selected) ?? (links.length === 1 ? links[0] : undefined);

export async function selectLink(
  platform: Pick<Platform, "db">,
  chatId: number | string,
  linkId: string,
): Promise<void> {
  await platform.db
    .insertInto("telegram_chat_state")
    .values({ chat_id: String(chatId), selected_link_id: linkId })
    .onConflict((oc) => oc.column("chat_id").doUpdateSet({ selected_link_id: linkId, updated_at: new Date() }))
    .execute();
}

export async function setLinkConversation(
  platform: Pick<Platform, "db">,
  linkId: string,
  conversationId: string | null,
): Promise<void> {
  await platform.db
    .updateTable("telegram_links")
    .set({ conversation_id: conversationId })
    .where("id", "=", linkId)
    .execute();
}

/**
 * The link in this chat through which an approval may be decided: same project and instance as its conversation
 * (a site conversation: the chat's site link).
 */
export async function linkForApproval(platform: Pick<Platform, "db">, chatId: number | string, approvalId: string) {
  return platform.db
    .selectFrom("agent_approvals as a")
    .innerJoin("agent_conversations as c", "c.id", "a.conversation_id")
    .innerJoin("telegram_links as l", "l.project_id", "c.project_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .innerJoin("projects as p", "p.id", "c.project_id")
    .select(["l.id as link_id", "l.telegram_user_id", "p.slug as project", "a.status", "a.tool"])
    .where("a.id", "=", approvalId)
    .where("l.chat_id", "=", String(chatId))
    .where((eb) =>
      eb.or([
        eb("i.name", "=", eb.ref("c.instance")),
        eb.and([eb("c.instance", "is", null), eb("l.instance_id", "is", null)]),
      ]),
    )
    .executeTakeFirst();
}

/** What a link talks to, as a person reads it: the instance's name, or the site project's slug. */
export const linkTarget = (l: Pick<ChatLink, "project" | "instance">) => l.instance ?? l.project;

/** The site link in this chat through which a proposal may be applied or discarded: same project as the proposal. */
export async function linkForProposal(platform: Pick<Platform, "db">, chatId: number | string, proposalId: string) {
  return platform.db
    .selectFrom("site_proposals as sp")
    .innerJoin("telegram_links as l", (j) => j.onRef("l.project_id", "=", "sp.project_id"))
    .innerJoin("projects as p", "p.id", "sp.project_id")
    .select(["l.id as link_id", "l.telegram_user_id", "p.slug as project", "sp.status"])
    .where("sp.id", "=", proposalId)
    .where("l.instance_id", "is", null)
    .where("l.chat_id", "=", String(chatId))
    .executeTakeFirst();
}
