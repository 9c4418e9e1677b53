// Two Bosun processes on one Postgres database: a deploy_worker, set_worker_var, rollback_worker or delete_worker
// on one reaches the other's workerd at once (LISTEN/NOTIFY → a new generation from the database). Only
// meaningful on Postgres: an embedded database has one process.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import pino from "pino";
import { afterAll, expect, it } from "vitest";
import { memoryWorkerResources } from "../../testkit/worker-resources.ts";
import { credit } from "../billing/ledger.ts";
import { createAccount } from "../identity/accounts.ts";
import { operatorPrincipal } from "../identity/bootstrap.ts";
import { mintToken } from "../identity/tokens.ts";
import { invoke } from "../kernel/invoker.ts";
import { createPlatform, type Platform } from "../platform.ts";

const url = process.env.DATABASE_URL;
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
}, 30_000);

it.skipIf(!url?.startsWith("postgres"))(
  "deploy_worker, set_worker_var, rollback_worker and delete_worker on one process reach another's runtime (skipped on PGlite: one process)",
  async () => {
    const name = `bosun_test_${crypto.randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    cleanup.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    });
    const target = new URL(url ?? "");
    target.pathname = `/${name}`;
    const open = () =>
      createPlatform({
        databaseUrl: target.toString(),
        // Each process its own data directory, as two nodes would have.
        config: { dataDir: fs.mkdtempSync(path.join(os.tmpdir(), "bosun-wkr-mp-")) },
        log: pino({ level: "silent" }),
        workerResources: memoryWorkerResources(),
      });
    const a: Platform = await open();
    cleanup.push(() => a.close());
    const b: Platform = await open();
    cleanup.push(() => b.close());

    const account = await createAccount(a.db, { email: "w@example.test", name: "w", password: "long-enough-pw" });
    await credit(a.db, { accountId: account.id, pool: "wallet", amount: 10_000_000, reason: "top_up" });
    const minter = {
      ...operatorPrincipal(account.id, account.email),
      account: { id: account.id, email: account.email, isOperator: false },
    };
    const { token } = await mintToken(a.db, minter, { name: "w", scopes: ["*"] });
    const me = await a.auth.principal(token, "rest", null);
    const call = (op: string, input: Record<string, unknown>) => invoke(a, op, input, me);
    await call("create_project", { slug: "mpx", name: "mpx", kind: "site" });
    const code = (word: string) =>
      `export default { fetch(req, env) { return new Response("${word}:" + (env.COLOR ?? "none")); } };`;
    const deploy = (word: string) =>
      call("deploy_worker", {
        project: "mpx",
        worker: "api",
        modules: [{ name: "index.js", content: code(word) }],
        main_module: "index.js",
      });
    const onB = async () => {
      const res = await b.workers.serve("mpx", "api", new Request("http://api.mpx.localhost/"));
      return `${res.status} ${await res.text()}`;
    };
    /** NOTIFY and the new generation are asynchronous: wait a bounded time for B to answer `want`. */
    const untilB = async (want: string) => {
      let got = "";
      for (let i = 0; i < 200 && got !== want; i++) {
        got = await onB();
        if (got !== want) await new Promise((r) => setTimeout(r, 50));
      }
      return got;
    };

    await deploy("v1");
    expect(await onB()).toBe("200 v1:none"); // B starts its runtime from the database

    await deploy("v2");
    expect(await untilB("200 v2:none")).toBe("200 v2:none");

    await call("set_worker_var", { project: "mpx", worker: "api", name: "COLOR", value: "blue" });
    expect(await untilB("200 v2:blue")).toBe("200 v2:blue");

    await call("rollback_worker", { project: "mpx", worker: "api" });
    expect(await untilB("200 v1:blue")).toBe("200 v1:blue");

    await call("delete_worker", { project: "mpx", worker: "api" });
    expect(await untilB("404")).toMatch(/^404/);
  },
  120_000,
);
