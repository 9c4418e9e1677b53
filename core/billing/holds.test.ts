import crypto from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { expectLedgerConsistent } from "../../testkit/ledger-invariant.ts";
import { placeHold, releaseHold, settleHold, sweepExpiredHolds } from "./holds.ts";
import { credit } from "./ledger.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

async function funded(amount: number) {
  const user = await t.account();
  await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount, reason: "top_up" });
  return user;
}

const balanceOf = async (accountId: string) => {
  const row = await t.platform.db
    .selectFrom("balances")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("pool", "=", "ai_credits")
    .executeTakeFirstOrThrow();
  return { balance: Number(row.balance), held: Number(row.held), shortfall: Number(row.shortfall) };
};

describe("holds", () => {
  it("50 concurrent holds of 1 against a balance of 10: exactly 10 succeed, never negative, ledger sums", async () => {
    const user = await funded(10);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () => placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 1 })),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    expect(ok).toHaveLength(10);
    for (const r of results) if (r.status === "rejected") expect(r.reason.code).toBe("payment_required");
    expect(await balanceOf(user.id)).toEqual({ balance: 10, held: 10, shortfall: 0 });
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("interleaved holds, settles and releases stay exact", async () => {
    const user = await funded(10);
    const db = t.platform.db;
    const worker = async (i: number) => {
      try {
        const hold = await placeHold(db, { accountId: user.id, pool: "ai_credits", amount: 1 });
        if (i % 2) await settleHold(db, hold.id, { cost: 1 });
        else await releaseHold(db, hold.id);
        return i % 2 ? "charged" : "released";
      } catch (err) {
        expect((err as { code: string }).code).toBe("payment_required");
        return "refused";
      }
    };
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => worker(i)));
    const charged = outcomes.filter((o) => o === "charged").length;
    const after = await balanceOf(user.id);
    expect(after.held).toBe(0);
    expect(after.balance).toBe(10 - charged);
    expect(after.balance).toBeGreaterThanOrEqual(0);
    await expectLedgerConsistent(db, user.id);
  });

  it("settles the actual cost, releases the rest, and a retried settle charges once", async () => {
    const user = await funded(1_000);
    const hold = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 600 });
    expect(await balanceOf(user.id)).toMatchObject({ balance: 1_000, held: 600 });
    const first = await settleHold(t.platform.db, hold.id, { cost: 250, metadata: { model: "m" } });
    const again = await settleHold(t.platform.db, hold.id, { cost: 250, metadata: { model: "m" } });
    expect(first).toMatchObject({ charged: 250n, shortfall: 0n });
    expect(again).toMatchObject({ charged: 250n, shortfall: 0n });
    expect(await balanceOf(user.id)).toEqual({ balance: 750, held: 0, shortfall: 0 });
    const debits = await t.platform.db
      .selectFrom("ledger_entries")
      .selectAll()
      .where("account_id", "=", user.id)
      .where("reason", "=", "ai_usage")
      .execute();
    expect(debits).toHaveLength(1);
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("charges an overrun from what is spendable, records the shortfall, and blocks metered work until paid", async () => {
    const user = await funded(100);
    const hold = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 50 });
    const s = await settleHold(t.platform.db, hold.id, { cost: 130 });
    expect(s).toMatchObject({ charged: 100n, shortfall: 30n });
    expect(await balanceOf(user.id)).toEqual({ balance: 0, held: 0, shortfall: 30 });
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 20, reason: "top_up" });
    await expect(placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 1 })).rejects.toMatchObject(
      {
        code: "payment_required",
        details: { shortfall_micros: 10 },
      },
    );
    await credit(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 40, reason: "top_up" });
    expect(await balanceOf(user.id)).toEqual({ balance: 30, held: 0, shortfall: 0 });
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 30 }),
    ).resolves.toMatchObject({ amount: 30n });
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("concurrent settles of one hold charge once; settles racing the sweeper stay exact", async () => {
    const user = await funded(1_000);
    const db = t.platform.db;
    const hold = await placeHold(db, { accountId: user.id, pool: "ai_credits", amount: 100 });
    const settles = await Promise.all(Array.from({ length: 10 }, () => settleHold(db, hold.id, { cost: 40 })));
    for (const s of settles) expect(s).toMatchObject({ charged: 40n, shortfall: 0n });
    expect(settles.filter((s) => s.entry)).toHaveLength(1); // the one that moved money returns its ledger row
    expect(await balanceOf(user.id)).toEqual({ balance: 960, held: 0, shortfall: 0 });

    // Each hold is settled while the sweeper expires it: whichever wins, the call is charged once, held is 0.
    const holds = await Promise.all(
      Array.from({ length: 20 }, () => placeHold(db, { accountId: user.id, pool: "ai_credits", amount: 10 })),
    );
    await Promise.all([
      ...holds.map((h) => settleHold(db, h.id, { cost: 7 })),
      sweepExpiredHolds(db, new Date(Date.now() + 3_600_000)),
    ]);
    expect(await balanceOf(user.id)).toEqual({ balance: 960 - 20 * 7, held: 0, shortfall: 0 });
    await expect(settleHold(db, crypto.randomUUID(), { cost: 1 })).rejects.toMatchObject({ code: "not_found" });
    await expectLedgerConsistent(db, user.id);
  });

  it("a hold placed inside a caller's transaction leaves that transaction's commit durable", async () => {
    const user = await funded(100);
    const setting = await t.platform.db.transaction().execute(async (trx) => {
      await placeHold(trx, { accountId: user.id, pool: "ai_credits", amount: 10 });
      return (await sql<{ s: string }>`SELECT current_setting('synchronous_commit') AS s`.execute(trx)).rows[0]!.s;
    });
    expect(setting).toBe("on");
    expect(await balanceOf(user.id)).toMatchObject({ balance: 100, held: 10 });
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  it("the sweeper releases a hold left unsettled past its expiry", async () => {
    const user = await funded(10);
    const hold = await placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10, ttlSeconds: 60 });
    await expect(placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 1 })).rejects.toMatchObject(
      { code: "payment_required" },
    );
    expect(await sweepExpiredHolds(t.platform.db, new Date(Date.now() + 61_000))).toBeGreaterThanOrEqual(1);
    expect(await balanceOf(user.id)).toMatchObject({ balance: 10, held: 0 });
    const row = await t.platform.db
      .selectFrom("holds")
      .select("state")
      .where("id", "=", hold.id)
      .executeTakeFirstOrThrow();
    expect(row.state).toBe("expired");
    await expect(
      placeHold(t.platform.db, { accountId: user.id, pool: "ai_credits", amount: 10 }),
    ).resolves.toBeTruthy();
    await expectLedgerConsistent(t.platform.db, user.id);
  });

  // Settles and holds of one turn go in one statement (tick-batcher.ts): one transaction, so the rows they wrote
  // share its xmin. Each caller still gets its own exact result and its own error.
  const transactionsOf = async (table: "ledger_entries" | "holds", users: { id: string }[]) => {
    const accountIds = users.map((u) => u.id);
    const { rows } = await sql<{ x: string }>`SELECT DISTINCT xmin::text AS x FROM ${sql.table(table)}
      WHERE account_id = ANY(${accountIds}::uuid[]) ${table === "holds" ? sql`` : sql`AND reason = 'ai_usage'`}`.execute(
      t.platform.db,
    );
    return rows.length;
  };

  it("settles of distinct accounts in one turn: one statement, each its exact settlement", async () => {
    const db = t.platform.db;
    const users = await Promise.all(Array.from({ length: 6 }, () => funded(100)));
    const holds = await Promise.all(
      users.map((u) => placeHold(db, { accountId: u.id, pool: "ai_credits", amount: 50 })),
    );
    expect(await transactionsOf("holds", users)).toBe(1); // the holds went as one statement too
    // Costs under, at, and over the hold, and over the balance (a shortfall).
    const costs = [10, 50, 70, 100, 130, 0];
    const settled = await Promise.all(holds.map((h, k) => settleHold(db, h, { cost: costs[k]!, metadata: { k } })));
    expect(await transactionsOf("ledger_entries", users)).toBe(1);
    settled.forEach((s, k) => {
      const charged = Math.min(costs[k]!, 100);
      expect(s).toMatchObject({ holdId: holds[k]!.id, cost: BigInt(costs[k]!), charged: BigInt(charged) });
      expect(s.shortfall).toBe(BigInt(costs[k]! - charged));
      expect(s.entry).toMatchObject({
        account_id: users[k]!.id,
        amount: BigInt(-charged),
        balance_after: BigInt(100 - charged),
      });
      expect(s.entry!.metadata).toMatchObject({
        k,
        hold_id: holds[k]!.id,
        cost: costs[k],
        shortfall: costs[k]! - charged,
      });
    });
    for (const [k, u] of users.entries()) {
      const charged = Math.min(costs[k]!, 100);
      expect(await balanceOf(u.id)).toEqual({ balance: 100 - charged, held: 0, shortfall: costs[k]! - charged });
      await expectLedgerConsistent(db, u.id);
    }
    // Settled again, batched or not, each returns its first result and moves nothing.
    const again = await Promise.all(holds.map((h, k) => settleHold(db, k % 2 ? h.id : h, { cost: 1 })));
    for (const [k, s] of again.entries())
      expect(s).toMatchObject({ charged: settled[k]!.charged, shortfall: settled[k]!.shortfall, entry: null });
    for (const u of users) await expectLedgerConsistent(db, u.id);
  });

  it("one failing settle of a batch fails alone; a 404 and a retry in the same turn get their own answers", async () => {
    const db = t.platform.db;
    const users = await Promise.all(Array.from({ length: 4 }, () => funded(100)));
    const holds = await Promise.all(
      users.map((u) => placeHold(db, { accountId: u.id, pool: "ai_credits", amount: 20 })),
    );
    await settleHold(db, holds[3]!, { cost: 5 });
    const out = await Promise.allSettled([
      settleHold(db, holds[0]!, { cost: 7 }),
      settleHold(db, holds[1]!, { cost: 7, metadata: { bad: "\u0000" } }), // jsonb refuses NUL: that statement fails
      settleHold(db, holds[2]!, { cost: 9 }),
      settleHold(db, holds[3]!, { cost: 5 }), // settled before: its first result
      settleHold(db, crypto.randomUUID(), { cost: 1 }), // no such hold
    ]);
    expect(out.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled", "rejected"]);
    expect(out[0]).toMatchObject({ value: { charged: 7n } });
    expect(out[2]).toMatchObject({ value: { charged: 9n } });
    expect(out[3]).toMatchObject({ value: { charged: 5n, entry: null } });
    expect(out[4]).toMatchObject({ reason: { code: "not_found" } });
    expect(await balanceOf(users[1]!.id)).toEqual({ balance: 100, held: 20, shortfall: 0 }); // nothing moved
    expect(await settleHold(db, holds[1]!, { cost: 3 })).toMatchObject({ charged: 3n }); // and it can still be settled
    for (const u of users) await expectLedgerConsistent(db, u.id);
  });

  it("holds of one turn go in one statement, each placed or refused on its own", async () => {
    const db = t.platform.db;
    const users = await Promise.all([funded(100), funded(10), funded(100)]);
    const out = await Promise.allSettled(
      users.map((u) => placeHold(db, { accountId: u.id, pool: "ai_credits", amount: 50 })),
    );
    expect(out.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(out[1]).toMatchObject({ reason: { code: "payment_required", details: { spendable_micros: 10 } } });
    expect(await transactionsOf("holds", users)).toBe(1);
    expect(await balanceOf(users[0]!.id)).toMatchObject({ held: 50 });
    expect(await balanceOf(users[1]!.id)).toMatchObject({ held: 0 });
    for (const u of users) await expectLedgerConsistent(db, u.id);
  });

  it("settles by id of two holds of one account in one turn: both charged, once each", async () => {
    const db = t.platform.db;
    const user = await funded(100);
    const [a, b] = await Promise.all(
      [1, 2].map(() => placeHold(db, { accountId: user.id, pool: "ai_credits", amount: 30 })),
    );
    // By id only, the batcher cannot know they share a balance row: the statement settles one, the other runs again.
    const [sa, sb] = await Promise.all([settleHold(db, a!.id, { cost: 20 }), settleHold(db, b!.id, { cost: 25 })]);
    expect([sa!.charged, sb!.charged]).toEqual([20n, 25n]);
    expect(await balanceOf(user.id)).toEqual({ balance: 55, held: 0, shortfall: 0 });
    await expectLedgerConsistent(db, user.id);
  });

  it("a storm of concurrent holds, settles (by hold and by id) and releases over shared accounts stays exact", async () => {
    const db = t.platform.db;
    const users = await Promise.all(Array.from({ length: 5 }, () => funded(1_000)));
    const worker = async (i: number) => {
      const u = users[i % users.length]!;
      for (let r = 0; r < 6; r++) {
        let hold: Awaited<ReturnType<typeof placeHold>>;
        try {
          hold = await placeHold(db, { accountId: u.id, pool: "ai_credits", amount: 40 });
        } catch (err) {
          expect((err as { code: string }).code).toBe("payment_required");
          continue;
        }
        if (r % 3 === 2) await releaseHold(db, hold.id);
        else await settleHold(db, r % 2 ? hold.id : hold, { cost: 10 + ((i + r) % 50) });
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => worker(i)));
    for (const u of users) {
      expect(await balanceOf(u.id)).toMatchObject({ held: 0 });
      await expectLedgerConsistent(db, u.id);
    }
  });

  it("a settle inside a caller's transaction runs in it (never batched outside it)", async () => {
    const db = t.platform.db;
    const user = await funded(100);
    await expect(
      db.transaction().execute(async (trx) => {
        const hold = await placeHold(trx, { accountId: user.id, pool: "ai_credits", amount: 30 });
        expect(await settleHold(trx, hold, { cost: 20 })).toMatchObject({ charged: 20n });
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    expect(await balanceOf(user.id)).toEqual({ balance: 100, held: 0, shortfall: 0 });
    await expectLedgerConsistent(db, user.id);
  });

  it("a repeated credit idempotency key moves money once", async () => {
    const user = await t.account();
    const db = t.platform.db;
    const key = "topup-1";
    const [a, b] = await Promise.all([
      credit(db, { accountId: user.id, pool: "wallet", amount: 500, reason: "top_up", idempotencyKey: key }),
      credit(db, { accountId: user.id, pool: "wallet", amount: 500, reason: "top_up", idempotencyKey: key }),
    ]);
    expect(a.id).toBe(b.id);
    const row = await db
      .selectFrom("balances")
      .select("balance")
      .where("account_id", "=", user.id)
      .where("pool", "=", "wallet")
      .executeTakeFirstOrThrow();
    expect(Number(row.balance)).toBe(500);
    await expectLedgerConsistent(db, user.id);
  });
});
