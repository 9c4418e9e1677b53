// What the Telegram bridge keeps about its chats besides links (telegram-links.ts): which runs a chat follows,
// the latest run for /status, and who announces a new link. Reading a run's events is not here: the bridge reads
// them through the invoker (list_agent_run_events), as the chat's link, like any SSE client.
import { sql } from "kysely";
import type { Platform } from "../platform.ts";
import { ACTIVE } from "./runs.ts";

/** A run started from a chat that is still active, with the link it was started through and its last event. */
export interface ChatRun {
  runId: string;
  chatId: number;
  link: { id: string; project: string; instance: string | null };
  lastEventId: string | undefined;
}

/** The last event id of run `r`, where the relay resumes (both queries below alias the run as `r`). */
const lastEvent = sql<string | null>`(select max(e.id) from agent_run_events e where e.run_id = r.id)`.as("last");

/** Active runs of conversations held by a chat link: after a restart, the bridge relays them again. */
export async function activeChatRuns(platform: Pick<Platform, "db">): Promise<ChatRun[]> {
  const rows = await platform.db
    .selectFrom("telegram_links as l")
    .innerJoin("agent_runs as r", "r.conversation_id", "l.conversation_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .innerJoin("projects as p", "p.id", "l.project_id")
    .select(["r.id", "l.id as link_id", "l.chat_id", "p.slug", "i.name"])
    .select(lastEvent)
    .where("r.status", "in", ACTIVE)
    .execute();
  // And scheduled runs reporting to a chat (the schedule names the link; its conversation is not the chat's).
  const scheduled = await platform.db
    .selectFrom("agent_schedule_runs as sr")
    .innerJoin("agent_schedules as s", "s.id", "sr.schedule_id")
    .innerJoin("telegram_links as l", "l.id", "s.report_telegram_link_id")
    .innerJoin("agent_runs as r", "r.id", "sr.run_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .innerJoin("projects as p", "p.id", "l.project_id")
    .select(["r.id", "l.id as link_id", "l.chat_id", "p.slug", "i.name"])
    .select(lastEvent)
    .where("s.report_channel", "=", "telegram")
    .where("r.status", "in", ACTIVE)
    .execute();
  return [...rows, ...scheduled].map((r) => ({
    runId: r.id,
    chatId: Number(r.chat_id),
    link: { id: r.link_id, project: r.slug, instance: r.name },
    lastEventId: r.last ? String(r.last) : undefined,
  }));
}

/**
 * Claims telling a schedule's chat about one of its due times: every process hears of it, exactly one tells. Either a
 * run to relay, or — for a due time that started no run (skipped, or failed to start) — a note saying why. Null when
 * another process claimed it, or the schedule no longer reports to a chat.
 */
export async function claimScheduledRunRelay(
  platform: Pick<Platform, "db">,
  scheduleRunId: string,
): Promise<(Omit<ChatRun, "runId" | "lastEventId"> & { runId: string | null; note: string | null }) | null> {
  const claimed = await platform.db
    .updateTable("agent_schedule_runs")
    .set({ relayed_at: new Date() })
    .where("id", "=", scheduleRunId)
    .where("relayed_at", "is", null)
    .where((eb) => eb.or([eb("run_id", "is not", null), eb("status", "in", ["skipped", "failed"])]))
    .returning(["run_id", "schedule_id", "status", "error"])
    .executeTakeFirst();
  if (!claimed) return null;
  const link = await platform.db
    .selectFrom("agent_schedules as s")
    .innerJoin("telegram_links as l", "l.id", "s.report_telegram_link_id")
    .leftJoin("instances as i", "i.id", "l.instance_id")
    .innerJoin("projects as p", "p.id", "l.project_id")
    .select(["l.id", "l.chat_id", "p.slug", "i.name", "s.name as schedule"])
    .where("s.id", "=", claimed.schedule_id)
    .where("s.report_channel", "=", "telegram")
    .executeTakeFirst();
  if (!link) return null;
  const error = claimed.error as { message?: string } | null;
  return {
    runId: claimed.run_id,
    note: claimed.run_id
      ? null
      : `⚠️ Scheduled run ${link.schedule} ${claimed.status === "skipped" ? "skipped" : "did not start"}: ${error?.message ?? claimed.status}`,
    chatId: Number(link.chat_id),
    link: { id: link.id, project: link.slug, instance: link.name },
  };
}

/** The latest run of a chat's conversation, for /status. */
export async function latestRunOf(
  platform: Pick<Platform, "db">,
  conversationId: string,
): Promise<{ status: string; steps: number } | undefined> {
  return platform.db
    .selectFrom("agent_runs")
    .select(["status", "steps"])
    .where("conversation_id", "=", conversationId)
    .orderBy("created_at", "desc")
    .executeTakeFirst();
}

/** Claims telling the chat about a new link: every process hears of it, exactly one claims it. */
export async function claimLinkAnnouncement(platform: Pick<Platform, "db">, linkId: string): Promise<boolean> {
  const claimed = await platform.db
    .updateTable("telegram_links")
    .set({ announced_at: new Date() })
    .where("id", "=", linkId)
    .where("announced_at", "is", null)
    .returning("id")
    .executeTakeFirst();
  return !!claimed;
}
