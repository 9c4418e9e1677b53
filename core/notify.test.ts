// Two Bosun processes on one Postgres: a token revoked on one fails at once on the other, although the
// other had it cached. (Only meaningful on Postgres: an embedded database has one process.)
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { createAccount } from "./identity/accounts.ts";
import { operatorPrincipal } from "./identity/bootstrap.ts";
import { mintToken } from "./identity/tokens.ts";
import { invoke } from "./invoker.ts";
import { createPlatform, type Platform } from "./platform.ts";

const url = process.env.DATABASE_URL;
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

it.skipIf(!url?.startsWith("postgres"))("a revocation on one process reaches another's token cache at once", async () => {
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
  const minter = { ...operatorPrincipal(account.id, account.email), account: { id: account.id, email: account.email, isOperator: false } };
  const { token: manager } = await mintToken(a.db, minter, { name: "m", scopes: ["tokens:write", "projects:read"] });
  const { token: victim, id } = await mintToken(a.db, minter, { name: "v", scopes: ["projects:read"] });

  const onB = await b.auth.principal(victim, "rest", null); // cached on B now
  await expect(invoke(b, "list_projects", {}, onB)).resolves.toMatchObject({ projects: [] });

  await invoke(a, "revoke_api_token", { id }, await a.auth.principal(manager, "rest", null));
  // NOTIFY is asynchronous: give it a bounded moment to arrive.
  for (let i = 0; i < 50; i++) {
    const rejected = await b.auth.principal(victim, "rest", null).then(() => false, () => true);
    if (rejected) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await expect(b.auth.principal(victim, "rest", null)).rejects.toMatchObject({ code: "unauthorized" });
  await expect(invoke(b, "list_projects", {}, onB)).rejects.toMatchObject({ code: "unauthorized" });
});
