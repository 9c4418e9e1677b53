// A real OpenSSH sshd for tests, the agent runner's tests and evals: its own config, host key and pid file in a
// temp dir, listening on a free 127.0.0.1 port, letting in one dedicated unprivileged user (created for this
// fixture, removed on stop) with a throwaway home, key-only, and no sudo. `sudo` and `journalctl` on that
// user's PATH are stand-ins that record their arguments, so power actions can be tested without ever
// reaching the real machine. Nothing outside the fixture's temp dirs is written except the user's passwd entry.
//
// Options (root only, for the observer login's tests): `observer` creates a second unprivileged user with its
// own throwaway home and key; `rootSudo` makes the user's `sudo` really run commands as root (through an SSH
// login as root to this sshd, with a key only the fixture and that user hold), so a setup that creates users
// can run for real. Any user the tests create under `spareUsername` is removed on stop, with its home.
//
// Not root (a developer's laptop): sshd runs as the current user and lets only that user in; `home` is still
// a temp dir (the session's working dir is the real home then, so tests address files by absolute path).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { SshTarget } from "../core/instances/pool.ts";
import { requireProgram } from "../core/programs.ts";

const USER_PREFIX = "bosun-sshd-";

/** A second login of the fixture (the observer): unprivileged, its own throwaway home and key. */
export interface SshdLogin {
  username: string;
  home: string;
  privateKey: string;
  publicKey: string;
}

export interface SshdOptions {
  /** Create a second unprivileged user, the observer (root only). */
  observer?: boolean;
  /** The user's `sudo` really runs its command as root, instead of recording it (root only). */
  rootSudo?: boolean;
}

export interface SshdFixture {
  host: "127.0.0.1";
  port: number;
  username: string;
  /** The test user's home: everything a test writes on the "server" belongs under it. */
  home: string;
  /** Writes a file in the home (path relative to it) owned by the test user, as if the user had written it. */
  writeFile(relative: string, data: string | Buffer, mode?: number): string;
  /** An ed25519 key pair authorized for the user (OpenSSH format). */
  privateKey: string;
  publicKey: string;
  /** SHA256:… fingerprint of the current host key, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint(): string;
  /** Path of the host public key file (known_hosts material for OpenSSH clients). */
  hostPublicKeyLine(): string;
  /** The observer login, when started with `observer: true`. */
  observer: SshdLogin | null;
  /** A user name sshd lets in that does not exist yet (a test may create it, e.g. setup_instance_observer);
   *  removed with its home on stop if it was created. */
  spareUsername: string;
  /** Lines the `sudo` stand-in was called with (its arguments, space-joined). */
  sudoCalls(): string[];
  journalctlCalls(): string[];
  /** A fresh host key, reloaded by sshd (SIGHUP): clients that pinned the old one must refuse the server. */
  rotateHostKey(): Promise<void>;
  /** How many client connections sshd holds now. */
  connections(): number;
  /** Kills every per-connection sshd process (not the listener): each client sees its connection drop.
   *  Returns how many connections there were. */
  killConnections(): number;
  /** Pids of processes the test user runs (to prove a remote process was killed). */
  userProcesses(): { pid: number; cmd: string }[];
  /** sshd's own log so far, for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

const isRoot = () => process.getuid?.() === 0;
/** Whether this process can create Unix users (the observer options need it). */
export const canCreateUsers = isRoot;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function keygen(file: string, comment: string) {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file], { stdio: "ignore" });
}

const fingerprintOf = (pubFile: string) =>
  execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", pubFile], { encoding: "utf8" }).split(" ")[1]!;

/** Waits until the port answers with an SSH banner (sshd is listening and accepting). */
async function waitForBanner(port: number, proc: ChildProcess, log: () => string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`sshd exited (${proc.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(1000, () => done(false));
      s.once("data", (d) => done(d.toString().startsWith("SSH-")));
      s.once("error", () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not answer on port ${port}: ${log()}`);
}

const STAND_IN = (logFile: string) => `#!/bin/sh
# Test stand-in: records its arguments, does nothing else.
printf '%s\\n' "$*" >> '${logFile}'
`;

const JOURNALCTL = (logFile: string) => `#!/bin/sh
printf '%s\\n' "$*" >> '${logFile}'
i=1
while [ $i -le 30 ]; do echo "2026-01-01T00:00:$i+0000 host app[1]: journal line $i"; i=$((i+1)); done
`;

/** `sudo` that really runs as root: strips -n/--, quotes each argument and runs it over SSH as root, with a
 *  PATH like sudo's secure_path. */
const ROOT_SUDO = (logFile: string, key: string, port: number) => String.raw`#!/bin/sh
printf '%s\n' "$*" >> '${logFile}'
while [ $# -gt 0 ]; do case "$1" in -n) shift;; --) shift; break;; -*) echo "sudo stand-in: unsupported option $1" >&2; exit 1;; *) break;; esac; done
q=
for a in "$@"; do q="$q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"; done
exec ssh -q -i '${key}' -p ${port} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;$q"
`;

/** Removes a user we created and its home, if it exists (homes only under the paths our users get). */
function removeUser(name: string) {
  let home: string | undefined;
  try {
    home = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).split(":")[5];
  } catch {
    return; // no such user
  }
  try {
    execFileSync("pkill", ["-KILL", "-u", name], { stdio: "ignore" });
  } catch {
    /* no processes */
  }
  try {
    execFileSync("userdel", [name], { stdio: "ignore" });
  } catch {
    /* swept on the next start */
  }
  if (home && (home.startsWith(`/home/${USER_PREFIX}`) || home.startsWith(path.join(os.tmpdir(), USER_PREFIX))))
    fs.rmSync(home, { recursive: true, force: true });
}

/** Removes users a crashed earlier run left behind (only ours: prefix match, home gone). */
function sweepStaleUsers() {
  const passwd = fs.readFileSync("/etc/passwd", "utf8");
  for (const line of passwd.split("\n")) {
    const [name, , , , , home] = line.split(":");
    // A spare user (`<operator>-s`) a test created has a home in /home: stale once its operator is gone.
    const orphanSpare =
      name?.startsWith(USER_PREFIX) && name.endsWith("-s") && !passwd.includes(`\n${name.slice(0, -2)}:`);
    if (orphanSpare) removeUser(name!);
    else if (name?.startsWith(USER_PREFIX) && home && !fs.existsSync(home)) {
      try {
        execFileSync("userdel", [name], { stdio: "ignore" });
      } catch {
        /* another file's fixture may be removing it at the same moment */
      }
    }
  }
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdFixture> {
  // Before anything is created: a machine without OpenSSH gets one line naming the package, not spawn ENOENT.
  const sshd = requireProgram("sshd", "an OpenSSH server for instance scenarios");
  requireProgram("ssh-keygen", "an OpenSSH server for instance scenarios");
  const root = isRoot();
  if ((opts.observer || opts.rootSudo) && !root)
    throw new Error("the sshd fixture's observer and rootSudo options need root (they create Unix users)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sshd-"));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sshd-home-"));
  let username: string;
  let uid: number;
  let gid: number;
  if (root) {
    sweepStaleUsers();
    username = `${USER_PREFIX}${crypto.randomBytes(4).toString("hex")}`;
    // '*' not '!': without PAM a '!'-locked account cannot log in even with a key.
    execFileSync("useradd", ["-M", "-d", home, "-s", "/bin/sh", "-p", "*", username], { stdio: "ignore" });
    uid = Number(execFileSync("id", ["-u", username], { encoding: "utf8" }).trim());
    gid = Number(execFileSync("id", ["-g", username], { encoding: "utf8" }).trim());
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation dir sshd insists on
  } else {
    username = os.userInfo().username;
    uid = process.getuid!();
    gid = process.getgid!();
  }

  const ssh = path.join(home, ".ssh");
  const bin = path.join(home, "bin");
  fs.mkdirSync(ssh, { mode: 0o700 });
  fs.mkdirSync(bin, { mode: 0o755 });
  const clientKey = path.join(dir, "client_ed25519");
  keygen(clientKey, "bosun-test-client");
  const publicKey = fs.readFileSync(`${clientKey}.pub`, "utf8").trim();
  const privateKey = fs.readFileSync(clientKey, "utf8");
  const authorizedKeys = path.join(ssh, "authorized_keys");
  fs.writeFileSync(authorizedKeys, `${publicKey}\n`, { mode: 0o600 });
  const sudoLog = path.join(home, "sudo.log");
  const journalLog = path.join(home, "journalctl.log");
  const port = await freePort();
  const spareUsername = `${username}-s`;
  const rootKeys = path.join(dir, "root_authorized_keys");
  if (opts.rootSudo) {
    // The user's key to root lives in its home (0600): holding it is what sudo rights are.
    const rootKey = path.join(ssh, "root_ed25519");
    keygen(rootKey, "bosun-test-root-sudo");
    fs.copyFileSync(`${rootKey}.pub`, rootKeys);
    fs.rmSync(`${rootKey}.pub`);
    fs.writeFileSync(path.join(bin, "sudo"), ROOT_SUDO(sudoLog, rootKey, port), { mode: 0o755 });
  } else fs.writeFileSync(path.join(bin, "sudo"), STAND_IN(sudoLog), { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "journalctl"), JOURNALCTL(journalLog), { mode: 0o755 });
  if (root) execFileSync("chown", ["-R", `${uid}:${gid}`, home]);

  let observer: SshdLogin | null = null;
  if (opts.observer) {
    const name = `${username}-o`;
    const obsHome = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sshd-home-"));
    execFileSync("useradd", ["-M", "-d", obsHome, "-s", "/bin/sh", "-p", "*", name], { stdio: "ignore" });
    const obsKey = path.join(dir, "observer_ed25519");
    keygen(obsKey, "bosun-test-observer");
    fs.mkdirSync(path.join(obsHome, ".ssh"), { mode: 0o700 });
    const obsPublic = fs.readFileSync(`${obsKey}.pub`, "utf8").trim();
    fs.writeFileSync(path.join(obsHome, ".ssh", "authorized_keys"), `${obsPublic}\n`, { mode: 0o600 });
    execFileSync("chown", ["-R", `${name}:`, obsHome]);
    observer = { username: name, home: obsHome, privateKey: fs.readFileSync(obsKey, "utf8"), publicKey: obsPublic };
  }

  const hostKey = path.join(dir, "host_ed25519");
  keygen(hostKey, "bosun-test-host");
  const config = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, "sshd.pid")}`,
    `AllowUsers ${[username, ...(observer ? [observer.username] : []), ...(root ? [spareUsername] : []), ...(opts.rootSudo ? ["root"] : [])].join(" ")}`,
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    `PermitRootLogin ${opts.rootSudo ? "prohibit-password" : "no"}`,
    `AuthorizedKeysFile ${root ? ".ssh/authorized_keys" : authorizedKeys}`,
    // The home lives under /tmp; its ownership is right but the check adds nothing for a throwaway user.
    "StrictModes no",
    `SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin`,
    "Subsystem sftp internal-sftp",
    "MaxStartups 100:30:200",
    "LogLevel VERBOSE",
    // Root's keys are the fixture's, never /root/.ssh (Match blocks come last).
    ...(opts.rootSudo ? ["Match User root", `  AuthorizedKeysFile ${rootKeys}`] : []),
    "",
  ].join("\n");
  const configFile = path.join(dir, "sshd_config");
  fs.writeFileSync(configFile, config);

  let logText = "";
  const proc = spawn(sshd, ["-D", "-e", "-f", configFile], { stdio: ["ignore", "ignore", "pipe"] });
  proc.stderr!.on("data", (d) => {
    logText = (logText + d.toString()).slice(-20_000);
  });
  const log = () => logText;
  const stopProc = async () => {
    if (proc.exitCode !== null || proc.signalCode) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (proc.exitCode === null && !proc.signalCode) proc.kill("SIGKILL");
  };
  try {
    await waitForBanner(port, proc, log);
  } catch (err) {
    await stopProc();
    throw err;
  }

  /** Per-connection sshd processes: the listener's descendants that are sshd (the privileged monitor and the
   *  unprivileged child holding the socket), not the user's own processes. */
  const children = () => {
    const parent = new Map<number, number>();
    const comm = new Map<number, string>();
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
        parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        comm.set(Number(entry), stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")));
      } catch {
        /* gone */
      }
    }
    const isDescendant = (pid: number): boolean => {
      for (let p = parent.get(pid), hops = 0; p && hops < 10; p = parent.get(p), hops++)
        if (p === proc.pid) return true;
      return false;
    };
    const pids = [...parent.keys()].filter((pid) => comm.get(pid) === "sshd" && isDescendant(pid));
    return Object.assign(pids, { parentOf: (pid: number) => parent.get(pid) });
  };

  /** Connections = the listener's direct children (one privileged monitor per connection). Read from one
   *  snapshot of /proc: a process may exit between listing and reading it. */
  const connectionCount = () => {
    const pids = children();
    return pids.filter((pid) => pids.parentOf(pid) === proc.pid).length;
  };

  const userProcesses = () => {
    const out: { pid: number; cmd: string }[] = [];
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.statSync(`/proc/${entry}`).uid !== uid) continue;
        const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim();
        out.push({ pid: Number(entry), cmd });
      } catch {
        /* gone */
      }
    }
    return out;
  };

  const readLines = (file: string) =>
    fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [];

  return {
    host: "127.0.0.1",
    port,
    username,
    home,
    observer,
    spareUsername,
    privateKey,
    publicKey,
    writeFile: (relative, data, mode = 0o644) => {
      const file = path.join(home, relative);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
      fs.chmodSync(file, mode);
      if (root) {
        for (let p = file; p.startsWith(home) && p !== home; p = path.dirname(p)) fs.chownSync(p, uid, gid);
      }
      return file;
    },
    hostKeyFingerprint: () => fingerprintOf(`${hostKey}.pub`),
    hostPublicKeyLine: () => fs.readFileSync(`${hostKey}.pub`, "utf8").trim(),
    sudoCalls: () => readLines(sudoLog),
    journalctlCalls: () => readLines(journalLog),
    rotateHostKey: async () => {
      fs.rmSync(hostKey);
      fs.rmSync(`${hostKey}.pub`);
      keygen(hostKey, "bosun-test-host-rotated");
      proc.kill("SIGHUP"); // sshd re-executes itself and reads the new key
      await new Promise((r) => setTimeout(r, 100));
      await waitForBanner(port, proc, log);
    },
    connections: () => connectionCount(),
    killConnections: () => {
      const count = connectionCount();
      for (const pid of children()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      return count;
    },
    userProcesses: () => (root ? userProcesses() : []),
    log,
    stop: async () => {
      for (const pid of children()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
      await stopProc();
      if (root) {
        // The user's leftover processes (a test's background job) would keep userdel from working.
        for (const p of userProcesses()) {
          try {
            process.kill(p.pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
        try {
          execFileSync("userdel", [username], { stdio: "ignore" });
        } catch {
          /* swept on the next start */
        }
        if (observer) removeUser(observer.username);
        removeUser(spareUsername);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The fixture's user as an SSH pool target, its host key not pinned yet (the first connection pins it). */
export function sshTargetOf(sshd: SshdFixture): SshTarget {
  return {
    id: "i-1",
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: sshd.privateKey,
    hostKeyFingerprint: null,
    version: "v1",
  };
}
