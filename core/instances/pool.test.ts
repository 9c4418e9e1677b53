import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SshdFixture, sshTargetOf, startSshd } from "../../testkit/sshd.ts";
import type { BosunError } from "../kernel/errors.ts";
import { runRemote, shellProfile, wrapCommand } from "./commands.ts";
import { MAX_CHANNELS, SshPool, type SshTarget } from "./pool.ts";
import { generateSshKeyPair } from "./ssh-keypair.ts";

let sshd: SshdFixture;
let pool: SshPool;
const pins: string[] = [];
let target: SshTarget;

beforeAll(async () => {
  sshd = await startSshd();
  pool = new SshPool({
    policy: { allowPrivate: true },
    connectTimeoutMs: 5000,
    idleMs: 400,
    pin: async (_t, fingerprint) => {
      pins.push(fingerprint);
      return fingerprint;
    },
  });
  target = sshTargetOf(sshd);
});
afterAll(async () => {
  await pool?.close();
  await sshd?.stop();
});

const run = (command: string, t = target) => runRemote(pool, t, { command, timeoutMs: 10_000 });

describe("the SSH pool", () => {
  it("opens lazily, pins once, reuses the connection and closes it when idle", async () => {
    expect(pool.state(target.id)).toBe("disconnected");
    // The fixture's readiness probe may still be winding down on the server.
    for (let i = 0; i < 40 && sshd.connections() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sshd.connections()).toBe(0);
    expect((await run("echo 1")).stdout).toBe("1\n");
    expect(pins).toEqual([sshd.hostKeyFingerprint()]);
    target = { ...target, hostKeyFingerprint: pins[0]! };
    for (let i = 0; i < 5; i++) await run("true");
    expect(pool.state(target.id)).toBe("connected");
    expect(sshd.connections()).toBe(1);
    // Idle for 400 ms: closed (polled, so a loaded machine's late timer is not a failure).
    for (let i = 0; i < 60 && pool.state(target.id) !== "disconnected"; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(pool.state(target.id)).toBe("disconnected");
    for (let i = 0; i < 20 && sshd.connections() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sshd.connections()).toBe(0);
    expect((await run("echo again")).stdout).toBe("again\n"); // re-opened on demand
    expect(pins).toHaveLength(1);
  });

  it(`runs at most ${MAX_CHANNELS} channels at once and queues the rest`, async () => {
    let maxActive = 0;
    let sawWaiting = false;
    const all = Promise.all(Array.from({ length: 20 }, (_, i) => run(`sleep 0.3; echo ${i}`)));
    const probe = setInterval(() => {
      const l = pool.load(target.id);
      maxActive = Math.max(maxActive, l.active);
      sawWaiting ||= l.waiting > 0;
    }, 10);
    const results = await all;
    clearInterval(probe);
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    expect(maxActive).toBe(MAX_CHANNELS);
    expect(sawWaiting).toBe(true);
    expect(pool.load(target.id)).toEqual({ active: 0, waiting: 0 });
  });

  it("opens a new connection when the instance's settings change", async () => {
    await run("true");
    const before = sshd.connections();
    await run("true", { ...target, version: "v2" });
    for (let i = 0; i < 20 && sshd.connections() !== before; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sshd.connections()).toBe(before); // the old one was closed, one new one is open
    target = { ...target, version: "v2" };
  });

  it("learns the login shell once per connection, and a POSIX one runs the command script itself", async () => {
    let asked = 0;
    const ask = () => pool.once(target, "test-memo", async () => ++asked);
    expect([await ask(), await ask()]).toEqual([1, 1]);
    pool.evict(target.id);
    expect(await ask()).toBe(2); // a new connection asks again
    // The fixture's users log in with /bin/sh, and Debian has coreutils' timeout.
    expect(await shellProfile(pool, target)).toEqual({ posixLogin: true, timeout: true, perl: true });
    const direct = wrapCommand({ command: "echo $0" }, 5, { posixLogin: true, timeout: true, perl: true });
    expect(direct.startsWith("printf")).toBe(true);
    expect(direct).toContain("exec timeout -s KILL 10 /bin/sh -c 'echo $0'");
    // Env, or a login shell that is not a POSIX sh (fish, csh), keeps the /bin/sh around the script.
    expect(
      wrapCommand({ command: "true", env: { A: "1" } }, 5, { posixLogin: true, timeout: true, perl: true }),
    ).toMatch(/^exec \/bin\/sh -c /);
    expect(wrapCommand({ command: "true" }, 5, { posixLogin: false, timeout: false, perl: false })).toMatch(
      /^exec \/bin\/sh -c /,
    );
    const res = await run("echo $0");
    expect(res).toMatchObject({ exit_code: 0, stdout: "/bin/sh\n" });
    expect(res.stderr).toBe("");
  });

  it("maps refusals to typed errors", async () => {
    const wrongPin = { ...target, id: "i-2", hostKeyFingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" };
    await expect(run("true", wrongPin)).rejects.toMatchObject({
      code: "host_key_mismatch",
      details: { presented: sshd.hostKeyFingerprint() },
    });
    const stranger = { ...target, id: "i-3", privateKey: generateSshKeyPair("stranger").private };
    const refused = await run("true", stranger).then(
      () => null,
      (e: BosunError) => e,
    );
    expect(refused?.code, `${refused?.message}\n${sshd.log()}`).toBe("auth_failed");
    await expect(run("true", { ...target, id: "i-4", port: 1 })).rejects.toMatchObject({ code: "unreachable" });
    const strict = new SshPool({
      policy: { allowPrivate: false },
      connectTimeoutMs: 2000,
      idleMs: 1000,
      pin: async (_t, f) => f,
    });
    await expect(
      runRemote(strict, { ...target, id: "i-5" }, { command: "true", timeoutMs: 1000 }),
    ).rejects.toMatchObject({ code: "egress_denied" });
    await strict.close();
  });
});
