// Security limits counted in the database: one window per key, shared by every process on it. The window
// logic runs on PGlite and Postgres; two processes on one Postgres share the login limit.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshPostgresDatabase, startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { createAccount } from "../identity/accounts.ts";
import { createPlatform, type Platform } from "../platform.ts";
import { invoke } from "./invoker.ts";
import { anonymous } from "./operation.ts";
import { SharedRateLimiter } from "./rate-limit.ts";

const url = process.env.DATABASE_URL;
let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

describe("SharedRateLimiter", () => {
  it("counts takes per key in one window and refuses past the limit with a retry time", async () => {
    const limiter = t.platform.securityLimiter;
    const key = `test:${crypto.randomUUID()}`;
    const states = [];
    for (let i = 0; i < 4; i++) states.push(await limiter.take(key, 3));
    expect(states.map((s) => s.allowed)).toEqual([true, true, true, false]);
    expect(states.map((s) => s.remaining)).toEqual([2, 1, 0, 0]);
    expect(states[3]!.retryAfter).toBeGreaterThanOrEqual(1);
    expect(states[3]!.retryAfter).toBeLessThanOrEqual(60);
    expect(states[3]!.reset).toBe(states[0]!.reset); // the window started at the first take, not the last
    // Another key has its own window.
    expect((await limiter.take(`${key}:other`, 3)).remaining).toBe(2);
  });

  it("starts a new window once the old one ended, and prunes ended windows", async () => {
    const limiter = new SharedRateLimiter(t.platform.db, 300);
    const key = `short:${crypto.randomUUID()}`;
    expect((await limiter.take(key, 1)).allowed).toBe(true);
    expect((await limiter.take(key, 1)).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 400));
    expect((await limiter.take(key, 1)).allowed).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(await limiter.prune()).toBeGreaterThanOrEqual(1);
    const left = await t.platform.db.selectFrom("rate_limits").select("key").where("key", "=", key).execute();
    expect(left).toEqual([]);
  });

  it("counts exactly under concurrent takes", async () => {
    const key = `burst:${crypto.randomUUID()}`;
    const states = await Promise.all(Array.from({ length: 20 }, () => t.platform.securityLimiter.take(key, 5)));
    expect(states.filter((s) => s.allowed)).toHaveLength(5);
  });
});

describe.skipIf(!url?.startsWith("postgres"))("two processes on one Postgres", () => {
  const platforms: Platform[] = [];
  let drop: () => Promise<void>;
  let dataDir: string;
  beforeAll(async () => {
    const db = await freshPostgresDatabase(url!);
    drop = db.drop;
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-limits-"));
    for (let i = 0; i < 2; i++) {
      platforms.push(
        await createPlatform({
          databaseUrl: db.url,
          config: { dataDir, authRateLimitPerMinute: 3 },
          log: pino({ level: "silent" }),
        }),
      );
    }
  });
  afterAll(async () => {
    for (const p of platforms) await p.close();
    await drop?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("share the login limit: three attempts in all, not three per process", async () => {
    const [a, b] = platforms as [Platform, Platform];
    const account = await createAccount(a.db, {
      email: "limits@example.test",
      name: "l",
      password: "the right password",
    });
    const from = (ip: string) => anonymous("rest", ip);
    const attempt = (p: Platform, password: string, ip = "198.51.100.20") =>
      invoke(p, "login", { email: account.email, password }, from(ip)).then(
        () => "ok",
        (e: { code: string }) => e.code,
      );
    expect(await attempt(a, "wrong 1")).toBe("unauthorized");
    expect(await attempt(b, "wrong 2")).toBe("unauthorized");
    expect(await attempt(a, "wrong 3")).toBe("unauthorized");
    // Per process, each would have allowed three: both refuse now, even the right password.
    expect(await attempt(b, "the right password")).toBe("rate_limited");
    expect(await attempt(a, "the right password")).toBe("rate_limited");
    // Another client address is not affected, on either process.
    expect(await attempt(b, "the right password", "198.51.100.21")).toBe("ok");
  });

  it("share any security limit key (pairing codes, form posts) across processes", async () => {
    const [a, b] = platforms as [Platform, Platform];
    const key = `site-form:${crypto.randomUUID()}`;
    const allowed = [];
    for (let i = 0; i < 6; i++) allowed.push((await (i % 2 ? a : b).securityLimiter.take(key, 4)).allowed);
    expect(allowed).toEqual([true, true, true, true, false, false]);
  });
});
