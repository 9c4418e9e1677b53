// Releases: the temporal manifest stays exact through publish, rollback, discard and republish.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { releaseManifest } from "./draft.ts";

let t: TestPlatform;
let token: string;
let projectId: string;
const p = "/v1/projects/rel-site";
const call = (method: string, path: string, body?: unknown) => t.request(method, `${p}${path}`, { token, body });
const put = (path: string, content: string) => call("PUT", "/files", { path, content });
const manifest = async (n: number) =>
  Object.fromEntries((await releaseManifest(t.platform.db, projectId, n)).map((e) => [e.path, e.bytes]));

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "rel-site", name: "R", kind: "site" } })).status,
  ).toBe(201);
  projectId = (
    await t.platform.db.selectFrom("projects").select("id").where("slug", "=", "rel-site").executeTakeFirstOrThrow()
  ).id;
});
afterAll(() => t?.close());

describe("releases", () => {
  it("reports progress to an MCP client that asks: the changed paths, then the release going live", async () => {
    await t.request("POST", "/v1/projects", { token, body: { slug: "rel-progress", name: "P", kind: "site" } });
    for (const path of ["x.txt", "y.txt", "z.txt"])
      await t.request("PUT", "/v1/projects/rel-progress/files", { token, body: { path, content: path } });
    const client = await connectMcp(t.app, token);
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const res = await client.callTool({ name: "publish_site", arguments: { project: "rel-progress" } }, undefined, {
      onprogress: (p) => seen.push(p),
    });
    expect(res.isError).toBeFalsy();
    const release = (res.structuredContent as { release: number }).release;
    expect(seen[0]).toEqual({ progress: 0, total: 4, message: "3 changed path(s) to publish" });
    expect(seen.at(-1)).toEqual({ progress: 4, total: 4, message: `release ${release} is live` });
    // Progress only ever goes up (the spec requires it).
    expect(seen.map((e) => e.progress)).toEqual([...seen.map((e) => e.progress)].sort((a, b) => a - b));
    await client.close();
  });

  it("keeps every release's manifest exact across adds, edits, deletes, rollback and discard", async () => {
    await put("a.txt", "1");
    await put("b.txt", "22");
    expect((await call("POST", "/releases")).body).toMatchObject({ release: 1, files: 2 });
    await put("a.txt", "111");
    await call("DELETE", "/files?path=b.txt");
    await put("c.txt", "4444");
    expect((await call("POST", "/releases")).body).toMatchObject({ release: 2, files: 2, files_changed: 3 });
    expect(await manifest(1)).toEqual({ "a.txt": 1, "b.txt": 2 });
    expect(await manifest(2)).toEqual({ "a.txt": 3, "c.txt": 4 });

    // Writing the same content back is no change at all.
    await put("a.txt", "111");
    expect((await call("POST", "/releases")).body.error.code).toBe("nothing_to_publish");

    // Roll back to 1, then discard: the draft becomes release 1, which is live: nothing to publish.
    await call("POST", "/rollback", { release: 1 });
    expect((await call("GET", "/draft/diff")).body).toMatchObject({
      live_release: 1,
      added: ["c.txt"],
      modified: ["a.txt"],
      deleted: ["b.txt"],
    });
    await call("POST", "/draft/discard");
    expect((await call("GET", "/draft/diff")).body.changed).toBe(false);
    expect((await call("POST", "/releases")).body.error.code).toBe("nothing_to_publish");

    // An edit on top publishes as release 3 = release 1 + the edit; releases 1 and 2 are unchanged.
    await put("d.txt", "55555");
    expect((await call("POST", "/releases")).body).toMatchObject({ release: 3, files: 3 });
    expect(await manifest(3)).toEqual({ "a.txt": 1, "b.txt": 2, "d.txt": 5 });
    expect(await manifest(1)).toEqual({ "a.txt": 1, "b.txt": 2 });
    expect(await manifest(2)).toEqual({ "a.txt": 3, "c.txt": 4 });
    expect((await call("GET", "/draft/diff")).body.changed).toBe(false);

    const list = await call("GET", "/releases?limit=2");
    expect(list.body.releases.map((r: { release: number }) => r.release)).toEqual([3, 2]);
    expect((await call("GET", "/releases?before=2")).body.releases.map((r: { release: number }) => r.release)).toEqual([
      1,
    ]);
    expect((await call("POST", "/rollback", { release: 3 })).status).toBe(409); // already live
  });

  it("carries settings with the release: draft until publish, restored by rollback, reset by discard", async () => {
    const settings = (body: Record<string, unknown>) => call("PATCH", "/settings", { settings: body });
    const got = async () => (await call("GET", "/settings")).body;
    const live = (await got()).live_release as number;
    await settings({ site_name: "Before", redirects: [{ from: "/a", to: "/b" }] });
    expect((await got()).unpublished).toEqual(["redirects", "site_name"]);
    expect((await call("GET", "/draft/diff")).body).toMatchObject({
      settings: ["redirects", "site_name"],
      changed: true,
    });
    // A settings-only change publishes: a new release with the same files.
    const first = await call("POST", "/releases");
    expect(first.body).toMatchObject({ release: live + 1, files_changed: 0, settings_changed: true });
    expect(await got()).toMatchObject({ live_release: live + 1, unpublished: [], live: { site_name: "Before" } });
    expect((await call("POST", "/releases")).body.error.code).toBe("nothing_to_publish");

    await settings({ site_name: "After", redirects: null, password: "a long password" });
    const pending = await got();
    expect(pending).toMatchObject({
      draft: { site_name: "After", password_protected: true },
      live: { site_name: "Before", password_protected: false },
    });
    expect(pending.draft.redirects).toBeUndefined();
    expect(pending.live.redirects).toEqual([{ from: "/a", to: "/b", status: 301 }]);
    expect(pending.unpublished).toEqual(["password", "redirects", "site_name"]);
    // Discard resets the draft's settings (password included) to the live ones.
    expect((await call("POST", "/draft/discard")).body.settings_reset).toBe(true);
    expect(await got()).toMatchObject({ draft: { site_name: "Before", password_protected: false }, unpublished: [] });

    await settings({ site_name: "After", password: "a long password" });
    expect((await call("POST", "/releases")).body).toMatchObject({ release: live + 2, settings_changed: true });
    const stored = await t.platform.db
      .selectFrom("site_releases")
      .select(["number", "settings", "password_hash"])
      .where("project_id", "=", projectId)
      .orderBy("number")
      .execute();
    expect(stored.at(-1)!.settings).toMatchObject({ site_name: "After" });
    expect(stored.at(-1)!.password_hash).toMatch(/^scrypt\$/);
    // Rollback puts release n's settings live again; the draft keeps its own.
    await call("POST", "/rollback", { release: live + 1 });
    expect(await got()).toMatchObject({
      live: { site_name: "Before", password_protected: false },
      draft: { site_name: "After", password_protected: true },
    });
    expect((await got()).unpublished).toEqual(["password", "site_name"]);
    // Publishing the unchanged draft after a rollback is how its settings go back live.
    expect((await call("POST", "/releases")).body).toMatchObject({
      release: live + 3,
      files_changed: 0,
      settings_changed: false,
    });
    expect((await got()).live).toMatchObject({ site_name: "After", password_protected: true });
  });

  it("deleting the project removes its draft, releases and site state", async () => {
    await t.request("DELETE", "/v1/projects/rel-site", { token });
    for (const table of [
      "sites",
      "site_draft_files",
      "site_dirty_paths",
      "site_releases",
      "site_release_files",
      "site_submissions",
    ] as const) {
      const rows = await t.platform.db
        .selectFrom(table)
        .select("project_id")
        .where("project_id", "=", projectId)
        .execute();
      expect.soft(rows, table).toEqual([]);
    }
  });
});

describe("list_releases and create_preview_link", () => {
  it("list releases newest first with the live one marked, paged by `before`; a preview link is signed and expires when asked", async () => {
    await t.request("POST", "/v1/projects", { token, body: { slug: "rel-list", name: "L", kind: "site" } });
    const q = (method: string, path: string, body?: unknown) =>
      t.request(method, `/v1/projects/rel-list${path}`, { token, body });
    expect((await q("GET", "/releases")).body).toEqual({ releases: [], live_release: null });
    for (const content of ["one", "two", "three"]) {
      await q("PUT", "/files", { path: "index.html", content });
      expect((await q("POST", "/releases")).status).toBe(201);
    }
    expect((await q("POST", "/rollback", { release: 2 })).status).toBe(200);
    const all = (await q("GET", "/releases")).body;
    expect(all.live_release).toBe(2);
    expect(all.releases.map((r: { release: number; live: boolean }) => [r.release, r.live])).toEqual([
      [3, false],
      [2, true],
      [1, false],
    ]);
    expect(all.releases[0]).toMatchObject({ files: 1, bytes: 5 });
    const page = (await q("GET", "/releases?limit=1&before=3")).body.releases.map(
      (r: { release: number }) => r.release,
    );
    expect(page).toEqual([2]);

    const before = Date.now();
    const link = await q("POST", "/preview-links", { expires_in_minutes: 5 });
    expect(link.status, JSON.stringify(link.body)).toBe(201);
    expect(link.body.url).toMatch(/\/_preview\/[^/]+\/$/);
    const expires = Date.parse(link.body.expires_at);
    expect(expires).toBeGreaterThan(before + 4 * 60_000);
    expect(expires).toBeLessThanOrEqual(before + 5 * 60_000 + 1000);
    expect(new URL(link.body.url).hostname.startsWith("rel-list.")).toBe(true);
    // Another site's link differs: the token is bound to its site.
    await t.request("POST", "/v1/projects", { token, body: { slug: "rel-other", name: "O", kind: "site" } });
    const other = await t.request("POST", "/v1/projects/rel-other/preview-links", {
      token,
      body: { expires_in_minutes: 5 },
    });
    expect(other.status).toBe(201);
    expect(other.body.url.split("/_preview/")[1]).not.toBe(link.body.url.split("/_preview/")[1]);
  });
});

describe("diff_draft", () => {
  it("shows everything as added before the first publish, and nothing once published", async () => {
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "diff-site", name: "D", kind: "site" } })).status,
    ).toBe(201);
    const diff = (path: string, as = token) => t.request("GET", `/v1/projects/${path}/draft/diff`, { token: as });
    const before = await diff("diff-site");
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ added: [], modified: [], deleted: [], changed: false });
    for (const [path, content] of [
      ["index.html", "<p>home</p>"],
      ["css/site.css", "body{}"],
    ])
      await t.request("PUT", "/v1/projects/diff-site/files", { token, body: { path, content } });
    expect((await diff("diff-site")).body).toMatchObject({
      added: ["css/site.css", "index.html"],
      modified: [],
      deleted: [],
      changed: true,
    });
    expect((await t.request("POST", "/v1/projects/diff-site/releases", { token })).status).toBe(201);
    expect((await diff("diff-site")).body).toMatchObject({ live_release: 1, added: [], changed: false });
  });

  it("refuses an instance project, an unknown field and a token without files:read; another tenant gets 404", async () => {
    expect(
      (await t.request("POST", "/v1/projects", { token, body: { slug: "diff-srv", name: "S", kind: "instance" } }))
        .status,
    ).toBe(201);
    const server = await t.request("GET", "/v1/projects/diff-srv/draft/diff", { token });
    expect(server.status).toBe(409);
    expect(server.body.error.kind).toBe("instance");
    const unknown = await call("GET", "/draft/diff?zz_unknown=1");
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body.error.issues)).toContain("zz_unknown");
    const owner = await t.account();
    const denied = await t.request("GET", `${p}/draft/diff`, { token: await owner.token(["pages:read"]) });
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("files:read");

    await put("unpublished-secret.txt", "x");
    const stranger = await (await t.account()).token(["*"]);
    const theirs = await t.request("GET", `${p}/draft/diff`, { token: stranger });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    expect(JSON.stringify(theirs.body)).not.toContain("unpublished-secret");
  });
});
