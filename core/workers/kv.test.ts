// KV stores: the operations on REST (what they store and refuse, and to whom), expiry on a controlled clock (invisible
// at once, swept later), key listing with prefix and cursor, and the binding the workers runtime wraps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { kvBinding, kvGet, kvList, kvPut, resolveBindingResource, sweepExpiredKv } from "./kv.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

let seq = 0;
async function owner() {
  const user = await t.account();
  const token = await user.token(["projects:*", "workers:*"]);
  const project = `kv-${++seq}-${user.id.slice(0, 6)}`;
  const res = await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "K", kind: "site" } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const projectId = (
    await t.platform.db.selectFrom("projects").select("id").where("slug", "=", project).executeTakeFirstOrThrow()
  ).id;
  return { user, token, project, projectId, base: `/v1/projects/${project}/kv` };
}
type Owner = Awaited<ReturnType<typeof owner>>;
const store = async (o: Owner, name = "cache") => {
  const res = await t.request("POST", o.base, { token: o.token, body: { name } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
};
const put = (o: Owner, body: Record<string, unknown>, name = "cache") =>
  t.request("PUT", `${o.base}/${name}/value`, { token: o.token, body });
const get = (o: Owner, key: string, name = "cache", extra = "") =>
  t.request("GET", `${o.base}/${name}/value?key=${encodeURIComponent(key)}${extra}`, { token: o.token });

describe("KV stores", () => {
  it("create_kv_store, list_kv_stores, delete_kv_store: a name is unique in the project, deleting takes the entries", async () => {
    const o = await owner();
    const id = await store(o);
    const dup = await t.request("POST", o.base, { token: o.token, body: { name: "cache" } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe("conflict");
    await store(o, "sessions");
    const list = await t.request("GET", o.base, { token: o.token });
    expect(list.body.stores.map((s: { name: string }) => s.name)).toEqual(["cache", "sessions"]);
    expect((await put(o, { key: "a", value: "1" })).status).toBe(200);
    const del = await t.request("DELETE", `${o.base}/cache`, { token: o.token });
    expect(del.status).toBe(200);
    const left = await t.platform.db.selectFrom("worker_kv_entries").select("key").where("store_id", "=", id).execute();
    expect(left).toEqual([]);
    expect((await t.request("DELETE", `${o.base}/cache`, { token: o.token })).status).toBe(404);
  });

  it("put_kv_value, get_kv_value, delete_kv_value: text and bytes, metadata, overwrite", async () => {
    const o = await owner();
    await store(o);
    const w = await put(o, { key: "greeting", value: "héllo", metadata: { lang: "fr" } });
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(w.body).toMatchObject({ key: "greeting", bytes: 6, expires_at: null });
    const r = await get(o, "greeting");
    expect(r.body).toMatchObject({ value: "héllo", encoding: "utf8", metadata: { lang: "fr" }, expiration: null });
    // Bytes that are not UTF-8 come back as base64, whatever was asked for by default.
    const bin = Buffer.from([0, 255, 1, 254]);
    await put(o, { key: "bin", value: bin.toString("base64"), encoding: "base64" });
    const rb = await get(o, "bin");
    expect(rb.body.encoding).toBe("base64");
    expect(Buffer.from(rb.body.value, "base64")).toEqual(bin);
    expect((await get(o, "greeting", "cache", "&encoding=base64")).body.value).toBe(
      Buffer.from("héllo").toString("base64"),
    );
    await put(o, { key: "greeting", value: "hi" });
    expect((await get(o, "greeting")).body).toMatchObject({ value: "hi", metadata: null });
    const d = await t.request("DELETE", `${o.base}/cache/value?key=greeting`, { token: o.token });
    expect(d.body).toEqual({ deleted: true });
    expect((await get(o, "greeting")).status).toBe(404);
    const again = await t.request("DELETE", `${o.base}/cache/value?key=greeting`, { token: o.token });
    expect(again.body).toEqual({ deleted: false });
  });

  it("put_kv_value refuses, naming the field: a key over 512 bytes, a short TTL, a past expiration, big metadata, bad base64", async () => {
    const o = await owner();
    await store(o);
    const cases: [Record<string, unknown>, string][] = [
      [{ key: "k".repeat(513), value: "x" }, "key"],
      [{ key: "k", value: "x", expiration_ttl: 30 }, "expiration_ttl"],
      [{ key: "k", value: "x", expiration: Math.floor(Date.now() / 1000) - 10 }, "expiration"],
      [{ key: "k", value: "x", metadata: { big: "m".repeat(1100) } }, "metadata"],
      [{ key: "k", value: "***", encoding: "base64" }, "value"],
    ];
    for (const [body, field] of cases) {
      const res = await put(o, body);
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
    expect((await get(o, "k")).status).toBe(404);
  });

  it("another tenant gets 404 for the project, a missing scope 403, an unknown store 404", async () => {
    const o = await owner();
    await store(o);
    await put(o, { key: "secret", value: "mine" });
    const stranger = await t.account();
    const st = await stranger.token(["projects:*", "workers:*"]);
    const res = await t.request("GET", `${o.base}/cache/value?key=secret`, { token: st });
    expect(res.status).toBe(404);
    expect(res.body.error.resource).toBe("project");
    const reader = await o.user.token(["projects:read", "workers:read"]);
    const w = await t.request("PUT", `${o.base}/cache/value`, { token: reader, body: { key: "x", value: "y" } });
    expect(w.status).toBe(403);
    expect(w.body.error.required_scope).toBe("workers:write");
    expect((await get(o, "secret", "nope")).body.error).toMatchObject({ code: "not_found", resource: "kv_store" });
  });

  it("TTL: an entry is invisible the moment it expires (get, list) and the sweep deletes it later", async () => {
    const o = await owner();
    const id = await store(o);
    const w = await put(o, { key: "short", value: "v", expiration_ttl: 60 });
    expect(w.status, JSON.stringify(w.body)).toBe(200);
    expect(Date.parse(w.body.expires_at) - Date.now()).toBeGreaterThan(55_000);
    await put(o, { key: "long", value: "v" });
    const at = Date.parse(w.body.expires_at);
    expect(await kvGet(t.platform.db, id, "short", new Date(at - 1000))).not.toBeNull();
    expect(await kvGet(t.platform.db, id, "short", new Date(at))).toBeNull();
    expect((await kvList(t.platform.db, id, {}, new Date(at + 1))).keys.map((k) => k.name)).toEqual(["long"]);
    // Through REST, on the real clock, it is still there, with its expiration.
    const listed = await t.request("GET", `${o.base}/cache/keys`, { token: o.token });
    expect(listed.body.keys.find((k: { name: string }) => k.name === "short").expiration).toBe(Math.floor(at / 1000));
    // Rewriting a key without a TTL makes it permanent again.
    await kvPut(t.platform.db, id, "again", "v", { expirationTtl: 60 });
    await kvPut(t.platform.db, id, "again", "v2");
    expect((await kvGet(t.platform.db, id, "again", new Date(Date.now() + 3600_000)))?.value.toString()).toBe("v2");

    expect(await sweepExpiredKv(t.platform.db, new Date(at - 1000))).toBe(0);
    expect(await sweepExpiredKv(t.platform.db, new Date(at + 1000))).toBeGreaterThanOrEqual(1);
    const rows = await t.platform.db.selectFrom("worker_kv_entries").select("key").where("store_id", "=", id).execute();
    expect(rows.map((r) => r.key).sort()).toEqual(["again", "long"]);
  });

  it("list_kv_keys pages in byte order with a prefix and a cursor", async () => {
    const o = await owner();
    await store(o);
    const keys = ["user:1", "user:10", "user:2", "user:Z", "user:é", "zeta", "alpha", "user:a"];
    for (const key of keys) await put(o, { key, value: key });
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const q: string = `prefix=user%3A&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const res = await t.request("GET", `${o.base}/cache/keys?${q}`, { token: o.token });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.keys.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.keys.map((k: { name: string }) => k.name));
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(["user:1", "user:10", "user:2", "user:Z", "user:a", "user:é"]);
    const bad = await t.request("GET", `${o.base}/cache/keys?cursor=not%20a%20cursor`, { token: o.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toBe("cursor");
  });

  it("kvBinding: Cloudflare's get/getWithMetadata/put/delete/list over the same data as the operations", async () => {
    const o = await owner();
    await store(o);
    const id = await resolveBindingResource(t.platform.db, o.projectId, "kv", "cache");
    const kv = kvBinding(t.platform, { projectId: o.projectId, storeId: id });
    await kv.put("config", JSON.stringify({ on: true }), { metadata: { v: 2 }, expirationTtl: 120 });
    await kv.put("raw", new Uint8Array([1, 2, 3]));
    expect(await kv.get("config", "json")).toEqual({ on: true });
    expect(await kv.getWithMetadata("config")).toEqual({ value: '{"on":true}', metadata: { v: 2 } });
    expect(new Uint8Array((await kv.get("raw", "arrayBuffer")) as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]));
    expect(await kv.get("missing")).toBeNull();
    const first = await kv.list({ limit: 1 });
    expect(first).toMatchObject({ keys: [{ name: "config", metadata: { v: 2 } }], list_complete: false });
    expect(typeof first.keys[0]?.expiration).toBe("number");
    const second = await kv.list({ limit: 1, cursor: first.cursor });
    expect(second).toEqual({ keys: [{ name: "raw" }], list_complete: true });
    // What the worker wrote, the operations read.
    expect((await get(o, "config")).body.metadata).toEqual({ v: 2 });
    await kv.delete("raw");
    expect((await get(o, "raw")).status).toBe(404);
    await expect(kv.put("x".repeat(600), "v")).rejects.toMatchObject({ code: "validation_error" });
    // A worker still holding a binding to a store deleted since gets not_found, not an internal error.
    expect((await t.request("DELETE", `${o.base}/cache`, { token: o.token })).status).toBe(200);
    await expect(kv.put("late", "v")).rejects.toMatchObject({ code: "not_found", details: { resource: "kv_store" } });
    expect(await kv.get("config")).toBeNull();
    // Another project's store is not found by name from this one.
    const other = await owner();
    await expect(resolveBindingResource(t.platform.db, other.projectId, "kv", "cache")).rejects.toMatchObject({
      code: "not_found",
    });
  });
});
