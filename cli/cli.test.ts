// The `bosun` command as a person or a script runs it: a real child process (`node bin/bosun.js ...`) on a
// temporary data dir. Embedded PGlite unless a test deliberately points a child at Postgres.
import { type ChildProcess, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "../core/secrets.ts";
import { isPostgresUrl, openDatabase } from "../schema/open-database.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "bin/bosun.js");
const STACK_FRAME = /^\s+at .+[(:]\d+/m;

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-cli-"));
  tempDirs.push(dir);
  return dir;
}

/** The child's environment: this data dir, no database, server or token unless given. */
function childEnv(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BOSUN_DATA_DIR: dataDir, BOSUN_LOG_LEVEL: "warn" };
  for (const key of ["DATABASE_URL", "BOSUN_URL", "BOSUN_TOKEN", "BOSUN_PORT", "BOSUN_HOST", "BOSUN_ADMIN_EMAIL"])
    delete env[key];
  return { ...env, ...extra };
}

function spawnBosun(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; kills it and fails if it takes longer than timeoutMs. */
// Bounds, not speed checks: each command starts Node, tsx and (often) an embedded database with every migration.
function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<RunResult> {
  const child = spawnBosun(args, env);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`bosun ${args.join(" ")} did not finish in ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `bosun serve`, with its output kept for inspection. */
class Serve {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  private exited: Promise<number | null>;

  constructor(
    readonly port: number,
    env: NodeJS.ProcessEnv,
  ) {
    this.child = spawnBosun(["serve", "--port", String(port)], env);
    this.child.stdout!.setEncoding("utf8").on("data", (d) => (this.stdout += d));
    this.child.stderr!.setEncoding("utf8").on("data", (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Waits until stderr matches (e.g. the "listening" line); fails on exit or after timeoutMs. */
  async ready(timeoutMs = 60_000): Promise<this> {
    const deadline = Date.now() + timeoutMs;
    while (!/Bosun is listening on /.test(this.stderr)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `bosun serve exited (${this.child.exitCode ?? this.child.signalCode}) before listening:\n${this.stderr}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`bosun serve did not listen in ${timeoutMs} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this;
  }

  /** SIGTERM, then SIGKILL if it has not exited in timeoutMs. Resolves with the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const outcome = await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      this.child.kill("SIGKILL");
      await this.exited;
      throw new Error(`bosun serve did not stop on SIGTERM in ${timeoutMs} ms`);
    }
    return outcome;
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function getJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

afterEach(() => {
  // Whatever a failed test left running does not outlive it (the serve suite's server is stopped in its afterAll).
  for (const child of children) if (!child.spawnargs.includes("serve")) child.kill("SIGKILL");
});

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe("local commands", () => {
  it("token create on an empty data dir creates the owner and prints only the token on stdout", async () => {
    const dataDir = tempDataDir();
    const first = await run(["token", "create", "--name", "x", "--scopes", "projects:read"], childEnv(dataDir));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^bsn_[A-Za-z0-9_-]{43}\n$/);
    expect(first.stderr).toMatch(/created the owner account admin@localhost \(password: \S+\)/);
    expect(first.stderr).not.toContain(first.stdout.trim());

    const second = await run(["token", "create", "--name", "y", "--preset", "viewer"], childEnv(dataDir));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^bsn_[A-Za-z0-9_-]{43}\n$/);
    expect(second.stdout).not.toBe(first.stdout);
    expect(second.stderr).not.toContain("created the owner");

    // The printed secret is a real token of the owner, stored only as its hash.
    const opened = await openDatabase({ dataDir });
    try {
      const row = await opened.db
        .selectFrom("api_tokens")
        .innerJoin("accounts", "accounts.id", "api_tokens.account_id")
        .select(["api_tokens.name", "api_tokens.scopes", "accounts.email", "accounts.is_operator"])
        .where("token_hash", "=", sha256(first.stdout.trim()))
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ name: "x", scopes: ["projects:read"], email: "admin@localhost", is_operator: true });
      expect(await opened.db.selectFrom("accounts").select("id").execute()).toHaveLength(1);
    } finally {
      await opened.close();
    }
  }, 120_000);

  it("a refused command prints one clean line on stderr and exits 1", async () => {
    const dataDir = tempDataDir();
    const bad = await run(["token", "create", "--name", "x", "--scopes", "projects:fly"], childEnv(dataDir));
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/^bosun: .*projects:fly/m);
    expect(bad.stderr).not.toMatch(STACK_FRAME);
    const port = await run(["serve", "--port", "not-a-port"], childEnv(dataDir));
    expect(port.code).toBe(1);
    expect(port.stderr).toBe("bosun: --port must be a port number, not 'not-a-port'\n");
  }, 120_000);

  it("bosun call to a server that is not there says where it tried and what to check", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const down = await run(["call", "list_projects"], { ...childEnv(tempDataDir()), BOSUN_URL: url });
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(
      `bosun: cannot reach Bosun at ${url} (ECONNREFUSED); is \`bosun serve\` running, and is BOSUN_URL right?\n`,
    );
  }, 120_000);

  it("openapi and openapi --version 3.0 print valid documents", async () => {
    const dataDir = tempDataDir();
    for (const [args, version] of [
      [["openapi"], "3.1.0"],
      [["openapi", "--version", "3.0"], "3.0.3"],
    ] as const) {
      const res = await run([...args], childEnv(dataDir));
      expect(res.code, res.stderr).toBe(0);
      const doc = JSON.parse(res.stdout);
      expect(doc.openapi).toBe(version);
      expect(doc.paths["/v1/projects"].post.operationId).toBe("create_project");
      await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
    }
    // It reads no database: nothing was created in the data dir.
    expect(fs.readdirSync(dataDir)).toEqual([]);
  }, 120_000);

  it("migrate brings a fresh data dir to the newest schema, and is a no-op the second time", async () => {
    const dataDir = tempDataDir();
    const first = await run(["migrate"], childEnv(dataDir));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("");
    expect(first.stderr).toMatch(/migrating 1\/\d+: 0001-spine/);
    expect(first.stderr).toContain("the database schema is up to date");
    const again = await run(["migrate"], childEnv(dataDir));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("migrating");
    expect(again.stderr).toContain("the database schema is up to date");
    expect(fs.existsSync(path.join(dataDir, "db.lock"))).toBe(false);
  }, 120_000);
});

describe("bosun serve and bosun call", () => {
  let dataDir: string;
  let server: Serve;
  let adminToken: string;
  const cli = (extra: Record<string, string> = {}) =>
    childEnv(dataDir, { BOSUN_URL: server.url, BOSUN_TOKEN: adminToken, ...extra });

  beforeAll(async () => {
    dataDir = tempDataDir();
    server = await new Serve(await freePort(), childEnv(dataDir)).ready();
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  }, 30_000);

  it("on first start prints the admin token once, writes <datadir>/admin-token 0600, and answers /healthz", async () => {
    const shown = [...server.stderr.matchAll(/admin token: (bsn_[A-Za-z0-9_-]{43})/g)];
    expect(shown).toHaveLength(1);
    adminToken = shown[0]![1]!;
    expect(server.stderr.split(adminToken)).toHaveLength(2); // printed exactly once
    expect(server.stdout).not.toContain(adminToken);

    const file = path.join(dataDir, "admin-token");
    expect(fs.readFileSync(file, "utf8")).toBe(`${adminToken}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    expect(await getJson(`${server.url}/healthz`)).toEqual({ status: 200, body: { ok: true, database: "pglite" } });
    const me = await getJson(`${server.url}/v1/me`, adminToken);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ account: { email: "admin@localhost" } });
  }, 120_000);

  it("a second serve, migrate or token create on the held data dir fails, naming the holder process", async () => {
    const holder = new RegExp(
      `^bosun: the embedded database in ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by process ${server.pid}\\b`,
      "m",
    );
    const attempts = [
      ["serve", "--port", String(await freePort())],
      ["migrate"],
      ["token", "create", "--name", "x", "--scopes", "projects:read"],
    ];
    for (const args of attempts) {
      const res = await run(args, childEnv(dataDir));
      expect(res.code, args.join(" ")).toBe(1);
      expect(res.stderr, args.join(" ")).toMatch(holder);
      expect(res.stderr, args.join(" ")).not.toMatch(STACK_FRAME);
      expect(res.stdout, args.join(" ")).toBe("");
    }
    // The holder is unharmed.
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200);
    expect(JSON.parse(fs.readFileSync(path.join(dataDir, "db.lock"), "utf8")).pid).toBe(server.pid);
  }, 180_000);

  it("serve on a port that is taken fails with one clean line and leaves the data dir unlocked", async () => {
    const otherDir = tempDataDir();
    const res = await run(["serve", "--port", String(server.port)], childEnv(otherDir));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`^bosun: cannot listen on 127\\.0\\.0\\.1:${server.port}: .*EADDRINUSE`, "m"),
    );
    expect(res.stderr).not.toMatch(STACK_FRAME);
    expect(fs.existsSync(path.join(otherDir, "db.lock"))).toBe(false);
  }, 120_000);

  it("bosun call with no operation lists the operations", async () => {
    const res = await run(["call"], cli());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^bosun call <operation>/);
    for (const id of ["create_project", "list_projects", "list_audit_events", "login", "list_scopes"]) {
      expect(res.stdout).toMatch(new RegExp(`^  ${id} +\\S`, "m"));
    }
  }, 120_000);

  it("bosun call create_project --help shows its fields", async () => {
    const res = await run(["call", "create_project", "--help"], cli());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain("bosun call create_project — Create a project");
    expect(res.stdout).toContain("scope: projects:write · write · POST /v1/projects");
    expect(res.stdout).toMatch(/--slug +string \(required\)/);
    expect(res.stdout).toMatch(/--name +string \(required\)/);
    expect(res.stdout).toMatch(/--kind +string \(required\) one of site, instance/);
    expect(res.stdout).toContain("--idempotency-key");
  }, 120_000);

  it("bosun call create_project against the server prints the project and exits 0", async () => {
    const res = await run(["call", "create_project", "--slug", "cli-site", "--name", "N", "--kind", "site"], cli());
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ slug: "cli-site", name: "N", kind: "site", role: "owner" });
    const got = await run(["call", "get_project", "--project", "cli-site"], cli());
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout).slug).toBe("cli-site");
  }, 120_000);

  it("a failing call exits non-zero and prints the error JSON; the audit shows surface cli", async () => {
    const dup = await run(["call", "create_project", "--slug", "cli-site", "--name", "N", "--kind", "site"], cli());
    expect(dup.code).toBe(1);
    expect(JSON.parse(dup.stdout)).toMatchObject({ error: { code: "conflict" } });

    const anonymous = await run(["call", "list_projects"], cli({ BOSUN_TOKEN: "" }));
    expect(anonymous.code).toBe(1);
    expect(JSON.parse(anonymous.stdout).error.code).toBe("unauthorized");

    const invalid = await run(
      ["call", "create_project", "--slug", "Not_A_Slug", "--name", "N", "--kind", "site"],
      cli(),
    );
    expect(invalid.code).toBe(1);
    expect(JSON.parse(invalid.stdout).error).toMatchObject({ code: "validation_error", issues: [{ path: "slug" }] });

    const audit = await run(["call", "list_audit_events", "--operation", "create_project"], cli());
    expect(audit.code, audit.stderr).toBe(0);
    const events = JSON.parse(audit.stdout).events as { surface: string; outcome: string; project: string | null }[];
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ surface: "cli", outcome: "ok", project: "cli-site" }),
        expect.objectContaining({ surface: "cli", outcome: "conflict" }),
        expect.objectContaining({ surface: "cli", outcome: "validation_error" }),
      ]),
    );
    expect(events.every((e) => e.surface === "cli")).toBe(true);
  }, 120_000);

  it("a second start on the same data dir does not print a token again", async () => {
    expect(await server.stop()).toBe(0);
    expect(fs.existsSync(path.join(dataDir, "db.lock"))).toBe(false);
    const tokenFile = fs.readFileSync(path.join(dataDir, "admin-token"), "utf8");

    server = await new Serve(await freePort(), childEnv(dataDir)).ready();
    expect(server.stderr).not.toContain("admin token");
    expect(server.stderr).not.toMatch(/bsn_|password/);
    expect(fs.readFileSync(path.join(dataDir, "admin-token"), "utf8")).toBe(tokenFile);
    // Same data: the first token still works and the project is still there.
    const projects = await getJson(`${server.url}/v1/projects`, adminToken);
    expect(projects.status).toBe(200);
    expect(projects.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["cli-site"]);
  }, 180_000);
});

describe.runIf(isPostgresUrl(process.env.DATABASE_URL))("on Postgres (DATABASE_URL)", () => {
  const name = `bosun_cli_${crypto.randomBytes(6).toString("hex")}`;
  let url: string;
  const servers: Serve[] = [];

  async function admin(sql: string) {
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${name}`);
    const target = new URL(process.env.DATABASE_URL!);
    target.pathname = `/${name}`;
    url = target.toString();
  });
  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => {});
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }, 120_000);

  it("migrate, and two servers sharing one database: the first prints the token, the second does not", async () => {
    const migrated = await run(["migrate"], childEnv(tempDataDir(), { DATABASE_URL: url }));
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stderr).toContain("the database schema is up to date");

    // Both processes need the same master key to read each other's encrypted secrets.
    const masterKey = crypto.randomBytes(32).toString("base64");
    const first = new Serve(
      await freePort(),
      childEnv(tempDataDir(), { DATABASE_URL: url, BOSUN_MASTER_KEY: masterKey }),
    );
    servers.push(first);
    await first.ready();
    const token = /admin token: (bsn_\S+)/.exec(first.stderr)?.[1];
    expect(token).toBeTruthy();

    const second = new Serve(
      await freePort(),
      childEnv(tempDataDir(), { DATABASE_URL: url, BOSUN_MASTER_KEY: masterKey }),
    );
    servers.push(second);
    await second.ready();
    expect(second.stderr).not.toContain("admin token");
    expect(await getJson(`${second.url}/healthz`)).toEqual({ status: 200, body: { ok: true, database: "postgres" } });

    const created = await run(
      ["call", "create_project", "--slug", "pg-cli-site", "--name", "P", "--kind", "site"],
      childEnv(tempDataDir(), { BOSUN_URL: second.url, BOSUN_TOKEN: token! }),
    );
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout).slug).toBe("pg-cli-site");
    const listed = await getJson(`${first.url}/v1/projects`, token);
    expect(listed.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["pg-cli-site"]);
  }, 240_000);

  it("both servers survive their database connections being cut, and revocations still reach the other", async () => {
    const [first, second] = servers;
    expect(first && second, "needs the servers of the previous test").toBeTruthy();
    const token = /admin token: (bsn_\S+)/.exec(first!.stderr)![1]!;
    const listeners = async () => {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      try {
        const r = await client.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
          [name],
        );
        return r.rows[0].n as number;
      } finally {
        await client.end();
      }
    };
    expect(await listeners()).toBe(2);

    // What a Postgres restart does to every connection of this database, LISTEN ones included.
    await admin(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`,
    );
    await new Promise((r) => setTimeout(r, 500));
    for (const s of [first!, second!]) {
      expect(s.child.exitCode, s.stderr).toBeNull();
      expect((await getJson(`${s.url}/healthz`)).status).toBe(200);
    }
    // Each listens again; then a token cached on the first and revoked on the second fails on the first at once.
    for (let i = 0; i < 100 && (await listeners()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await listeners()).toBe(2);
    const minted = await fetch(`${first!.url}/v1/tokens`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "victim", scopes: ["projects:read"] }),
      signal: AbortSignal.timeout(10_000),
    }).then((r) => r.json());
    expect((await getJson(`${first!.url}/v1/projects`, minted.token)).status).toBe(200); // cached on the first
    const revoked = await fetch(`${second!.url}/v1/tokens/${minted.id}`, {
      method: "DELETE",
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(revoked.status).toBe(200);
    let status = 200;
    for (let i = 0; i < 50 && status === 200; i++) {
      status = (await getJson(`${first!.url}/v1/projects`, minted.token)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe(401);
  }, 120_000);
});
