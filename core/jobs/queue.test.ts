import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { enqueue, finish, heartbeat, lease } from "./queue.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

describe("job queue", () => {
  it("enqueues a key once while it is live, and again after it is done", async () => {
    const db = t.platform.db;
    expect(await enqueue(db, "q1", "run-1", { n: 1 })).toBe(true);
    expect(await enqueue(db, "q1", "run-1", { n: 2 })).toBe(false);
    const job = (await lease(db, "q1", "w1", 10_000))!;
    expect(job).toMatchObject({ key: "run-1", payload: { n: 1 }, attempts: 1 });
    expect(await enqueue(db, "q1", "run-1")).toBe(false); // leased is still live
    await finish(db, job, { state: "done" });
    expect(await enqueue(db, "q1", "run-1")).toBe(true);
  });

  it("gives each job to one of many concurrent workers", async () => {
    const db = t.platform.db;
    for (let i = 0; i < 20; i++) await enqueue(db, "q2", `k${i}`);
    const leased = await Promise.all(Array.from({ length: 30 }, (_, i) => lease(db, "q2", `w${i}`, 10_000)));
    const keys = leased.filter((j) => j).map((j) => j!.key);
    expect(keys).toHaveLength(20);
    expect(new Set(keys).size).toBe(20);
  });

  it("an expired lease goes to another worker, and the first one's heartbeat and finish no longer count", async () => {
    const db = t.platform.db;
    await enqueue(db, "q3", "crashy");
    const first = (await lease(db, "q3", "dead-worker", 1))!;
    await new Promise((r) => setTimeout(r, 20));
    const second = (await lease(db, "q3", "live-worker", 10_000))!;
    expect(second).toMatchObject({ key: "crashy", attempts: 2 });
    expect(await heartbeat(db, first, 10_000)).toBe(false);
    await finish(db, first, { state: "failed", error: "late" }); // ignored: not the owner
    expect(await heartbeat(db, second, 10_000)).toBe(true);
    const row = await db.selectFrom("jobs").selectAll().where("id", "=", second.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: "leased", lease_owner: "live-worker" });
  });

  it("a retry comes back only after its delay", async () => {
    const db = t.platform.db;
    await enqueue(db, "q4", "later");
    const job = (await lease(db, "q4", "w", 10_000))!;
    await finish(db, job, { state: "retry", afterMs: 60_000, error: "busy" });
    expect(await lease(db, "q4", "w", 10_000)).toBeNull();
  });
});
