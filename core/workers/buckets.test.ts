// Buckets: the operations on REST (raw upload and download, base64 for JSON callers, refusals, tenants and scopes),
// content-addressed bodies shared with the sites blob store, R2 listing with a delimiter across pages, range reads,
// and the binding the workers runtime wraps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { sha256Hex, sweepOrphanBlobs } from "../sites/blobs.ts";
import { bucketBinding, OBJECT_MAX_BYTES, successor } from "./buckets.ts";
import { resolveBindingResource } from "./kv.ts";

let t: TestPlatform;
beforeAll(async () => {
  t = await startTestPlatform();
});
afterAll(() => t?.close());

let seq = 0;
async function owner() {
  const user = await t.account();
  const token = await user.token(["projects:*", "workers:*"]);
  const project = `bk-${++seq}-${user.id.slice(0, 6)}`;
  const res = await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "B", kind: "site" } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const projectId = (
    await t.platform.db.selectFrom("projects").select("id").where("slug", "=", project).executeTakeFirstOrThrow()
  ).id;
  const made = await t.request("POST", `/v1/projects/${project}/buckets`, { token, body: { name: "assets" } });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  const base = `/v1/projects/${project}/buckets/assets`;
  return { user, token, project, projectId, bucketId: made.body.id as string, base };
}
type Owner = Awaited<ReturnType<typeof owner>>;

/** A raw upload, as curl --data-binary would send it. */
async function upload(o: Owner, key: string, data: Buffer | string, query = "") {
  const res = await t.app.request(`${o.base}/object?key=${encodeURIComponent(key)}${query}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${o.token}`, "Content-Type": "application/octet-stream" },
    body: typeof data === "string" ? data : new Uint8Array(data),
  });
  return { status: res.status, body: (await res.json()) as any };
}
async function download(o: Owner, key: string, query = "") {
  const res = await t.app.request(`${o.base}/object?key=${encodeURIComponent(key)}${query}`, {
    headers: { Authorization: `Bearer ${o.token}` },
  });
  return { status: res.status, type: res.headers.get("content-type"), bytes: Buffer.from(await res.arrayBuffer()) };
}

describe("buckets", () => {
  it("put_bucket_object raw and get_bucket_object raw: the bytes, their Content-Type, etag = SHA-256", async () => {
    const o = await owner();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255]);
    const up = await upload(o, "img/logo.png", png, "&content_type=image%2Fpng");
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body).toMatchObject({
      key: "img/logo.png",
      size: png.length,
      etag: sha256Hex(png),
      content_type: "image/png",
    });
    const down = await download(o, "img/logo.png");
    expect(down.status).toBe(200);
    expect(down.type).toBe("image/png");
    expect(down.bytes).toEqual(png);
    // The body is the sites blob store's, by hash: the same bytes in a site file are stored once.
    const blobs = await t.platform.db
      .selectFrom("site_blobs")
      .select("sha256")
      .where("sha256", "=", sha256Hex(png))
      .execute();
    expect(blobs).toHaveLength(1);
    // JSON callers (MCP) send and get base64.
    const j = await t.request("PUT", `${o.base}/object`, {
      token: o.token,
      body: {
        key: "notes.txt",
        content_base64: Buffer.from("hello").toString("base64"),
        custom_metadata: { by: "test" },
      },
    });
    expect(j.status, JSON.stringify(j.body)).toBe(200);
    expect(j.body.custom_metadata).toEqual({ by: "test" });
    const raw = await download(o, "notes.txt");
    expect(raw.type).toBe("application/octet-stream");
    expect(raw.bytes.toString()).toBe("hello");
    // Overwrite gives a new version and etag.
    const again = await upload(o, "notes.txt", "hello, world");
    expect(again.body.version).not.toBe(j.body.version);
    expect(again.body.etag).toBe(sha256Hex(Buffer.from("hello, world")));
  });

  it("get_bucket_object reads a range (offset/length, suffix) and refuses one past the end", async () => {
    const o = await owner();
    await upload(o, "digits", "0123456789");
    expect((await download(o, "digits", "&offset=2&length=3")).bytes.toString()).toBe("234");
    expect((await download(o, "digits", "&offset=7")).bytes.toString()).toBe("789");
    expect((await download(o, "digits", "&suffix=4")).bytes.toString()).toBe("6789");
    expect((await download(o, "digits", "&offset=8&length=100")).bytes.toString()).toBe("89");
    const past = await t.request("GET", `${o.base}/object?key=digits&offset=10`, { token: o.token });
    expect(past.status).toBe(400);
    expect(past.body.error.issues[0].path).toBe("range");
    const both = await t.request("GET", `${o.base}/object?key=digits&offset=1&suffix=2`, { token: o.token });
    expect(both.status).toBe(400);
    expect(both.body.error.issues[0].path).toBe("suffix");
    const b = bucketBinding(t.platform, { projectId: o.projectId, bucketId: o.bucketId });
    const part = await b.get("digits", { range: { offset: 1, length: 2 } });
    expect(part?.body.toString()).toBe("12");
    expect(part?.range).toEqual({ offset: 1, length: 2 });
    expect(part?.size).toBe(10);
  });

  it("list_bucket_objects with a delimiter folds keys into delimited_prefixes, across pages", async () => {
    const o = await owner();
    const keys = ["a.txt", "docs/1.md", "docs/2.md", "docs/sub/3.md", "img/a.png", "img/b.png", "readme", "z/x"];
    for (const k of keys) await upload(o, k, k);
    const all = await t.request("GET", `${o.base}/objects?delimiter=%2F`, { token: o.token });
    expect(all.body.objects.map((x: { key: string }) => x.key)).toEqual(["a.txt", "readme"]);
    expect(all.body.delimited_prefixes).toEqual(["docs/", "img/", "z/"]);
    expect(all.body.next_cursor).toBeNull();
    const inDocs = await t.request("GET", `${o.base}/objects?prefix=docs%2F&delimiter=%2F`, { token: o.token });
    expect(inDocs.body.objects.map((x: { key: string }) => x.key)).toEqual(["docs/1.md", "docs/2.md"]);
    expect(inDocs.body.delimited_prefixes).toEqual(["docs/sub/"]);
    // Page by page, two entries (objects or prefixes) each: every entry once, in order.
    const entries: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 10; i++) {
      const q: string = `delimiter=%2F&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await t.request("GET", `${o.base}/objects?${q}`, { token: o.token });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      const here = [...page.body.objects.map((x: { key: string }) => x.key), ...page.body.delimited_prefixes].sort();
      expect(here.length).toBeLessThanOrEqual(2);
      entries.push(...here);
      cursor = page.body.next_cursor;
      if (!cursor) break;
    }
    expect(entries).toEqual(["a.txt", "docs/", "img/", "readme", "z/"]);
    // Without a delimiter, every key, paged.
    const flat = await t.request("GET", `${o.base}/objects?limit=5`, { token: o.token });
    expect(flat.body.objects).toHaveLength(5);
    const rest = await t.request("GET", `${o.base}/objects?limit=5&cursor=${flat.body.next_cursor}`, {
      token: o.token,
    });
    expect(rest.body.objects.map((x: { key: string }) => x.key)).toEqual(["img/b.png", "readme", "z/x"]);
    expect(rest.body.next_cursor).toBeNull();
    // The binding answers R2's shape.
    const b = bucketBinding(t.platform, { projectId: o.projectId, bucketId: o.bucketId });
    const listed = await b.list({ prefix: "img/", limit: 1 });
    expect(listed.objects.map((x) => x.key)).toEqual(["img/a.png"]);
    expect(listed.truncated).toBe(true);
    expect((await b.list({ prefix: "img/", cursor: listed.cursor })).objects.map((x) => x.key)).toEqual(["img/b.png"]);
  });

  it("create_bucket, list_buckets; delete_bucket refuses a bucket with objects unless force; delete_bucket_object; orphaned bodies are swept", async () => {
    const o = await owner();
    await upload(o, "one", "unique body for the sweep test");
    const refused = await t.request("DELETE", o.base, { token: o.token });
    expect(refused.status).toBe(409);
    expect(refused.body.error.objects).toBe(1);
    const gone = await t.request("DELETE", `${o.base}/object?key=one`, { token: o.token });
    expect(gone.body).toEqual({ deleted: true });
    expect((await t.request("GET", `${o.base}/object?key=one`, { token: o.token })).status).toBe(404);
    await upload(o, "two", "body two for the sweep test");
    // A referenced blob survives the sweep; once its object is gone, it does not.
    await sweepOrphanBlobs(t.platform.db, -1);
    const sha = sha256Hex(Buffer.from("body two for the sweep test"));
    const has = async () =>
      (await t.platform.db.selectFrom("site_blobs").select("sha256").where("sha256", "=", sha).execute()).length;
    expect(await has()).toBe(1);
    const forced = await t.request("DELETE", `${o.base}?force=true`, { token: o.token });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body).toEqual({ deleted: true, objects_deleted: 1 });
    await sweepOrphanBlobs(t.platform.db, -1);
    expect(await has()).toBe(0);
    expect((await t.request("GET", `/v1/projects/${o.project}/buckets`, { token: o.token })).body.buckets).toEqual([]);
  });

  it("refusals: a missing body 400 naming content_base64, too large 413, bad key 400, another tenant 404, no scope 403", async () => {
    const o = await owner();
    const none = await t.request("PUT", `${o.base}/object`, { token: o.token, body: { key: "k" } });
    expect(none.status).toBe(400);
    expect(none.body.error.issues[0].path).toBe("content_base64");
    const long = await t.request("PUT", `${o.base}/object`, {
      token: o.token,
      body: { key: "k".repeat(1025), content_base64: "" },
    });
    expect(long.status).toBe(400);
    expect(long.body.error.issues[0].path).toBe("key");
    const big = await upload(o, "big", Buffer.alloc(OBJECT_MAX_BYTES + 1));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    const dup = await t.request("POST", `/v1/projects/${o.project}/buckets`, {
      token: o.token,
      body: { name: "assets" },
    });
    expect(dup.status).toBe(409);
    const badName = await t.request("POST", `/v1/projects/${o.project}/buckets`, {
      token: o.token,
      body: { name: "Bad!" },
    });
    expect(badName.status).toBe(400);
    expect(badName.body.error.issues[0].path).toBe("name");

    await upload(o, "private", "mine");
    const stranger = await t.account();
    const st = await stranger.token(["projects:*", "workers:*"]);
    const res = await t.app.request(`${o.base}/object?key=private`, { headers: { Authorization: `Bearer ${st}` } });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.resource).toBe("project");
    const reader = await o.user.token(["projects:read", "workers:read"]);
    const del = await t.request("DELETE", `${o.base}/object?key=private`, { token: reader });
    expect(del.status).toBe(403);
    expect(del.body.error.required_scope).toBe("workers:write");
    const missing = await t.request("GET", `/v1/projects/${o.project}/buckets/nope/objects`, { token: o.token });
    expect(missing.body.error).toMatchObject({ code: "not_found", resource: "bucket" });
  });

  it("bucketBinding: head, get, put with metadata, delete many; resolveBindingResource finds buckets by name", async () => {
    const o = await owner();
    const id = await resolveBindingResource(t.platform.db, o.projectId, "bucket", "assets");
    expect(id).toBe(o.bucketId);
    const b = bucketBinding(t.platform, { projectId: o.projectId, bucketId: id });
    const put = await b.put("a/b.json", '{"x":1}', {
      httpMetadata: { contentType: "application/json" },
      customMetadata: { owner: "worker" },
    });
    expect(put).toMatchObject({ key: "a/b.json", size: 7, httpMetadata: { contentType: "application/json" } });
    expect(put.httpEtag).toBe(`"${put.etag}"`);
    const head = await b.head("a/b.json");
    expect(head?.customMetadata).toEqual({ owner: "worker" });
    expect((await b.get("a/b.json"))?.body.toString()).toBe('{"x":1}');
    expect(await b.get("nope")).toBeNull();
    await b.put("a/c", new Uint8Array([1]));
    await b.delete(["a/b.json", "a/c"]);
    expect((await b.list()).objects).toEqual([]);
    await expect(b.put("", "x")).rejects.toMatchObject({ code: "validation_error" });
    expect((await t.request("DELETE", o.base, { token: o.token })).status).toBe(200);
    await expect(b.put("late", "x")).rejects.toMatchObject({ code: "not_found", details: { resource: "bucket" } });
  });

  it("successor: the first string after every string with the prefix", () => {
    expect(successor("docs/")).toBe("docs0");
    expect(successor("a\u{10ffff}")).toBe("b");
    expect(successor("\ud7ff")).toBe("\ue000");
    expect(successor("")).toBeNull();
  });
});
