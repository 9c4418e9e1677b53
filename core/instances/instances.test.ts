import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform } from "../../testkit/harness.ts";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { invoke } from "../kernel/invoker.ts";

let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld();
});
afterAll(() => w?.close());

const req = (method: string, url: string, body?: unknown, token = w.token) => w.t.request(method, url, { token, body });

/** The `data` of the events of `type` published for instance `name`. */
const eventsOf = async (type: string, name: string) =>
  (await w.t.platform.db.selectFrom("events").select("data").where("type", "=", type).execute())
    .map((e) => e.data as Record<string, unknown>)
    .filter((d) => d.instance === name);

describe("instances", () => {
  it("registers with a supplied key that is sealed at rest, never returned, and not in the audit", async () => {
    const got = await req("GET", w.path());
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      project: "srv-proj",
      name: "box",
      provider: "ssh",
      host: "127.0.0.1",
      port: w.sshd.port,
      username: w.sshd.username,
      key_source: "supplied",
      host_key_fingerprint: null,
      connection: { state: "disconnected", last_connected_at: null, last_error: null },
    });
    // The public half is derived from the private key: the same key material the fixture authorized.
    expect(got.body.public_key.split(" ").slice(0, 2)).toEqual(w.sshd.publicKey.split(" ").slice(0, 2));
    const keyBody = w.sshd.privateKey.split("\n")[1]!;
    expect(JSON.stringify(got.body)).not.toContain(keyBody);
    const row = await w.t.platform.db
      .selectFrom("instances")
      .selectAll()
      .where("name", "=", "box")
      .executeTakeFirstOrThrow();
    expect(row.private_key_enc).not.toContain(keyBody);
    expect(w.t.platform.secrets.decrypt(row.private_key_enc)).toBe(w.sshd.privateKey);
    await w.t.platform.audit.flush();
    const audits = await w.t.platform.db
      .selectFrom("audit_events")
      .select(["operation", "input"])
      .where("operation", "=", "register_instance")
      .execute();
    expect(audits.length).toBeGreaterThan(0);
    for (const a of audits) {
      expect(JSON.stringify(a.input)).not.toContain(keyBody);
      expect((a.input as Record<string, unknown>).private_key).toBe("[redacted]");
    }
    const list = await req("GET", `/v1/projects/srv-proj/instances`);
    expect(list.status).toBe(200);
    expect(list.body.instances.map((i: { name: string }) => i.name)).toEqual(["box"]);
  });

  it("test_instance_connection pins the host key on the first connection, then refuses a changed one until it is reset", async () => {
    await w.t.request("POST", `/v1/projects/srv-proj/instances`, {
      token: w.token,
      body: {
        name: "pinning",
        host: w.sshd.host,
        port: w.sshd.port,
        username: w.sshd.username,
        private_key: w.sshd.privateKey,
      },
    });
    const first = await req("POST", `${w.path("pinning")}/test`);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body).toMatchObject({
      ok: true,
      newly_pinned: true,
      host_key_fingerprint: w.sshd.hostKeyFingerprint(),
    });
    const got = await req("GET", w.path("pinning"));
    expect(got.body.host_key_fingerprint).toBe(w.sshd.hostKeyFingerprint());
    expect(got.body.connection.state).toBe("connected");
    expect(got.body.connection.last_connected_at).not.toBeNull();
    const again = await req("POST", `${w.path("pinning")}/test`);
    expect(again.body.newly_pinned).toBe(false);

    const old = w.sshd.hostKeyFingerprint();
    await w.sshd.rotateHostKey();
    w.sshd.killConnections();
    const refused = await req("POST", `${w.path("pinning")}/test`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: "host_key_mismatch",
      pinned: old,
      presented: w.sshd.hostKeyFingerprint(),
    });
    expect(refused.body.error.message).toContain("reset_instance_host_key");
    // Every operation is refused, not just the test; the pin is unchanged and the failure recorded.
    const stillPinned = await req("GET", w.path("pinning"));
    expect(stillPinned.body.host_key_fingerprint).toBe(old);
    expect(stillPinned.body.connection.last_error).toMatch(/^host_key_mismatch/);
    // The owner hears of it once (an event, so webhooks and notifications), not on every refused call.
    expect((await req("POST", `${w.path("pinning")}/test`)).status).toBe(409);
    const changed = await eventsOf("instance.host_key_changed", "pinning");
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ project: "srv-proj", instance: "pinning", pinned_fingerprint: old });

    const reset = await req("POST", `${w.path("pinning")}/reset-host-key`);
    expect(reset.status).toBe(200);
    expect(reset.body.host_key_fingerprint).toBeNull();
    const repinned = await req("POST", `${w.path("pinning")}/test`);
    expect(repinned.status).toBe(200);
    expect(repinned.body).toMatchObject({ newly_pinned: true, host_key_fingerprint: w.sshd.hostKeyFingerprint() });
  });

  it("generates a key pair whose public key the customer installs; until then auth fails cleanly", async () => {
    const reg = await req("POST", `/v1/projects/srv-proj/instances`, {
      name: "genkey",
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
    });
    expect(reg.status).toBe(201);
    expect(reg.body.key_source).toBe("generated");
    expect(reg.body.public_key).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+ bosun$/);
    const refused = await req("POST", `${w.path("genkey")}/test`);
    expect(refused.status).toBe(502);
    expect(refused.body.error.code, `${JSON.stringify(refused.body)}\n${w.sshd.log()}`).toBe("auth_failed");
    expect(refused.body.error.message).toContain(w.sshd.username);

    fs.appendFileSync(path.join(w.sshd.home, ".ssh/authorized_keys"), `${reg.body.public_key}\n`);
    const ok = await req("POST", `${w.path("genkey")}/test`);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
  });

  it("answers an unreachable host with a typed error", async () => {
    // A port nothing listens on: connection refused.
    const reg = await req("POST", `/v1/projects/srv-proj/instances`, {
      name: "nobody",
      host: "127.0.0.1",
      port: 1,
      username: "x",
      private_key: w.sshd.privateKey,
    });
    expect(reg.status).toBe(201);
    const res = await req("POST", `${w.path("nobody")}/test`);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("unreachable");
    expect(res.body.error.message).toMatch(/ECONNREFUSED/);
    expect((await req("POST", `${w.path("nobody")}/test`)).status).toBe(502);
    const down = await eventsOf("instance.unreachable", "nobody");
    expect(down).toHaveLength(1);
    expect(down[0]!.error).toMatch(/ECONNREFUSED/);
  });

  it("update_instance changes name, address and key; a new address clears the pin; names are unique", async () => {
    await req("POST", `/v1/projects/srv-proj/instances`, {
      name: "upd",
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
      private_key: w.sshd.privateKey,
    });
    expect((await req("POST", `${w.path("upd")}/test`)).status).toBe(200);
    const renamed = await req("PATCH", w.path("upd"), { name: "upd-2" });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe("upd-2");
    expect(renamed.body.host_key_fingerprint).not.toBeNull(); // same server: pin kept
    expect((await req("GET", w.path("upd"))).status).toBe(404);
    const taken = await req("PATCH", w.path("upd-2"), { name: "box" });
    expect(taken.status).toBe(409);
    expect(taken.body.error.field).toBe("name");

    const moved = await req("PATCH", w.path("upd-2"), { port: 2222 });
    expect(moved.body).toMatchObject({ port: 2222, host_key_fingerprint: null });
    const back = await req("PATCH", w.path("upd-2"), { port: w.sshd.port, regenerate_key: true });
    expect(back.body.key_source).toBe("generated");
    expect(back.body.public_key).not.toBe(renamed.body.public_key);
    const refused = await req("POST", `${w.path("upd-2")}/test`);
    expect(refused.body.error.code, `${JSON.stringify(refused.body)}\n${w.sshd.log()}`).toBe("auth_failed");
    const both = await req("PATCH", w.path("upd-2"), { private_key: w.sshd.privateKey, regenerate_key: true });
    expect(both.status).toBe(400);
    const restored = await req("PATCH", w.path("upd-2"), { private_key: w.sshd.privateKey });
    expect(restored.body.key_source).toBe("supplied");
    expect((await req("POST", `${w.path("upd-2")}/test`)).status).toBe(200);

    const del = await req("DELETE", w.path("upd-2"));
    expect(del.body).toEqual({ deleted: true, instance: "upd-2" });
    expect((await req("GET", w.path("upd-2"))).status).toBe(404);
  });

  it("refuses bad input naming the field, and writes nothing", async () => {
    const base = {
      name: "bad",
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
      private_key: w.sshd.privateKey,
    };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, host: "not a host!" }, "host"],
      [{ ...base, host: "no-such-host.invalid" }, "host"],
      [{ ...base, port: 70000 }, "port"],
      [{ ...base, username: "bad user" }, "username"],
      [{ ...base, private_key: "hello" }, "private_key"],
      [{ ...base, private_key: w.sshd.publicKey }, "private_key"],
      [{ ...base, name: "Bad_Name!" }, "name"],
    ];
    for (const [body, field] of cases) {
      const res = await req("POST", `/v1/projects/srv-proj/instances`, body);
      expect(res.status, field).toBe(400);
      expect(
        res.body.error.issues.map((i: { path: string }) => i.path),
        field,
      ).toContain(field);
    }
    expect((await req("GET", w.path("bad"))).status).toBe(404);
    const dup = await req("POST", `/v1/projects/srv-proj/instances`, { ...base, name: "box" });
    expect(dup.status).toBe(409);
  });

  it("refuses agent command rules that could admit a shell, naming the rule, and keeps the old rules", async () => {
    const ok = await req("PATCH", w.path(), {
      agent_command_rules: { allow: ["systemctl restart nginx", "systemctl status *"], deny: ["*rm -rf*"] },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.agent_command_rules).toEqual({
      allow: ["systemctl restart nginx", "systemctl status *"],
      deny: ["*rm -rf*"],
    });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ allow: ["sh -c *"] }, "agent_command_rules.allow.0", /shell/],
      [{ allow: ["ls", "bash -c *"] }, "agent_command_rules.allow.1", /bash/],
      [{ allow: ["python3 -c *"] }, "agent_command_rules.allow.0", /python3/],
      [{ allow: ["* restart"] }, "agent_command_rules.allow.0", /program/],
      [{ allow: ["sudo systemctl restart nginx"] }, "agent_command_rules.allow.0", /sudo/],
      [{ allow: ["eval *"] }, "agent_command_rules.allow.0", /eval/],
      [{ allow: ["env FOO=1 ls"] }, "agent_command_rules.allow.0", /env/],
      [{ allow: ["xargs rm"] }, "agent_command_rules.allow.0", /xargs/],
      [{ allow: ["systemctl restart x; sh"] }, "agent_command_rules.allow.0", /plain word/],
      [{ deny: ["rm $(x)"] }, "agent_command_rules.deny.0", /plain word/],
    ];
    for (const [rules, field, why] of cases) {
      const res = await req("PATCH", w.path(), { agent_command_rules: rules });
      expect(res.status, JSON.stringify(rules)).toBe(400);
      const issue = res.body.error.issues.find((i: { path: string }) => i.path === field);
      expect(issue, JSON.stringify(res.body.error.issues)).toBeDefined();
      expect(issue.message).toMatch(why);
    }
    expect((await req("GET", w.path())).body.agent_command_rules).toEqual({
      allow: ["systemctl restart nginx", "systemctl status *"],
      deny: ["*rm -rf*"],
    });
    expect((await req("PATCH", w.path(), { agent_command_rules: { allow: [], deny: [] } })).status).toBe(200);
  });

  it("refuses a site project, another tenant's instance and a pinned-out instance", async () => {
    expect((await req("POST", "/v1/projects", { slug: "a-site", name: "Site", kind: "site" })).status).toBe(201);
    const onSite = await req("POST", "/v1/projects/a-site/instances", { name: "x", host: "127.0.0.1", username: "u" });
    expect(onSite.status).toBe(422);
    expect(onSite.body.error.message).toContain("instance");
    expect((await req("GET", "/v1/projects/a-site/instances")).status).toBe(422);

    const stranger = await (await w.t.account()).token(["*"]);
    for (const [method, url] of [
      ["GET", w.path()],
      ["POST", `${w.path()}/test`],
      ["PATCH", w.path()],
      ["DELETE", w.path()],
      ["GET", "/v1/projects/srv-proj/instances"],
    ] as const) {
      const res = await req(method, url, undefined, stranger);
      expect(res.status, url).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
    const readOnly = await w.user.token(["instances:read"]);
    const del = await req("DELETE", w.path(), undefined, readOnly);
    expect(del.status).toBe(403);
    expect(del.body.error.required_scope).toBe("instances:write");
  });
});

describe("pins", () => {
  it("a principal pinned to one instance reaches no other (as an agent run is)", async () => {
    const base = await w.t.platform.auth.principal(w.token, "agent", null);
    const pinned = { ...base, pins: { project: "srv-proj", instance: "pinning" } };
    const got = (await invoke(w.t.platform, "get_instance", { project: "srv-proj", instance: "pinning" }, pinned)) as {
      name: string;
    };
    expect(got.name).toBe("pinning");
    await expect(
      invoke(w.t.platform, "get_instance", { project: "srv-proj", instance: "box" }, pinned),
    ).rejects.toMatchObject({ code: "not_found" });
    await expect(
      invoke(w.t.platform, "run_command", { project: "srv-proj", instance: "box", command: "true" }, pinned),
    ).rejects.toMatchObject({ code: "not_found" });
    const list = (await invoke(w.t.platform, "list_instances", { project: "srv-proj" }, pinned)) as {
      instances: { name: string }[];
    };
    expect(list.instances.map((i) => i.name)).toEqual(["pinning"]);
  });
});

describe("egress policy", () => {
  it("refuses to register or reach private addresses unless the operator allows them", async () => {
    const t = await startTestPlatform({ config: { egressAllowPrivate: false } });
    try {
      const token = await (await t.account()).token(["*"]);
      await t.request("POST", "/v1/projects", { token, body: { slug: "strict", name: "S", kind: "instance" } });
      for (const host of ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:192.168.0.1", "localhost"]) {
        const res = await t.request("POST", "/v1/projects/strict/instances", {
          token,
          body: { name: "x", host, username: "u" },
        });
        expect(res.status, host).toBe(403);
        expect(res.body.error).toMatchObject({ code: "egress_denied", field: "host" });
      }
      // A row that predates the policy (or a host whose DNS changed) is refused at connect time too.
      const ok = await t.request("POST", "/v1/projects/strict/instances", {
        token,
        body: { name: "pub", host: "203.0.114.1", username: "u" },
      });
      expect(ok.status).toBe(201);
      await t.platform.db.updateTable("instances").set({ host: "127.0.0.1" }).where("name", "=", "pub").execute();
      const res = await t.request("POST", "/v1/projects/strict/instances/pub/test", { token });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("egress_denied");
    } finally {
      await t.close();
    }
  });
});

describe("delete_instance", () => {
  it("drops its pooled connection, answers 404 for it afterwards and frees its name", async () => {
    const body = {
      name: "gone",
      host: w.sshd.host,
      port: w.sshd.port,
      username: w.sshd.username,
      private_key: w.sshd.privateKey,
    };
    const created = await req("POST", "/v1/projects/srv-proj/instances", body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const idOf = async () =>
      (await w.t.platform.db.selectFrom("instances").select("id").where("name", "=", "gone").executeTakeFirstOrThrow())
        .id;
    const id = await idOf();
    expect((await req("POST", `${w.path("gone")}/test`)).status).toBe(200);
    const pool = w.t.platform.instances.pool;
    expect(pool.state(id)).toBe("connected");

    const del = await req("DELETE", w.path("gone"));
    expect(del.body).toEqual({ deleted: true, instance: "gone" });
    expect(pool.state(id)).toBe("disconnected");
    expect(await w.t.platform.db.selectFrom("instances").select("id").where("id", "=", id).execute()).toEqual([]);
    const cmd = await req("POST", `${w.path("gone")}/commands`, { command: "true" });
    expect(cmd.status).toBe(404);
    expect(cmd.body.error).toMatchObject({ code: "not_found", resource: "instance" });
    const names = (await req("GET", "/v1/projects/srv-proj/instances")).body.instances.map(
      (i: { name: string }) => i.name,
    );
    expect(names).not.toContain("gone");

    const again = await req("POST", "/v1/projects/srv-proj/instances", body);
    expect(again.status).toBe(201);
    expect(await idOf()).not.toBe(id);
    expect((await req("DELETE", w.path("gone"))).status).toBe(200);
  });
});
