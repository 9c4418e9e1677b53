import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

const createProject = (token: string, key: string | null, body: Record<string, unknown>) =>
  t.request("POST", "/v1/projects", { token, body, headers: key ? { "Idempotency-Key": key } : {} });
const projectsWith = (slug: string) =>
  t.platform.db.selectFrom("projects").select("id").where("slug", "=", slug).execute();
const keyRows = (key: string) =>
  t.platform.db.selectFrom("idempotency_keys").selectAll().where("key", "=", key).execute();

describe("Idempotency-Key on REST", () => {
  it("a retry with the same key and body returns the first response and creates one project", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    const body = { slug: "idem-once", name: "Once", kind: "site" };
    const first = await createProject(token, "key-once", body);
    expect(first.status).toBe(201);
    const second = await createProject(token, "key-once", body);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(await projectsWith("idem-once")).toHaveLength(1);
    // Without the key the same request really runs again, and fails.
    expect((await createProject(token, null, body)).status).toBe(409);
    const rows = await keyRows("key-once");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ operation: "create_project", state: "done", response_encrypted: false });
  });

  it("the same key with a different body is a conflict, and nothing runs", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    expect((await createProject(token, "key-differs", { slug: "idem-first", name: "A", kind: "site" })).status).toBe(
      201,
    );
    const other = await createProject(token, "key-differs", { slug: "idem-second", name: "A", kind: "site" });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("conflict");
    expect(other.body.error.idempotency_key).toBe("key-differs");
    expect(await projectsWith("idem-second")).toHaveLength(0);
  });

  it("keys belong to one credential: another token's same key is its own", async () => {
    const user = await t.account();
    const one = await user.token(["projects:write"]);
    const two = await user.token(["projects:write"]);
    expect((await createProject(one, "shared-key", { slug: "idem-tok-one", name: "A", kind: "site" })).status).toBe(
      201,
    );
    // Not a replay of the first token's response, and not a conflict: it runs.
    const other = await createProject(two, "shared-key", { slug: "idem-tok-two", name: "B", kind: "site" });
    expect(other.status).toBe(201);
    expect(other.body.slug).toBe("idem-tok-two");
    // With the first token's body it runs too, and so meets the taken slug.
    const same = await createProject(two, "another-key", { slug: "idem-tok-one", name: "A", kind: "site" });
    expect(same.status).toBe(409);
    const strangerToken = await (await t.account()).token(["projects:write"]);
    const stranger = await createProject(strangerToken, "shared-key", {
      slug: "idem-tok-one",
      name: "A",
      kind: "site",
    });
    expect(stranger.status).toBe(409);
    expect(stranger.body.error.field).toBe("slug");
    expect(await keyRows("shared-key")).toHaveLength(2);
  });

  it("a failed call frees its key, so a corrected retry runs", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    expect((await createProject(token, null, { slug: "idem-taken", name: "A", kind: "site" })).status).toBe(201);
    const failed = await createProject(token, "key-retry", { slug: "idem-taken", name: "A", kind: "site" });
    expect(failed.status).toBe(409);
    expect(failed.body.error.field).toBe("slug");
    expect(await keyRows("key-retry")).toHaveLength(0);
    const retried = await createProject(token, "key-retry", { slug: "idem-free", name: "A", kind: "site" });
    expect(retried.status).toBe(201);
    expect(retried.body.slug).toBe("idem-free");
  });

  it("create_api_token replays the same token, and the stored response is encrypted", async () => {
    const user = await t.account();
    const token = await user.token(["tokens:write", "projects:read"]);
    const body = { name: "replayed", scopes: ["projects:read"] };
    const first = await t.request("POST", "/v1/tokens", { token, body, headers: { "Idempotency-Key": "mint-1" } });
    expect(first.status).toBe(201);
    const second = await t.request("POST", "/v1/tokens", { token, body, headers: { "Idempotency-Key": "mint-1" } });
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.token).toBe(first.body.token);
    const minted = await t.platform.db
      .selectFrom("api_tokens")
      .select("id")
      .where("account_id", "=", user.id)
      .where("name", "=", "replayed")
      .execute();
    expect(minted).toHaveLength(1);

    const [row] = await keyRows("mint-1");
    expect(row).toMatchObject({ operation: "create_api_token", state: "done", response_encrypted: true });
    expect(JSON.stringify(row)).not.toContain(first.body.token);
    expect(JSON.stringify(row)).not.toContain(first.body.id);
    expect(JSON.parse(t.platform.secrets.decrypt(row!.response!)).token).toBe(first.body.token);
  });

  it("concurrent requests with one key run the operation once", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    const body = { slug: "idem-race", name: "Race", kind: "site" };
    const results = await Promise.all(Array.from({ length: 4 }, () => createProject(token, "key-race", body)));
    const ok = results.filter((r) => r.status === 201);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    for (const r of ok) expect(r.body).toEqual(ok[0]!.body);
    // The others were either replays (201, same body) or told the first is still running (409).
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status).toBe(409);
      expect(r.body.error.idempotency_key).toBe("key-race");
    }
    expect(await projectsWith("idem-race")).toHaveLength(1);
  });

  it("a key used for one operation is a conflict for another", async () => {
    const token = await (await t.account()).token(["projects:write", "tokens:write"]);
    expect((await createProject(token, "key-two-ops", { slug: "idem-two-ops", name: "A", kind: "site" })).status).toBe(
      201,
    );
    const other = await t.request("POST", "/v1/tokens", {
      token,
      body: { name: "x", scopes: ["projects:write"] },
      headers: { "Idempotency-Key": "key-two-ops" },
    });
    expect(other.status).toBe(409);
    expect(other.body.token).toBeUndefined();
  });

  it("a replay still passes the gate: after losing access, the stored response is not handed out", async () => {
    const owner = await t.account();
    const ownerToken = await owner.token(["*"]);
    const member = await t.account();
    expect((await createProject(ownerToken, null, { slug: "idem-access", name: "A", kind: "site" })).status).toBe(201);
    await t.addMember("idem-access", ownerToken, member, "maintainer");
    const token = await member.token(["projects:write"]);
    const rename = () =>
      t.request("PATCH", "/v1/projects/idem-access", {
        token,
        body: { name: "Renamed" },
        headers: { "Idempotency-Key": "key-access" },
      });
    expect((await rename()).status).toBe(200);
    expect((await rename()).status).toBe(200);
    expect(
      (await t.request("DELETE", `/v1/projects/idem-access/members/${member.id}`, { token: ownerToken })).status,
    ).toBe(200);
    const after = await rename();
    expect(after.status).toBe(404);
    expect(after.body.name).toBeUndefined();
  });

  it("read operations ignore the header", async () => {
    const token = await (await t.account()).token(["projects:read", "projects:write"]);
    const first = await t.request("GET", "/v1/projects", { token, headers: { "Idempotency-Key": "read-key" } });
    expect(first.status).toBe(200);
    expect(first.body.projects).toEqual([]);
    expect((await createProject(token, null, { slug: "idem-read", name: "R", kind: "site" })).status).toBe(201);
    const second = await t.request("GET", "/v1/projects", { token, headers: { "Idempotency-Key": "read-key" } });
    expect(second.body.projects.map((p: { slug: string }) => p.slug)).toEqual(["idem-read"]);
    expect(await keyRows("read-key")).toHaveLength(0);
    // Even a malformed key is not looked at on a read.
    expect(
      (await t.request("GET", "/v1/projects", { token, headers: { "Idempotency-Key": "k".repeat(300) } })).status,
    ).toBe(200);
  });

  it("refuses a malformed key with 400, before anything runs", async () => {
    const token = await (await t.account()).token(["projects:write"]);
    for (const key of ["k".repeat(256), "with space", "é-accent"]) {
      const res = await createProject(token, key, { slug: "idem-badkey", name: "B", kind: "site" });
      expect(res.status, key).toBe(400);
      expect(res.body.error.issues[0].path).toBe("Idempotency-Key");
    }
    expect(await projectsWith("idem-badkey")).toHaveLength(0);
  });
});
