// One workerd process: its capnp text config written to a private directory, started, checked healthy, stopped.
// Bosun never hands workerd a customer's string unquoted: every value goes through `capnpString`, every module
// body is an `embed`ded file under a name Bosun chose.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { BosunError } from "../kernel/errors.ts";

const require = createRequire(import.meta.url);

/** The workerd binary of the `workerd` package (its Linux build comes from @cloudflare/workerd-linux-64). */
export function workerdBinary(): string {
  return path.join(path.dirname(require.resolve("workerd/package.json")), "bin", "workerd");
}

/**
 * util-linux's `setpriv`, which sets PR_SET_PDEATHSIG and then execs workerd (so the child's pid is workerd's own):
 * the kernel kills workerd when Bosun dies, however it dies (SIGKILL included). Where it is missing, the pid files
 * below let the next Bosun on the same data directory kill what the last one left behind.
 */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

/** The command that runs workerd with `args`, tied to this process's life where the system allows. */
export function workerdCommand(args: string[]): [string, string[]] {
  return SETPRIV ? [SETPRIV, ["--pdeathsig", "KILL", "--", workerdBinary(), ...args]] : [workerdBinary(), args];
}

const PID_FILE = /^pids-(\d+)$/;
const swept = new Set<string>();

/** Whether a process runs (a zombie no reaper has collected does not). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Remembers a workerd pid under the run directory, in this Bosun process's own file. */
function recordPid(runDir: string, pid: number): void {
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.appendFileSync(path.join(runDir, `pids-${process.pid}`), `${pid}\n`, { mode: 0o600 });
}

/**
 * Kills the workerd processes recorded by Bosun processes that are gone (a crash, a SIGKILL), checking that each pid
 * still runs the workerd binary (pids are reused), and removes their files. Once per run directory per process.
 */
export function sweepOrphans(runDir: string): number {
  let killed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(runDir);
  } catch {
    return 0;
  }
  const binary = fs.realpathSync(workerdBinary());
  for (const name of names) {
    const owner = PID_FILE.exec(name)?.[1];
    if (!owner || Number(owner) === process.pid || running(Number(owner))) continue;
    const file = path.join(runDir, name);
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const pid = Number(line);
      if (!pid) continue;
      try {
        if (fs.readlinkSync(`/proc/${pid}/exe`) !== binary) continue;
        process.kill(pid, "SIGKILL");
        killed++;
      } catch {
        // gone already, or not ours to read
      }
    }
    fs.rmSync(file, { force: true });
  }
  return killed;
}

/** A capnp text literal: quotes, backslashes and control characters escaped, UTF-8 kept as it is. */
export function capnpString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A free loopback port (the kernel's pick, released for workerd to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface WorkerdStart {
  dir: string;
  /** The capnp text of the config (embeds resolve relative to `dir`). */
  config: string;
  /** Files to write beside it (module sources) before starting. */
  files: Record<string, string>;
  port: number;
  adminToken: string;
  /** How long it may take to answer its health check. */
  readyTimeoutMs?: number;
}

export class WorkerdProcess {
  private stderr = "";
  private exited = false;
  readonly exit: Promise<number | null>;
  /** Settles once the process has exited and its output is read (so `ranOutOfMemory` is final). */
  readonly closed: Promise<void>;
  /** Set when Bosun's watchdog killed it for its resident memory. */
  killedForMemory = false;
  private heapExhausted = false;
  /** Requests Bosun has sent this process that have not finished (for draining). */
  inflight = 0;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly adminToken: string,
    readonly dir: string,
  ) {
    this.exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    void this.exit.then(() => {
      this.exited = true;
    });
    this.closed = new Promise((resolve) => child.once("close", () => resolve()));
    child.stderr?.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString("utf8")).slice(-8000);
      if (/Reached heap limit|heap out of memory/.test(this.stderr)) this.heapExhausted = true;
    });
    child.stdout?.resume();
  }

  get alive(): boolean {
    return !this.exited;
  }

  get lastError(): string {
    return this.stderr;
  }

  /**
   * Whether it died of memory: V8 aborts the whole process when an isolate passes its heap limit (workerd's
   * open-source build has no near-heap-limit handler), or the RSS watchdog killed it.
   */
  get ranOutOfMemory(): boolean {
    return this.killedForMemory || this.heapExhausted;
  }

  /** Writes the config and its files (0600 in a 0700 directory: it carries secrets), starts, waits for health. */
  static async start(s: WorkerdStart): Promise<WorkerdProcess> {
    fs.mkdirSync(s.dir, { recursive: true, mode: 0o700 });
    for (const [name, body] of Object.entries(s.files)) fs.writeFileSync(path.join(s.dir, name), body, { mode: 0o600 });
    fs.writeFileSync(path.join(s.dir, "config.capnp"), s.config, { mode: 0o600 });
    const runDir = path.dirname(s.dir);
    if (!swept.has(runDir)) {
      swept.add(runDir);
      sweepOrphans(runDir);
    }
    const [command, args] = workerdCommand(["serve", "--experimental", "config.capnp"]);
    const child = spawn(command, args, { cwd: s.dir, stdio: ["ignore", "pipe", "pipe"] });
    if (child.pid) recordPid(runDir, child.pid);
    const proc = new WorkerdProcess(child, s.port, s.adminToken, s.dir);
    try {
      await proc.waitReady(s.readyTimeoutMs ?? 15_000);
    } catch (err) {
      await proc.stop(0);
      throw err;
    } finally {
      // The config held secrets and code; the running process has read it.
      fs.rmSync(s.dir, { recursive: true, force: true });
    }
    return proc;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; Date.now() < deadline; delay = Math.min(delay * 2, 100)) {
      if (this.exited) break;
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/`, {
          headers: { "x-bosun-admin": this.adminToken, "x-bosun-target": "_health" },
          signal: AbortSignal.timeout(1000),
        });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, delay));
    }
    const why = this.stderr.trim().split("\n").slice(-12).join("\n");
    throw new BosunError(
      "unprocessable",
      this.exited ? `the workers runtime refused the code: ${why}` : "the workers runtime did not start in time",
      {},
    );
  }

  /** CPU seconds (user + system) the process has used, from /proc; 0 where there is none. */
  cpuMs(): number {
    const pid = this.child.pid;
    if (!pid) return 0;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks (100 Hz).
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return 0;
    }
  }

  /** Resident memory in MB (VmRSS from /proc), 0 where there is none. */
  rssMb(): number {
    const pid = this.child.pid;
    if (!pid || this.exited) return 0;
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    this.child.kill(graceMs > 0 ? "SIGTERM" : "SIGKILL");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exit;
    clearTimeout(timer);
  }
}
