// The observer login against the real sshd with two users: registering one, setting one up through the
// operator's (real) sudo, commands run as the observer meeting the OS's permission checks, the pool keeping a
// connection per login with the same host-key pin, and the key never leaving Bosun.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { invoke } from "../kernel/invoker.ts";
import type { Principal } from "../kernel/operation.ts";
import { runRemote } from "./commands.ts";
import { setupCommand } from "./observer.ts";
import { observerTargetOf, targetOf } from "./reach.ts";

let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld({ sshd: { observer: true, rootSudo: true } });
});
afterAll(() => w?.close());

const row = () =>
  w.t.platform.db.selectFrom("instances").selectAll().where("name", "=", "box").executeTakeFirstOrThrow();
const userExists = (name: string) => {
  try {
    execFileSync("id", ["-u", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** The test token's principal on the agent surface, narrowed to the observer login as the agent runner does. */
async function principal(serverLogin?: "observer"): Promise<Principal> {
  const p = await w.t.platform.auth.principal(w.token, "agent", null);
  return serverLogin ? { ...p, serverLogin } : p;
}
const runAs = async (command: string, serverLogin?: "observer") =>
  (await invoke(
    w.t.platform,
    "run_command",
    { project: w.project, instance: "box", command },
    await principal(serverLogin),
  )) as { exit_code: number; stdout: string; stderr: string };

describe("observer login", () => {
  it("without an observer, a principal narrowed to the observer still runs as the operator (nothing changes)", async () => {
    const got = await w.t.request("GET", w.path(), { token: w.token });
    expect(got.body.observer).toBeNull();
    expect((await runAs("id -un", "observer")).stdout).toBe(`${w.sshd.username}\n`);
    expect((await runAs("id -un")).stdout).toBe(`${w.sshd.username}\n`);
  });

  it("set_instance_observer registers an existing user with its key: sealed, never returned", async () => {
    const obs = w.sshd.observer!;
    const same = await w.t.request("PUT", `${w.path()}/observer`, {
      token: w.token,
      body: { username: w.sshd.username, private_key: obs.privateKey },
    });
    expect(same.status).toBe(400);
    expect(same.body.error.issues[0].path).toBe("username");
    const badKey = await w.t.request("PUT", `${w.path()}/observer`, {
      token: w.token,
      body: { username: obs.username, private_key: "not a key" },
    });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error.issues[0].path).toBe("private_key");
    const badName = await w.t.request("PUT", `${w.path()}/observer`, {
      token: w.token,
      body: { username: "-oProxyCommand=x", private_key: obs.privateKey },
    });
    expect(badName.status).toBe(400);
    const noExec = await w.user.token(["projects:*", "instances:read", "instances:write"]);
    const refused = await w.t.request("PUT", `${w.path()}/observer`, {
      token: noExec,
      body: { username: obs.username, private_key: obs.privateKey },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("insufficient_scope");
    expect((await row()).observer_username).toBeNull();

    const set = await w.t.request("PUT", `${w.path()}/observer`, {
      token: w.token,
      body: { username: obs.username, private_key: obs.privateKey },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.observer).toMatchObject({ username: obs.username, key_source: "supplied" });
    expect(set.body.observer.public_key.split(" ").slice(0, 2)).toEqual(obs.publicKey.split(" ").slice(0, 2));
    const got = await w.t.request("GET", w.path(), { token: w.token });
    expect(got.body.observer.username).toBe(obs.username);
    // The operator login cannot be turned into the observer afterwards either.
    const clash = await w.t.request("PATCH", w.path(), { token: w.token, body: { username: obs.username } });
    expect(clash.status).toBe(400);
    expect(clash.body.error.issues[0].path).toBe("username");
    expect(JSON.stringify(got.body)).not.toMatch(/PRIVATE KEY/);
    const stored = await row();
    expect(stored.observer_private_key_enc).not.toMatch(/PRIVATE KEY/);
    expect(w.t.platform.secrets.decrypt(stored.observer_private_key_enc!)).toBe(obs.privateKey);
    await w.t.platform.audit.flush();
    const audit = await w.t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "input", "outcome"])
      .where("operation", "=", "set_instance_observer")
      .execute();
    expect(audit.map((a) => a.outcome)).toContain("ok");
    expect(audit.map((a) => a.input ?? "").join("\n")).not.toMatch(/PRIVATE KEY/);
  });

  it("a command run as the observer cannot write the operator's files: the OS says permission denied", async () => {
    const victim = w.sshd.writeFile("important.txt", "original\n");
    // The operator's home is the operator's alone; make it traversable and the file world-readable, so the
    // refusal below is about writing, not about finding the file.
    fs.chmodSync(w.sshd.home, 0o755);
    try {
      expect((await runAs("id -un", "observer")).stdout).toBe(`${w.sshd.observer!.username}\n`);
      expect((await runAs(`cat ${victim}`, "observer")).stdout).toBe("original\n");
      const write = await runAs(`echo pwned > ${victim}`, "observer");
      expect(write.exit_code).not.toBe(0);
      expect(write.stderr).toMatch(/Permission denied/i);
      const plant = await runAs(
        `mkdir -p ${w.sshd.home}/.ssh && echo ssh-ed25519 AAAA evil >> ${w.sshd.home}/.ssh/authorized_keys`,
        "observer",
      );
      expect(plant.exit_code).not.toBe(0);
      expect(plant.stderr).toMatch(/Permission denied/i);
      expect(fs.readFileSync(victim, "utf8")).toBe("original\n");
      expect(fs.readFileSync(path.join(w.sshd.home, ".ssh/authorized_keys"), "utf8")).not.toContain("evil");
      // The same command as the operator does write: the difference is the login, not the command.
      expect((await runAs(`echo changed > ${victim}`)).exit_code).toBe(0);
      expect(fs.readFileSync(victim, "utf8")).toBe("changed\n");
    } finally {
      fs.chmodSync(w.sshd.home, 0o700);
    }
  });

  it("the pool keeps a connection per login, with the same pinned host key", async () => {
    const pool = w.t.platform.instances.pool;
    const r = await row();
    pool.evict(r.id);
    const op = targetOf(w.t.platform, r);
    const obs = observerTargetOf(w.t.platform, r)!;
    expect(obs).toMatchObject({
      login: "observer",
      username: w.sshd.observer!.username,
      host: op.host,
      port: op.port,
      hostKeyFingerprint: r.host_key_fingerprint,
    });
    expect(r.host_key_fingerprint).toBe(w.sshd.hostKeyFingerprint());
    const both = await Promise.all([
      runRemote(pool, op, { command: "id -un", timeoutMs: 10_000 }),
      runRemote(pool, obs, { command: "id -un", timeoutMs: 10_000 }),
    ]);
    expect(both.map((b) => b.stdout.trim())).toEqual([w.sshd.username, w.sshd.observer!.username]);
    expect(pool.state(r.id)).toBe("connected");
    expect(pool.state(r.id, "observer")).toBe("connected");
    expect(w.sshd.connections()).toBe(2);
    pool.evict(r.id); // both logins go
    expect(pool.state(r.id)).toBe("disconnected");
    expect(pool.state(r.id, "observer")).toBe("disconnected");
    // A pin the server does not match is refused for the observer exactly as for the operator.
    const wrong = {
      ...obs,
      hostKeyFingerprint: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      version: "other",
    };
    await expect(runRemote(pool, wrong, { command: "true", timeoutMs: 10_000 })).rejects.toMatchObject({
      code: "host_key_mismatch",
    });
    pool.evict(r.id);
  });

  it("remove_instance_observer: unapproved commands run as the operator again", async () => {
    const removed = await w.t.request("DELETE", `${w.path()}/observer`, { token: w.token });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body.observer).toBeNull();
    expect((await row()).observer_private_key_enc).toBeNull();
    expect((await runAs("id -un", "observer")).stdout).toBe(`${w.sshd.username}\n`);
  });

  it("set_instance_observer without a key generates one for the owner to install", async () => {
    const set = await w.t.request("PUT", `${w.path()}/observer`, {
      token: w.token,
      body: { username: "someone-else" },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.observer).toMatchObject({ username: "someone-else", key_source: "generated" });
    expect(set.body.observer.public_key).toMatch(/^ssh-ed25519 /);
    // Not installed (no such user): the observer's commands fail; they never fall back to the operator.
    await expect(runAs("id -un", "observer")).rejects.toMatchObject({ code: "auth_failed" });
    expect((await w.t.request("DELETE", `${w.path()}/observer`, { token: w.token })).status).toBe(200);
  });

  it("setup_instance_observer quotes its inputs into the fixed script", () => {
    const cmd = setupCommand("bosun-observer", "ssh-ed25519 AAAA it's; $(reboot)");
    expect(cmd).toMatch(
      /^sh -c '.*' bosun-observer-setup 'bosun-observer' 'ssh-ed25519 AAAA it'\\''s; \$\(reboot\)'$/s,
    );
  });

  it("setup_instance_observer creates a working, unprivileged observer through the operator's sudo", async () => {
    const name = w.sshd.spareUsername;
    expect(userExists(name)).toBe(false);
    const same = await w.t.request("POST", `${w.path()}/observer/setup`, {
      token: w.token,
      body: { username: w.sshd.username },
    });
    expect(same.status).toBe(400);
    const noExec = await w.user.token(["projects:*", "instances:read", "instances:write"]);
    expect(
      (await w.t.request("POST", `${w.path()}/observer/setup`, { token: noExec, body: { username: name } })).status,
    ).toBe(403);
    expect(userExists(name)).toBe(false);

    const res = await w.t.request("POST", `${w.path()}/observer/setup`, { token: w.token, body: { username: name } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.observer).toMatchObject({ username: name, key_source: "setup" });
    expect(JSON.stringify(res.body)).not.toMatch(/PRIVATE KEY/);
    expect(userExists(name)).toBe(true);
    // Really through sudo, each privileged step its own call.
    expect(w.sshd.sudoCalls().some((c) => c.startsWith("-n -- useradd"))).toBe(true);
    const groups = execFileSync("id", ["-Gn", name], { encoding: "utf8" }).trim().split(" ");
    expect(groups).not.toEqual(expect.arrayContaining(["sudo"]));
    const home = execFileSync("getent", ["passwd", name], { encoding: "utf8" }).split(":")[5]!;
    const keys = fs.readFileSync(path.join(home, ".ssh/authorized_keys"), "utf8");
    expect(keys.trim()).toBe(res.body.observer.public_key);
    expect(fs.statSync(path.join(home, ".ssh/authorized_keys")).uid).toBe(
      Number(execFileSync("id", ["-u", name], { encoding: "utf8" })),
    );

    // It works: commands narrowed to the observer run as it, and cannot write the operator's home.
    expect((await runAs("id -un", "observer")).stdout).toBe(`${name}\n`);
    const write = await runAs(`touch ${w.sshd.home}/planted`, "observer");
    expect(write.exit_code).not.toBe(0);
    expect(write.stderr).toMatch(/Permission denied/i);
    expect(fs.existsSync(path.join(w.sshd.home, "planted"))).toBe(false);

    // Running it again reuses the user and installs the new key; the newest key is the one Bosun holds.
    const again = await w.t.request("POST", `${w.path()}/observer/setup`, { token: w.token, body: { username: name } });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.observer.public_key).not.toBe(res.body.observer.public_key);
    expect((await runAs("id -un", "observer")).stdout).toBe(`${name}\n`);

    await w.t.platform.audit.flush();
    const audit = await w.t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "outcome"])
      .where("operation", "=", "setup_instance_observer")
      .execute();
    expect(audit.map((a) => a.outcome)).toEqual(
      expect.arrayContaining(["ok", "validation_error", "insufficient_scope"]),
    );
  });

  it("setup refuses a privileged user and changes nothing", async () => {
    const before = await row();
    // The observer fixture user, put in the disk group (raw disk access is root's): the setup must refuse it.
    const obs = w.sshd.observer!.username;
    execFileSync("usermod", ["-aG", "disk", obs]);
    try {
      const res = await w.t.request("POST", `${w.path()}/observer/setup`, { token: w.token, body: { username: obs } });
      expect(res.status).toBe(422);
      expect(res.body.error.message).toMatch(/group 'disk'/);
      expect((await row()).observer_username).toBe(before.observer_username);
    } finally {
      execFileSync("gpasswd", ["-d", obs, "disk"], { stdio: "ignore" });
    }
  });
});
