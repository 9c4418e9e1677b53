// `npm run bench instances`: run_command("true") round trips per second on one instance (a real OpenSSH sshd
// on 127.0.0.1, the testkit fixture), one command at a time, in the same run:
//   pooled     run_command through the invoker (auth, scope, validation, audit record) over Bosun's pooled connection
//   pool only  the same command over the pooled connection, without the operation around it
//   ssh -S     OpenSSH's client through a ControlMaster socket (a multiplexed, already-authenticated connection)
//   fresh ssh  a new `ssh` process and connection per command
// plus the pooled operation with 8 callers at once. Goal: pooled ≥ 3× ControlMaster, and ≥ 10× fresh ssh.
// Needs root (the fixture creates a throwaway user). Env: BENCH_SECONDS (3 per case), BENCH_ROUNDS (3).
import { execFile, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { createAccount } from "../core/identity/accounts.ts";
import { operatorPrincipal } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { runRemote } from "../core/instances/commands.ts";
import { targetOf } from "../core/instances/reach.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { createPlatform } from "../core/platform.ts";
import { isPostgresUrl } from "../schema/open-database.ts";
import { freshPostgresDatabase } from "../testkit/harness.ts";
import { startSshd } from "../testkit/sshd.ts";

const run = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const GOALS = { vsControlMaster: 3, vsFresh: 10 }; // vs ControlMaster: issue 19

type Case = { name: string; concurrency: number; once: () => Promise<void>; ok: number; ms: number; lat: number[] };

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

export default async function main() {
  const envUrl = process.env.DATABASE_URL;
  const pgdb = isPostgresUrl(envUrl) ? await freshPostgresDatabase(envUrl) : null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-instances-"));
  const sshd = await startSshd();
  const closers: (() => Promise<unknown>)[] = [() => sshd.stop()];
  try {
    const platform = await createPlatform({
      databaseUrl: pgdb?.url ?? "memory://",
      config: { dataDir, egressAllowPrivate: true, metricsIntervalSeconds: 0, rateLimitPerMinute: 1_000_000_000 },
      log: pino({ level: "warn" }),
    });
    closers.unshift(() => platform.close());

    const email = `bench-${crypto.randomBytes(3).toString("hex")}@example.test`;
    const account = await createAccount(platform.db, {
      email,
      name: "bench",
      password: crypto.randomBytes(12).toString("base64url"),
    });
    const minter = {
      ...operatorPrincipal(account.id, email),
      account: { id: account.id, email, isOperator: false },
      scopes: ["*"],
    };
    const { token } = await mintToken(platform.db, minter, { name: "bench", scopes: ["projects:*", "instances:*"] });
    const principal = await platform.auth.principal(token, "cli", null);
    await invoke(platform, "create_project", { slug: "bench-srv", name: "Bench", kind: "instance" }, principal);
    await invoke(
      platform,
      "register_instance",
      {
        project: "bench-srv",
        name: "box",
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        private_key: sshd.privateKey,
      },
      principal,
    );
    await invoke(platform, "test_instance_connection", { project: "bench-srv", instance: "box" }, principal);
    const row = await platform.db
      .selectFrom("instances")
      .selectAll()
      .where("name", "=", "box")
      .executeTakeFirstOrThrow();
    const target = targetOf(platform, row);

    // OpenSSH client setup: the fixture's key, the pinned host key, no prompts.
    const sshDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-bench-ssh-"));
    closers.push(async () => fs.rmSync(sshDir, { recursive: true, force: true }));
    const keyFile = path.join(sshDir, "id");
    fs.writeFileSync(keyFile, sshd.privateKey, { mode: 0o600 });
    const knownHosts = path.join(sshDir, "known_hosts");
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKeyLine()}\n`);
    const control = path.join(sshDir, "cm.sock");
    const base = [
      "-i",
      keyFile,
      "-p",
      String(sshd.port),
      "-o",
      `UserKnownHostsFile=${knownHosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
      "-o",
      "IdentitiesOnly=yes",
      "-F",
      "/dev/null",
    ];
    const dest = `${sshd.username}@127.0.0.1`;
    const master = spawn("ssh", [...base, "-M", "-S", control, "-N", dest], { stdio: "ignore" });
    closers.unshift(async () => {
      master.kill();
    });
    for (let i = 0; i < 100 && !fs.existsSync(control); i++) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(control)) throw new Error(`the ControlMaster did not start: ${sshd.log().slice(-500)}`);

    const expectTrue = async (p: Promise<{ stdout: string }>) => {
      await p;
    };
    const cases: Case[] = [
      {
        name: "pooled run_command (operation)",
        concurrency: 1,
        once: async () => {
          const r = (await invoke(
            platform,
            "run_command",
            { project: "bench-srv", instance: "box", command: "true" },
            principal,
          )) as { exit_code: number };
          if (r.exit_code !== 0) throw new Error(`exit ${r.exit_code}`);
        },
      },
      {
        name: "pooled, pool only (no operation)",
        concurrency: 1,
        once: async () => {
          const r = await runRemote(platform.instances.pool, target, { command: "true", timeoutMs: 10_000 });
          if (r.exit_code !== 0) throw new Error(`exit ${r.exit_code}`);
        },
      },
      {
        name: "ssh -S ControlMaster",
        concurrency: 1,
        once: () => expectTrue(run("ssh", [...base, "-S", control, dest, "true"])),
      },
      {
        name: "fresh ssh per command",
        concurrency: 1,
        once: () => expectTrue(run("ssh", [...base, "-o", "ControlMaster=no", "-o", "ControlPath=none", dest, "true"])),
      },
      {
        name: "pooled run_command, 8 at once",
        concurrency: 8,
        once: async () => {
          const r = (await invoke(
            platform,
            "run_command",
            { project: "bench-srv", instance: "box", command: "true" },
            principal,
          )) as { exit_code: number };
          if (r.exit_code !== 0) throw new Error(`exit ${r.exit_code}`);
        },
      },
    ].map((c) => ({ ...c, ok: 0, ms: 0, lat: [] }));

    const drive = async (c: Case, ms: number, measure: boolean) => {
      const end = performance.now() + ms;
      const started = performance.now();
      let ok = 0;
      const lat: number[] = [];
      await Promise.all(
        Array.from({ length: c.concurrency }, async () => {
          while (performance.now() < end) {
            const t0 = performance.now();
            await c.once();
            lat.push(performance.now() - t0);
            ok++;
          }
        }),
      );
      if (measure) {
        c.ok += ok;
        c.ms += performance.now() - started;
        c.lat.push(...lat);
      }
    };

    process.stdout.write(
      `Bosun bench: run_command("true") round trips on one instance (OpenSSH ${(await run("ssh", ["-V"]).catch((e) => e)).stderr?.trim() ?? ""} sshd on 127.0.0.1)\n` +
        `  database: ${pgdb ? "Postgres (fresh database)" : "embedded PGlite"}; ${seconds} s per case in ${rounds} interleaved rounds\n` +
        `  machine:  ${os.cpus().length} CPU(s), Node ${process.version}\n\n`,
    );
    process.stderr.write("warming up…\n");
    for (const c of cases) await drive(c, 300, false);
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`round ${round + 1}/${rounds}…\n`);
      const order = cases.map((_, i) => cases[(i + round) % cases.length]!);
      for (const c of order) await drive(c, (seconds * 1000) / rounds, true);
    }

    const rps = (c: Case) => (c.ok * 1000) / c.ms;
    const pct = (c: Case, p: number) => {
      const s = [...c.lat].sort((a, b) => a - b);
      return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
    };
    const [pooled, , cm, fresh] = cases;
    const rows = [["case", "cmds/s", "p50 ms", "p99 ms", "vs ssh -S", "vs fresh ssh"]];
    for (const c of cases) {
      rows.push([
        c.name,
        fmt(rps(c)),
        fmt(pct(c, 50), 2),
        fmt(pct(c, 99), 2),
        fmt(rps(c) / rps(cm!), 2),
        fmt(rps(c) / rps(fresh!), 1),
      ]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        `${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")}\n`,
      );
    const vsCm = rps(pooled!) / rps(cm!);
    const vsFresh = rps(pooled!) / rps(fresh!);
    process.stdout.write(
      `\npooled operation vs ControlMaster: ${fmt(vsCm, 2)} (goal ≥ ${GOALS.vsControlMaster}) ${vsCm >= GOALS.vsControlMaster ? "ok" : "MISSED"}\n` +
        `pooled operation vs fresh ssh:     ${fmt(vsFresh, 1)} (goal ≥ ${GOALS.vsFresh}) ${vsFresh >= GOALS.vsFresh ? "ok" : "MISSED"}\n`,
    );
  } finally {
    for (const close of closers) await close().catch((err) => process.stderr.write(`cleanup failed: ${err.stack}\n`));
    await pgdb?.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}
