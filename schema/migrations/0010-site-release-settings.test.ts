// The 0010 migration on data written before it: a site's current settings and password stay what is live —
// they become every existing release's — and remain the draft's.
import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBareTestDatabase } from "../../testkit/harness.ts";
import { migrateTo, migrateToLatest } from "../migrations.ts";
import type { OpenedDatabase } from "../open-database.ts";

let opened: OpenedDatabase;
beforeAll(async () => {
  opened = await openBareTestDatabase();
});
afterAll(() => opened?.close());

describe("0010-site-release-settings", () => {
  it("copies each site's live settings and password hash into its releases, and keeps them as the draft", async () => {
    const db = opened.db;
    await migrateTo(db, "0006-telegram");
    const account = crypto.randomUUID();
    const [published, unpublished] = [crypto.randomUUID(), crypto.randomUUID()];
    await sql`insert into accounts (id, email, name, password_hash) values (${account}, 'old@example.test', 'Old', 'x')`.execute(
      db,
    );
    for (const [id, slug] of [
      [published, "old-site"],
      [unpublished, "new-site"],
    ] as const) {
      await sql`insert into projects (id, slug, name, kind, owner_account_id) values (${id}, ${slug}, ${slug}, 'site', ${account})`.execute(
        db,
      );
    }
    const settings = { site_name: "Old", redirects: [{ from: "/a", to: "/b", status: 301 }] };
    await sql`insert into sites (project_id, live_release, head_release, settings, password_hash)
              values (${published}, 2, 2, ${JSON.stringify(settings)}::jsonb, 'scrypt$hash'),
                     (${unpublished}, null, 0, '{"site_name":"Draft"}'::jsonb, null)`.execute(db);
    for (const n of [1, 2]) {
      await sql`insert into site_releases (project_id, number, files, bytes, changed) values (${published}, ${n}, 0, 0, 0)`.execute(
        db,
      );
    }

    await migrateToLatest(db);
    const releases = await db
      .selectFrom("site_releases")
      .select(["number", "settings", "password_hash"])
      .where("project_id", "=", published)
      .orderBy("number")
      .execute();
    expect(releases).toEqual([
      { number: 1, settings, password_hash: "scrypt$hash" },
      { number: 2, settings, password_hash: "scrypt$hash" },
    ]);
    const sites = await db
      .selectFrom("sites")
      .select(["project_id", "settings", "password_hash"])
      .orderBy("live_release")
      .execute();
    expect(sites.find((s) => s.project_id === published)).toMatchObject({ settings, password_hash: "scrypt$hash" });
    expect(sites.find((s) => s.project_id === unpublished)).toMatchObject({
      settings: { site_name: "Draft" },
      password_hash: null,
    });
  });
});
