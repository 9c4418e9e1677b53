// workerd processes do not outlive Bosun: setpriv's parent-death signal kills them with it, and the pid files let
// the next start kill what a Bosun without setpriv left behind.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { freePort, sweepOrphans, workerdBinary } from "./workerd.ts";

/** Running (a zombie waiting for a reaper is not). */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
};

/** The workerd processes whose parent is `ppid`, from /proc. */
const workerdChildren = (ppid: number) =>
  fs
    .readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return comm === "workerd" && parent === ppid ? [Number(d)] : [];
      } catch {
        return [];
      }
    });

const gone = async (pids: number[]) => {
  for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  return pids.filter(alive);
};

it("the workerd processes of a Bosun killed with SIGKILL die with it", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sup-"));
  const bosun = spawn(process.execPath, ["bin/run-ts.js", "core/workers/supervision.fixture.ts", dataDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise((r) => bosun.once("exit", r));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    bosun.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
    bosun.once("exit", () => reject(new Error(`the Bosun-like process exited early: ${out}`)));
  });
  const pids = workerdChildren(bosun.pid ?? 0);
  expect(pids.length).toBeGreaterThan(0);
  expect(pids.every(alive)).toBe(true);
  bosun.kill("SIGKILL");
  await exited;
  expect(await gone(pids)).toEqual([]);
}, 120_000);

it("sweepOrphans kills the workerd processes a dead Bosun recorded, and nothing else", async () => {
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sweep-"));
  const dir = path.join(runDir, "gen-x");
  fs.mkdirSync(dir);
  const port = await freePort();
  fs.writeFileSync(path.join(dir, "w.js"), `export default { fetch() { return new Response("ok"); } };`);
  fs.writeFileSync(
    path.join(dir, "config.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "w", worker = (modules = [(name = "w.js", esModule = embed "w.js")], compatibilityDate = "2025-01-01"))],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "w")],
);`,
  );
  // Started the way a Bosun without setpriv would (no parent-death signal), so only the sweep can end it.
  const orphan = spawn(workerdBinary(), ["serve", "--experimental", "config.capnp"], { cwd: dir, stdio: "ignore" });
  const orphanExit = new Promise((r) => orphan.once("exit", r));
  // A Bosun pid that is gone: a process that has exited.
  const dead = spawn("true");
  await new Promise((r) => dead.once("exit", r));
  // Its file lists the orphan and, as a reused pid would be, this test's own process (not workerd: left alone).
  fs.writeFileSync(path.join(runDir, `pids-${dead.pid}`), `${orphan.pid}\n${process.pid}\n`);
  // A live Bosun's file is not touched.
  fs.writeFileSync(path.join(runDir, `pids-${process.ppid}`), `${orphan.pid}\n`);
  expect(alive(orphan.pid ?? 0)).toBe(true);
  expect(sweepOrphans(runDir)).toBe(1);
  await orphanExit;
  expect(alive(orphan.pid ?? 0)).toBe(false);
  expect(fs.readdirSync(runDir).sort()).toEqual(["gen-x", `pids-${process.ppid}`]);
}, 30_000);
