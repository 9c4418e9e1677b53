import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { prepared } from "./prepared.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

// Compiled once, run with each call's values; the constant the builder wrote ('site') stays in place.
let builds = 0;
const projectsNamed = prepared<{ prefix: string; slugs: string[] | null; limit: number }, { slug: string }>((db, $) => {
  builds++;
  return db
    .selectFrom("projects")
    .select("slug")
    .where("kind", "=", "site")
    .where("slug", "like", $("prefix"))
    .where(sql<boolean>`coalesce(${sql.ref("slug")} = any(${$("slugs")}), true)`)
    .orderBy("slug")
    .limit($("limit"));
});

describe("prepared queries", () => {
  it("compile once and run with new values each call, in and out of a transaction", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    for (const [slug, kind] of [
      ["prep-a", "site"],
      ["prep-b", "site"],
      ["prep-c", "instance"],
      ["other-d", "site"],
    ]) {
      expect((await t.request("POST", "/v1/projects", { token, body: { slug, name: slug, kind } })).status).toBe(201);
    }
    const db = t.platform.db;
    const slugs = async (p: Parameters<typeof projectsNamed>[1]) => (await projectsNamed(db, p)).map((r) => r.slug);
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 10 })).toEqual(["prep-a", "prep-b"]);
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 1 })).toEqual(["prep-a"]);
    expect(await slugs({ prefix: "%", slugs: ["prep-b", "other-d"], limit: 10 })).toEqual(["other-d", "prep-b"]);
    expect(await slugs({ prefix: "%", slugs: [], limit: 10 })).toEqual([]);
    expect(builds).toBe(1);
    // A transaction is its own handle: compiled for it too, and its reads see its own writes.
    await db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable("projects").set({ kind: "site" }).where("slug", "=", "prep-c").execute();
        expect((await projectsNamed(trx, { prefix: "prep-%", slugs: null, limit: 10 })).map((r) => r.slug)).toEqual([
          "prep-a",
          "prep-b",
          "prep-c",
        ]);
        throw new Error("roll back");
      })
      .catch((err: Error) => expect(err.message).toBe("roll back"));
    expect(await slugs({ prefix: "prep-%", slugs: null, limit: 10 })).toEqual(["prep-a", "prep-b"]);
  });
});
