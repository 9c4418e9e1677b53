// Ordered, in-code migrations: a bundled build finds them without reading a folder at run time.
import { type Kysely, type Migration, type MigrationProvider, Migrator } from "kysely";
import * as spine from "./migrations/0001-spine.ts";
import * as billing from "./migrations/0002-billing.ts";
import * as sites from "./migrations/0003-sites.ts";
import * as instances from "./migrations/0004-instances.ts";
import * as agent from "./migrations/0005-agent.ts";
import * as telegram from "./migrations/0006-telegram.ts";
import * as instanceObserver from "./migrations/0007-instance-observer.ts";
import * as agentRunTaint from "./migrations/0008-agent-run-taint.ts";
import * as rateLimits from "./migrations/0009-rate-limits.ts";
import * as siteReleaseSettings from "./migrations/0010-site-release-settings.ts";
import * as sessions from "./migrations/0011-sessions.ts";
import * as onboarding from "./migrations/0012-onboarding.ts";
import * as domains from "./migrations/0013-domains.ts";
import * as oauth from "./migrations/0014-oauth.ts";
import * as agentSchedules from "./migrations/0015-agent-schedules.ts";
import * as events from "./migrations/0016-events.ts";
import * as auditRetention from "./migrations/0017-audit-retention.ts";
import * as workers from "./migrations/0018-workers.ts";
import * as workerResources from "./migrations/0019-worker-resources.ts";
import * as siteProposals from "./migrations/0020-site-proposals.ts";
import * as telegramSiteLinks from "./migrations/0021-telegram-site-links.ts";
import * as logPartitions from "./migrations/0022-log-partitions.ts";
import * as workerUsageCharged from "./migrations/0023-worker-usage-charged.ts";
import * as auditOperationIndexes from "./migrations/0024-audit-operation-indexes.ts";

const migrations: Record<string, Migration> = {
  "0001-spine": spine,
  "0002-billing": billing,
  "0003-sites": sites,
  "0004-instances": instances,
  "0005-agent": agent,
  "0006-telegram": telegram,
  "0007-instance-observer": instanceObserver,
  "0008-agent-run-taint": agentRunTaint,
  "0009-rate-limits": rateLimits,
  "0010-site-release-settings": siteReleaseSettings,
  "0011-sessions": sessions,
  "0012-onboarding": onboarding,
  "0013-domains": domains,
  "0014-oauth": oauth,
  "0015-agent-schedules": agentSchedules,
  "0016-events": events,
  "0017-audit-retention": auditRetention,
  "0018-workers": workers,
  "0019-worker-resources": workerResources,
  "0020-site-proposals": siteProposals,
  "0021-telegram-site-links": telegramSiteLinks,
  "0022-log-partitions": logPartitions,
  "0023-worker-usage-charged": workerUsageCharged,
  "0024-audit-operation-indexes": auditOperationIndexes,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Brings the database to exactly migration `name` (tests of a migration on data written before it). */
export async function migrateTo(db: Kysely<any>, name: string): Promise<void> {
  const { error } = await new Migrator({ db, provider }).migrateTo(name);
  if (error) throw error;
}

export interface MigrationReport {
  applied: string[];
  pending: number;
}

/** Brings the database to the newest schema; `onStep` is told of each migration as it is applied. */
export async function migrateToLatest(
  db: Kysely<any>,
  onStep: (name: string, index: number, total: number) => void = () => {},
): Promise<MigrationReport> {
  const migrator = new Migrator({ db, provider });
  const pending = (await migrator.getMigrations()).filter((m) => !m.executedAt);
  const applied: string[] = [];
  for (const [i, m] of pending.entries()) {
    onStep(m.name, i + 1, pending.length);
    const { error, results } = await migrator.migrateUp();
    const failed = results?.find((r) => r.status === "Error");
    if (error || failed) {
      throw new Error(
        `migration ${failed?.migrationName ?? m.name} failed: ${String((error as Error)?.message ?? error)}`,
      );
    }
    applied.push(m.name);
  }
  return { applied, pending: pending.length };
}
