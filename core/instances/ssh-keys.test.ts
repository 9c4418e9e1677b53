import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { generateSshKeyPair } from "./ssh-keypair.ts";
import { parsePublicKey } from "./ssh-keys.ts";

let w: InstanceWorld;
let extra: { pub: string; fingerprint: string };
beforeAll(async () => {
  w = await startInstanceWorld();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-keytest-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", path.join(dir, "k")]);
  const pub = fs.readFileSync(path.join(dir, "k.pub"), "utf8").trim();
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", path.join(dir, "k.pub")], {
    encoding: "utf8",
  }).split(" ")[1]!;
  fs.rmSync(dir, { recursive: true });
  extra = { pub, fingerprint };
});
afterAll(() => w?.close());

const req = (method: string, url: string, body?: unknown, token = w.token) => w.t.request(method, url, { token, body });
const authorized = () => fs.readFileSync(path.join(w.sshd.home, ".ssh/authorized_keys"), "utf8");

describe("ssh keys", () => {
  it("validates OpenSSH public keys and fingerprints them like ssh-keygen", () => {
    expect(parsePublicKey(extra.pub)).toMatchObject({
      type: "ssh-ed25519",
      comment: "alice@laptop",
      fingerprint: extra.fingerprint,
      line: extra.pub,
    });
    const blob = extra.pub.split(" ")[1]!;
    for (const bad of [
      "",
      "ssh-ed25519",
      "hello world",
      `ssh-rsa ${blob}`,
      `ssh-ed25519 ${blob}!!`,
      `ssh-ed25519 ${blob}\nssh-ed25519 ${blob}`,
      w.sshd.privateKey,
      `ssh-dss ${blob}`,
    ]) {
      expect(() => parsePublicKey(bad), bad.slice(0, 30)).toThrow();
    }
  });

  it("add_ssh_key, list_ssh_keys and delete_ssh_key: adds, lists and deletes keys per account", async () => {
    const added = await req("POST", "/v1/ssh-keys", { name: "alice", public_key: `  ${extra.pub}  ` });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body).toMatchObject({ name: "alice", public_key: extra.pub, fingerprint: extra.fingerprint });
    const dup = await req("POST", "/v1/ssh-keys", { name: "again", public_key: extra.pub });
    expect(dup.status).toBe(409);
    const bad = await req("POST", "/v1/ssh-keys", { name: "bad", public_key: "ssh-ed25519 nope" });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe("public_key");

    const list = await req("GET", "/v1/ssh-keys");
    expect(list.body.keys.map((k: { name: string }) => k.name)).toEqual(["alice"]);
    const stranger = await (await w.t.account()).token(["*"]);
    expect((await req("GET", "/v1/ssh-keys", undefined, stranger)).body.keys).toEqual([]);
    expect((await req("DELETE", `/v1/ssh-keys/${added.body.id}`, undefined, stranger)).status).toBe(404);

    const del = await req("DELETE", `/v1/ssh-keys/${added.body.id}`);
    expect(del.body).toEqual({ deleted: true, id: added.body.id });
    expect((await req("GET", "/v1/ssh-keys")).body.keys).toEqual([]);
  });

  it("list_ssh_keys lists only the caller's keys, oldest first; refuses an unknown field and a token without instances:read", async () => {
    const mine: string[] = [];
    for (const name of ["first", "second"]) {
      const key = generateSshKeyPair("bosun-test").public;
      mine.push((await req("POST", "/v1/ssh-keys", { name, public_key: key })).body.id);
    }
    const other = await w.t.account();
    await req("POST", "/v1/ssh-keys", { name: "theirs", public_key: extra.pub }, await other.token(["*"]));
    const list = await req("GET", "/v1/ssh-keys", undefined, await w.user.token(["instances:read"]));
    expect(list.status).toBe(200);
    expect(list.body.keys.map((k: { id: string; name: string }) => [k.id, k.name])).toEqual([
      [mine[0], "first"],
      [mine[1], "second"],
    ]);
    expect(JSON.stringify(list.body)).not.toContain("theirs");

    const unknown = await req("GET", "/v1/ssh-keys?zz_unknown=1");
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body.error.issues)).toContain("zz_unknown");
    const denied = await req("GET", "/v1/ssh-keys", undefined, await w.user.token(["instances:write"]));
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("instances:read");
    for (const id of mine) expect((await req("DELETE", `/v1/ssh-keys/${id}`)).status).toBe(200);
  });

  it("install_ssh_key installs a key into authorized_keys once, by id or inline", async () => {
    // A file whose last line lacks its newline must not get our key glued onto it.
    const file = path.join(w.sshd.home, ".ssh/authorized_keys");
    fs.writeFileSync(file, authorized().trimEnd());
    const added = await req("POST", "/v1/ssh-keys", { name: "alice", public_key: extra.pub });
    const url = `${w.path()}/authorized-keys`;
    const first = await req("POST", url, { key_id: added.body.id });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toEqual({ fingerprint: extra.fingerprint, installed: true });
    const again = await req("POST", url, { public_key: extra.pub.replace("alice@laptop", "other comment") });
    expect(again.body).toEqual({ fingerprint: extra.fingerprint, installed: false });
    const lines = authorized().split("\n").filter(Boolean);
    expect(lines).toEqual([w.sshd.publicKey, extra.pub]);
    expect((await req("POST", url, {})).status).toBe(400);
    expect((await req("POST", url, { key_id: added.body.id, public_key: extra.pub })).status).toBe(400);
  });

  it("needs instances:exec besides instances:write, in token and role", async () => {
    const url = `${w.path()}/authorized-keys`;
    const writeOnly = await w.user.token(["instances:write", "instances:read"]);
    const res = await req("POST", url, { public_key: extra.pub }, writeOnly);
    expect(res.status).toBe(403);
    expect(res.body.error.required_scope).toBe("instances:exec");
    const execOnly = await w.user.token(["instances:exec"]);
    expect((await req("POST", url, { public_key: extra.pub }, execOnly)).body.error.required_scope).toBe(
      "instances:write",
    );
  });
});
