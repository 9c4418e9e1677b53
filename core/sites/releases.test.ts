// Releases: the temporal manifest stays exact through publish, rollback, discard and republish.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { releaseManifest } from "./draft.ts";

let t: TestPlatform;
let token: string;
let projectId: string;
const p = "/v1/projects/rel-site";
const call = (method: string, path: string, body?: unknown) => t.request(method, `${p}${path}`, { token, body });
const put = (path: string, content: string) => call("PUT", "/files", { path, content });
const manifest = async (n: number) => Object.fromEntries((await releaseManifest(t.platform.db, projectId, n)).map((e) => [e.path, e.bytes]));

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect((await t.request("POST", "/v1/projects", { token, body: { slug: "rel-site", name: "R", kind: "site" } })).status).toBe(201);
  projectId = (await t.platform.db.selectFrom("projects").select("id").where("slug", "=", "rel-site").executeTakeFirstOrThrow()).id;
});
afterAll(() => t?.close());

describe("releases", () => {
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
    expect((await call("GET", "/draft/diff")).body).toMatchObject({ live_release: 1, added: ["c.txt"], modified: ["a.txt"], deleted: ["b.txt"] });
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
    expect((await call("GET", "/releases?before=2")).body.releases.map((r: { release: number }) => r.release)).toEqual([1]);
    expect((await call("POST", "/rollback", { release: 3 })).status).toBe(409); // already live
  });

  it("deleting the project removes its draft, releases and site state", async () => {
    await t.request("DELETE", "/v1/projects/rel-site", { token });
    for (const table of ["sites", "site_draft_files", "site_dirty_paths", "site_releases", "site_release_files", "site_submissions"] as const) {
      const rows = await t.platform.db.selectFrom(table).select("project_id").where("project_id", "=", projectId).execute();
      expect.soft(rows, table).toEqual([]);
    }
  });
});
