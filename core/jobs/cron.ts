// Cron expressions in a timezone, for everything that runs on a schedule (agent schedules, worker cron triggers):
// croner does the calendar (DST, month lengths); here is only how Bosun reads and folds due times.
import { Cron } from "croner";
import { validationError } from "../kernel/errors.ts";

/** Due times folded into one run are counted up to this many (a minutely schedule down for a year stops here). */
const MISSED_COUNT_LIMIT = 1000;

/** A cron in its timezone. Throws a 400 naming the bad field. */
export function cronOf(expr: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
  } catch {
    throw validationError([{ path: "timezone", message: "not an IANA timezone, e.g. Europe/Berlin or UTC" }]);
  }
  try {
    return new Cron(expr, { timezone, paused: true, mode: "5-part" });
  } catch (err) {
    throw validationError([{ path: "cron", message: String((err as Error).message).slice(0, 200) }]);
  }
}

/** The first due time strictly after `after`, or null when the expression never comes due again. */
export function nextDue(expr: string, timezone: string, after: Date): Date | null {
  return cronOf(expr, timezone).nextRun(after);
}

/**
 * A due `slot` claimed at `now`, after any downtime: how many later due times up to `now` it stands for (`missed`),
 * and the first due time after `now` (`next`, null when there is none or the expression no longer parses — the
 * caller then stops, rather than loop on it). Downtime thus gives one run, not one per missed time.
 */
export function foldDueTimes(
  expr: string,
  timezone: string,
  slot: Date,
  now: Date,
): { missed: number; next: Date | null } {
  let missed = -1;
  try {
    const cron = cronOf(expr, timezone);
    // Count the due times up to now (the slot itself is the first), then the first one after now.
    for (let at: Date | null = slot; at && at <= now && missed < MISSED_COUNT_LIMIT; at = cron.nextRun(at)) missed++;
    return { missed: Math.max(0, missed), next: cron.nextRun(now) };
  } catch {
    return { missed: Math.max(0, missed), next: null };
  }
}
