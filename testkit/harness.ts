// The test harness: boots the real platform and app on a real database — a throwaway PGlite by default, a
// fresh database on the Postgres of DATABASE_URL when set — and mints accounts and tokens with exactly the
// scopes a test needs.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Hono } from "hono";
import pg from "pg";
import pino from "pino";
import type { Config } from "../core/config.ts";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { tokenFromLink } from "../core/identity/one-time.ts";
import { mintToken } from "../core/identity/tokens.ts";
import type { Operation } from "../core/kernel/operation.ts";
import { createPlatform, type Platform, type PlatformOptions } from "../core/platform.ts";
import { type AppOptions, createApp } from "../http/app.ts";
import { isPostgresUrl, type OpenedDatabase, openDatabase } from "../schema/open-database.ts";

export interface TestAccount {
  id: string;
  email: string;
  password: string;
  /** Mints a token for this account with exactly these scopes. */
  token(scopes: string[], opts?: { projects?: string[]; expiresInDays?: number }): Promise<string>;
}

export interface TestPlatform {
  platform: Platform;
  app: Hono;
  dataDir: string;
  /** The database's URL: on Postgres, a second platform (another process's) can open the same database. */
  databaseUrl: string;
  /** The platform operator (is_operator), as created on first start. */
  operator: TestAccount;
  account(opts?: { email?: string; operator?: boolean }): Promise<TestAccount>;
  /** A REST call through the real app (in-process fetch). JSON bodies are sent as JSON. */
  request(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<TestResponse>;
  /**
   * Makes `member` a member of `project` the only way there is: `inviterToken` invites, the member accepts. With SMTP
   * configured the link is emailed: `readLink` fetches it from the test's mailbox.
   */
  addMember(
    project: string,
    inviterToken: string,
    member: { email: string },
    role: string,
    readLink?: (email: string) => Promise<string>,
  ): Promise<void>;
  close(): Promise<void>;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: any;
}

/** A fresh database on the Postgres server of DATABASE_URL, so test files never share state. */
export async function freshPostgresDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `bosun_test_${crypto.randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    url: target.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** An empty database, unmigrated (migration tests): a fresh one on DATABASE_URL's server, else in-memory PGlite.
 *  `close` closes it and drops it. */
export async function openBareTestDatabase(): Promise<OpenedDatabase> {
  const envUrl = process.env.DATABASE_URL;
  const fresh = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  const opened = await openDatabase({ url: fresh?.url ?? "memory://" });
  return {
    ...opened,
    close: async () => {
      await opened.close();
      await fresh?.drop();
    },
  };
}

export async function startTestPlatform(
  opts: {
    config?: Partial<Config>;
    app?: AppOptions;
    operations?: Operation[];
    workerResources?: PlatformOptions["workerResources"];
  } = {},
): Promise<TestPlatform> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-test-"));
  const envUrl = process.env.DATABASE_URL;
  const pgdb = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  const platform = await createPlatform({
    databaseUrl: pgdb?.url ?? "memory://",
    config: {
      dataDir,
      allowRegistration: true,
      rateLimitPerMinute: 100_000,
      authRateLimitPerMinute: 1000,
      ...opts.config,
    },
    log: pino({ level: process.env.BOSUN_TEST_LOG ?? "silent" }),
    operations: opts.operations,
    workerResources: opts.workerResources,
  });
  const app = createApp(platform, opts.app);

  const account = async (o: { email?: string; operator?: boolean } = {}): Promise<TestAccount> => {
    const email = o.email ?? `user-${crypto.randomBytes(4).toString("hex")}@example.test`;
    const password = `pw-${crypto.randomBytes(8).toString("hex")}`;
    // Verified: an established account, as if it had followed its link long ago (and so without trial credit).
    const row = await createAccount(platform.db, {
      email,
      name: email.split("@")[0]!,
      password,
      isOperator: o.operator,
      emailVerified: true,
    });
    const minter = { ...operatorPrincipal(row.id, email), account: { id: row.id, email, isOperator: !!o.operator } };
    return {
      id: row.id,
      email,
      password,
      token: async (scopes, t = {}) =>
        (
          await mintToken(platform.db, minter, {
            name: "test",
            scopes,
            projects: t.projects,
            expiresInDays: t.expiresInDays,
          })
        ).token,
    };
  };

  const request: TestPlatform["request"] = async (method, url, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.token) headers.Authorization = `Bearer ${o.token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      body = typeof o.body === "string" ? o.body : JSON.stringify(o.body);
      headers["Content-Type"] ??= "application/json";
    }
    const res = await app.request(url, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* keep text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };

  const addMember: TestPlatform["addMember"] = async (project, inviterToken, member, role, readLink) => {
    const invited = await request("POST", `/v1/projects/${project}/invitations`, {
      token: inviterToken,
      body: { email: member.email, role },
    });
    if (invited.status !== 201) throw new Error(`invite_member: ${invited.status} ${JSON.stringify(invited.body)}`);
    const token = tokenFromLink(invited.body.invitation_link ?? (await readLink!(member.email)));
    const accepted = await request("POST", "/v1/auth/accept-invitation", { body: { token } });
    if (accepted.status !== 200)
      throw new Error(`accept_invitation: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  };

  const operator = await account({ email: "operator@example.test", operator: true });
  return {
    addMember,
    platform,
    app,
    dataDir,
    databaseUrl: pgdb?.url ?? "memory://",
    operator,
    account,
    request,
    close: async () => {
      await platform.close();
      await pgdb?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
