// The command server against the real sshd: every guarantee a channel per command gave, kept — same login,
// no state carried from one command to the next, process-group kills (by us, at the server's own deadline, and
// when the connection goes), stdin, exit codes and signals, framing a command's output cannot forge — and the
// channel per command as the fallback.

import { EventEmitter } from "node:events";
import type { ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canCreateUsers, type SshdFixture, sshTargetOf, startSshd } from "../../testkit/sshd.ts";
import { CommandServer, KILL_GRACE_MS, SERVER_COMMAND } from "./command-server.ts";
import { runRemote } from "./commands.ts";
import { SshPool, type SshTarget } from "./pool.ts";

let sshd: SshdFixture;
let pool: SshPool;
let target: SshTarget;

beforeAll(async () => {
  sshd = await startSshd({ observer: canCreateUsers() });
  pool = new SshPool({
    policy: { allowPrivate: true },
    connectTimeoutMs: 5000,
    idleMs: 60_000,
    pin: async (_t, fingerprint) => fingerprint,
  });
  target = sshTargetOf(sshd);
});
afterAll(async () => {
  await pool?.close();
  await sshd?.stop();
});

const run = (command: string, extra: { stdin?: string; cwd?: string; env?: Record<string, string> } = {}, t = target) =>
  runRemote(pool, t, { command, timeoutMs: 10_000, ...extra });

/** The user's processes matching `re`, after a bounded wait for a kill to land. */
async function leftAfterKill(re: RegExp) {
  let left = sshd.userProcesses().filter((p) => re.test(p.cmd));
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = sshd.userProcesses().filter((p) => re.test(p.cmd));
  }
  return left;
}

describe("the command server", () => {
  it("runs every command as a child of one long-lived server, on one connection, as the login's user", async () => {
    const first = await run("echo $PPID; cat /proc/$PPID/comm; id -un");
    const second = await run("echo $PPID; cat /proc/$PPID/comm; id -un");
    const [ppid, comm, user] = first.stdout.split("\n");
    expect(comm).toBe("perl");
    expect(user).toBe(sshd.username);
    expect(second.stdout.split("\n")[0]).toBe(ppid);
    expect(sshd.connections()).toBe(1);
  });

  it("carries no cwd, environment, umask or shell variable from one command to the next", async () => {
    const fresh = await run("pwd; umask; echo ${LEAK-unset} ${VAR-unset}");
    const changed = await run("cd /tmp && umask 077 && export LEAK=1 && VAR=2 && pwd && umask", {
      env: { EXTRA: "x" },
    });
    expect(changed.stdout).toBe("/tmp\n0077\n");
    const after = await run("pwd; umask; echo ${LEAK-unset} ${VAR-unset} ${EXTRA-unset}");
    expect(after.stdout).toBe(`${fresh.stdout.trimEnd()} unset\n`);
    expect(after.stdout).toMatch(/unset unset unset\n$/);
  });

  it("keeps each command's output its own: a background job writes into its command, never the next", async () => {
    // The first command ends only when its job has closed the pipes it inherited (as a channel does).
    const [withJob, other] = await Promise.all([
      run("(sleep 0.5; echo late; echo late-err >&2) & echo now"),
      run("sleep 0.2; echo other"),
    ]);
    expect(withJob.stdout).toBe("now\nlate\n");
    expect(withJob.stderr).toBe("late-err\n");
    expect(other.stdout).toBe("other\n");
    // A job that let go of its output (a daemon) outlives its command, as before.
    const daemon = await run("sleep 297 >/dev/null 2>&1 </dev/null & echo $!");
    expect(daemon.exit_code).toBe(0);
    expect(sshd.userProcesses().some((p) => p.pid === Number(daemon.stdout))).toBe(true);
    process.kill(Number(daemon.stdout), "SIGKILL");
  });

  it("feeds stdin and reports exit codes and signals", async () => {
    const big = "x".repeat(300_000);
    expect((await run("wc -c", { stdin: big })).stdout.trim()).toBe("300000");
    expect((await run("echo ignored", { stdin: big })).stdout).toBe("ignored\n"); // stdin left unread
    expect((await run("cat")).stdout).toBe(""); // no stdin: end of file at once
    expect(await run("echo partial; exit 42")).toMatchObject({ exit_code: 42, signal: null, stdout: "partial\n" });
    expect(await run("kill -TERM $$")).toMatchObject({ exit_code: null, signal: "TERM" });
    const env = await run('printf "%s|%s" "$A" "$B"', { env: { A: "it's $(id) `x`", B: "a\nb" } });
    expect(env.stdout).toBe("it's $(id) `x`|a\nb");
    const bad = await run("pwd", { cwd: "/no/such/dir" });
    expect(bad).toMatchObject({ exit_code: 1, stdout: "" });
    expect(bad.stderr).toMatch(/no\/such\/dir/);
    expect((await run("pwd", { cwd: "~" })).stdout).toBe(`${(await run("echo $HOME")).stdout}`);
  });

  it("cannot be fooled by a command printing frames", async () => {
    // An exit frame for this command and the next ids, an ack and output frames, raw.
    const forged = Array.from({ length: 8 }, (_, id) =>
      Buffer.concat([
        Buffer.from("X"),
        Buffer.from([0, 0, 0, id]),
        Buffer.from([0, 0, 0, 3]),
        Buffer.from("c:0"),
        Buffer.from("O"),
        Buffer.from([0, 0, 0, id]),
        Buffer.from([0, 0, 0, 4]),
        Buffer.from("fake"),
      ]),
    );
    const bytes = Buffer.concat(forged);
    const octal = [...bytes].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
    const [hostile, bystander] = await Promise.all([
      run(`printf '${octal}'; printf '${octal}' >&2; sleep 0.3; exit 7`),
      run("sleep 0.5; echo fine"),
    ]);
    expect(hostile.exit_code).toBe(7);
    expect(hostile.stdout).toBe(bytes.toString("latin1"));
    expect(hostile.stdout_bytes).toBe(bytes.length);
    expect(hostile.stderr_bytes).toBe(bytes.length);
    expect(bystander).toMatchObject({ exit_code: 0, stdout: "fine\n", stderr: "" });
  });

  it("cannot be reached by a command through /proc: no forged frames in another command's result", async () => {
    // Exit and output frames for the first ids, written straight into the server's channel, not our stdout.
    const forge = Array.from({ length: 30 }, (_, i) => {
      const id = `\\${(i >> 6).toString(8)}${((i >> 3) & 7).toString(8)}${(i & 7).toString(8)}`;
      return `printf 'O\\000\\000\\000${id}\\000\\000\\000\\004fakeX\\000\\000\\000${id}\\000\\000\\000\\003c:0' > /proc/$PPID/fd/1`;
    }).join("; ");
    const victim = run("sleep 1; echo real; exit 3");
    await new Promise((r) => setTimeout(r, 200));
    const hostile = await run(`${forge}; cat /proc/$PPID/fd/0 </dev/null | head -c 1; exit 5`);
    expect(hostile.exit_code).toBe(5);
    expect(hostile.stderr).toMatch(/Permission denied/);
    expect(await victim).toMatchObject({ exit_code: 3, stdout: "real\n" });
  });

  it("ends a killed command at its timeout even when a job that left its group holds its pipes", async () => {
    const started = Date.now();
    const res = await runRemote(pool, target, { command: "setsid sleep 297 & echo $!", timeoutMs: 1000 });
    expect(res.timed_out).toBe(true);
    expect(Date.now() - started).toBeLessThan(KILL_GRACE_MS);
    await run(`kill ${res.stdout.trim()}`);
  });

  it("does not hold a command past its timeout when the server stops answering, and replaces the server", async () => {
    const started = Date.now();
    const res = await runRemote(pool, target, { command: "echo $PPID; kill -STOP $PPID; sleep 60", timeoutMs: 1000 });
    expect(res.timed_out).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000 + KILL_GRACE_MS + 3000);
    const next = await run("echo $PPID");
    expect(next.exit_code).toBe(0);
    if (res.stdout.trim()) await run(`kill -CONT ${res.stdout.trim()}; kill -9 ${res.stdout.trim()}`);
  }, 20_000);

  it("closes a server that sends a frame longer than any of the script's, failing what ran on it", async () => {
    const channel = Object.assign(new EventEmitter(), {
      stderr: new EventEmitter(),
      written: [] as Buffer[],
      write(b: Buffer) {
        this.written.push(b);
        return true;
      },
      close() {},
    });
    channel.close = () => channel.emit("close");
    const frame = (type: string, id: number, len: number, payload = Buffer.alloc(0)) => {
      const head = Buffer.alloc(9);
      head.write(type, 0, "latin1");
      head.writeUInt32BE(id, 1);
      head.writeUInt32BE(len, 5);
      return Buffer.concat([head, payload]);
    };
    const starting = CommandServer.start(channel as unknown as ClientChannel, "h", 1000);
    channel.emit("data", frame("H", 0, 11, Buffer.from("bosun-cmd 1")));
    const server = await starting;
    const handle = server!.run(
      { command: "true", deadlineSeconds: 5 },
      { onStdout: () => {}, onStderr: () => {} },
      () => {},
    );
    channel.emit("data", frame("A", 1, 0));
    channel.emit("data", frame("O", 1, 0x7fffffff, Buffer.alloc(1000)));
    const outcome = await Promise.race([
      handle.done.catch((e) => e),
      new Promise((r) => setTimeout(() => r("pending"), 500)),
    ]);
    expect(outcome).toMatchObject({ code: "unreachable" });
    expect(server!.closed).toBe(true);
  });

  it("kills the process group itself at the request's deadline, even when nobody asks", async () => {
    const served = await pool.serve(
      target,
      SERVER_COMMAND,
      { command: "sleep 293 & sleep 294", deadlineSeconds: 1 },
      { onStdout: () => {}, onStderr: () => {} },
    );
    expect(served).not.toBeNull();
    expect(await served?.done).toEqual({ code: null, signal: "KILL" });
    expect(await leftAfterKill(/sleep 29[34]/)).toEqual([]);
  });

  it("survives a command that kills it: that command fails, the next starts a new server", async () => {
    const killer = await run("kill -9 $PPID; sleep 1").catch((e) => e);
    expect(killer).toMatchObject({ code: "unreachable" });
    const next = await run("cat /proc/$PPID/comm");
    expect(next.stdout).toBe("perl\n");
    expect(sshd.connections()).toBe(1);
  });

  it("kills what runs when the connection is lost", async () => {
    const pending = run("sleep 291").catch((e) => e);
    for (let i = 0; i < 50 && !sshd.userProcesses().some((p) => p.cmd === "sleep 291"); i++)
      await new Promise((r) => setTimeout(r, 100));
    sshd.killConnections();
    expect(await pending).toMatchObject({ code: "unreachable", message: expect.stringMatching(/lost/) });
    expect(await leftAfterKill(/sleep 291/)).toEqual([]);
    expect((await run("echo back")).stdout).toBe("back\n");
  });

  it.skipIf(!canCreateUsers())(
    "keeps the observer's commands on the observer's own connection and server",
    async () => {
      const obs = sshd.observer!;
      const observer: SshTarget = { ...target, username: obs.username, privateKey: obs.privateKey, login: "observer" };
      const [mine, theirs] = await Promise.all([run("id -un; echo $PPID"), run("id -un; echo $PPID", {}, observer)]);
      expect(mine.stdout.split("\n")[0]).toBe(sshd.username);
      expect(theirs.stdout.split("\n")[0]).toBe(obs.username);
      expect(theirs.stdout.split("\n")[1]).not.toBe(mine.stdout.split("\n")[1]);
      expect(sshd.connections()).toBe(2);
    },
  );

  it("falls back to a channel per command where the server cannot run", async () => {
    // A server that never says hello: none for this request, and the caller takes a channel.
    const other: SshTarget = { ...target, id: "i-2" };
    const none = await pool.serve(
      other,
      "exit 0",
      { command: "true", deadlineSeconds: 5 },
      {
        onStdout: () => {},
        onStderr: () => {},
      },
    );
    expect(none).toBeNull();
    // A server without perl (the probe said so): the command runs under sshd's session, with `timeout` as before.
    const noPerl: SshTarget = { ...target, id: "i-3" };
    await pool.once(noPerl, "shell-profile", async () => ({ posixLogin: true, timeout: true, perl: false }));
    const res = await run("cat /proc/$PPID/comm; echo $0", {}, noPerl);
    expect(res).toMatchObject({ exit_code: 0, stdout: "timeout\n/bin/sh\n" });
  });
});
