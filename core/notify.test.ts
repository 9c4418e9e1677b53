// Two Bosun processes on one Postgres: a token revoked (or a login session ended) on one fails at once on the
// other, although the other had it cached. (Only meaningful on Postgres: an embedded database has one process.)
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { sql } from "kysely";
import pg from "pg";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { createAccount } from "./identity/accounts.ts";
import { operatorPrincipal } from "./identity/bootstrap.ts";
import { mintToken } from "./identity/tokens.ts";
import { invoke } from "./kernel/invoker.ts";
import { anonymous } from "./kernel/operation.ts";
import { createPlatform, type Platform } from "./platform.ts";

const url = process.env.DATABASE_URL;
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function twoProcesses() {
  const name = `bosun_test_${crypto.randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  cleanup.push(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  });
  const target = new URL(url!);
  target.pathname = `/${name}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-notify-"));
  const open = () =>
    createPlatform({ databaseUrl: target.toString(), config: { dataDir }, log: pino({ level: "silent" }) });
  const a: Platform = await open();
  cleanup.push(() => a.close());
  const b: Platform = await open();
  cleanup.push(() => b.close());

  const account = await createAccount(a.db, { email: "n@example.test", name: "n", password: "long-enough-pw" });
  const minter = {
    ...operatorPrincipal(account.id, account.email),
    account: { id: account.id, email: account.email, isOperator: false },
  };
  const { token: manager } = await mintToken(a.db, minter, { name: "m", scopes: ["tokens:write", "projects:read"] });
  const { token: victim, id } = await mintToken(a.db, minter, { name: "v", scopes: ["projects:read"] });
  const revoke = async () => invoke(a, "revoke_api_token", { id }, await a.auth.principal(manager, "rest", null));
  /** NOTIFY and reconnects are asynchronous: wait a bounded time for B to refuse the token. */
  const refusedOnB = async () => {
    for (let i = 0; i < 100; i++) {
      if (
        await b.auth.principal(victim, "rest", null).then(
          () => false,
          () => true,
        )
      )
        return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };
  return { admin, name, a, b, victim, revoke, refusedOnB };
}

it.skipIf(!url?.startsWith("postgres"))(
  "a revocation on one process reaches another's token cache at once",
  async () => {
    const { b, victim, revoke, refusedOnB } = await twoProcesses();
    const onB = await b.auth.principal(victim, "rest", null); // cached on B now
    await expect(invoke(b, "list_projects", {}, onB)).resolves.toMatchObject({ projects: [] });

    await revoke();
    expect(await refusedOnB()).toBe(true);
    await expect(invoke(b, "list_projects", {}, onB)).rejects.toMatchObject({ code: "unauthorized" });
  },
);

it.skipIf(!url?.startsWith("postgres"))(
  "a revocation missed while the LISTEN connection was down is not trusted after it is back",
  async () => {
    const { admin, name, b, victim, revoke, refusedOnB } = await twoProcesses();
    await b.auth.principal(victim, "rest", null); // cached on B now
    // Cut every LISTEN connection of this database, then revoke while they are down.
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
      [name],
    );
    await revoke();
    expect(await refusedOnB()).toBe(true);
  },
);

it.skipIf(!url?.startsWith("postgres"))(
  "a session ended on one process is refused at once on another that had it cached",
  async () => {
    const { a, b } = await twoProcesses();
    await createAccount(a.db, { email: "s@example.test", name: "s", password: "long-enough-pw" });
    const login = () =>
      invoke(
        a,
        "login",
        { email: "s@example.test", password: "long-enough-pw" },
        anonymous("rest", "127.0.0.1"),
      ) as Promise<{ token: string }>;
    const { token: other } = await login();
    const { token: mine } = await login();
    const otherOnB = await b.auth.principal(other, "rest", null);
    await expect(invoke(b, "get_me", {}, otherOnB)).resolves.toMatchObject({ credential: { kind: "session" } }); // cached on B now
    // The password changes on A (through a session there): B must refuse the other session at its next call.
    await invoke(
      a,
      "change_password",
      { current_password: "long-enough-pw", new_password: "another-long-pw" },
      await a.auth.principal(mine, "rest", null),
    );
    let refused = false;
    for (let i = 0; i < 100 && !refused; i++) {
      refused = await invoke(b, "get_me", {}, otherOnB).then(
        () => false,
        (err) => err.code === "unauthorized",
      );
      if (!refused) await new Promise((r) => setTimeout(r, 20));
    }
    expect(refused).toBe(true);
    await expect(b.auth.principal(other, "rest", null)).rejects.toMatchObject({ code: "unauthorized" });
    await expect(invoke(b, "get_me", {}, await b.auth.principal(mine, "rest", null))).resolves.toBeTruthy();
  },
);

it.skipIf(!url?.startsWith("postgres"))(
  "a publish inside a statement (notifySql) reaches another process when, and only when, its transaction commits",
  async () => {
    const { a, b } = await twoProcesses();
    const heard: string[] = [];
    b.notifier.on("test_topic", (data) => heard.push(data));
    const notify = (data: string) => {
      const expr = a.notifier.notifySql("test_topic", sql<string>`${data}::text`);
      if (!expr) throw new Error("Postgres has a NOTIFY");
      return sql`select ${expr}`;
    };
    const waitFor = async (data: string) => {
      for (let i = 0; i < 100 && !heard.includes(data); i++) await new Promise((r) => setTimeout(r, 20));
      return heard.includes(data);
    };
    await a.db
      .transaction()
      .execute(async (trx) => {
        await notify("rolled-back").execute(trx);
        throw new Error("roll back");
      })
      .catch(() => {});
    await a.db.transaction().execute(async (trx) => {
      await notify("committed").execute(trx);
      await new Promise((r) => setTimeout(r, 200));
      expect(heard).toEqual([]); // not before the commit
    });
    expect(await waitFor("committed")).toBe(true);
    expect(heard).toEqual(["committed"]);
  },
);
