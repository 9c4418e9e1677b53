// Assets over REST: multipart upload (and base64 JSON), categories, image sizes, pagination, refusals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { dbSnapshot } from "../../testkit/operation-inputs.ts";
import { PNG_1X1 } from "../../testkit/sites.ts";

let t: TestPlatform;
let token: string;
const p = "/v1/projects/assets-site";

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "assets-site", name: "A", kind: "site" } })).status,
  ).toBe(201);
});
afterAll(() => t?.close());

async function upload(name: string, bytes: Buffer | Uint8Array, extra: Record<string, string> = {}) {
  const form = new FormData();
  form.set("file", new Blob([new Uint8Array(bytes)]), name);
  for (const [k, v] of Object.entries(extra)) form.set(k, v);
  const res = await t.app.request(`${p}/assets`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    body: form,
  });
  return { status: res.status, body: await res.json() };
}

describe("assets", () => {
  it("upload_asset and list_assets: uploads by multipart and base64, detects category and image size, lists with filters", async () => {
    const png = await upload("logo.png", PNG_1X1);
    expect(png.status).toBe(201);
    expect(png.body).toMatchObject({
      path: "assets/images/logo.png",
      category: "images",
      content_type: "image/png",
      width: 1,
      height: 1,
      bytes: PNG_1X1.length,
    });
    expect((await upload("site.css", Buffer.from("body{}"))).body.path).toBe("assets/css/site.css");
    expect((await upload("font.woff2", Buffer.from([1, 2, 3]))).body.category).toBe("fonts");
    expect((await upload("menu.pdf", Buffer.from("%PDF"))).body.category).toBe("files");
    const json = await t.request("POST", `${p}/assets`, {
      token,
      body: { filename: "app.js", content_base64: Buffer.from("1").toString("base64") },
    });
    expect(json.body).toMatchObject({ category: "js", width: null });
    // Served by the draft like any file.
    expect((await t.request("GET", `${p}/files?prefix=assets/`, { token })).body.count).toBe(5);

    const all = await t.request("GET", `${p}/assets?limit=2`, { token });
    expect(all.body.assets).toHaveLength(2);
    expect(all.body.next_cursor).toBe(all.body.assets[1].path);
    const page2 = await t.request("GET", `${p}/assets?limit=2&cursor=${encodeURIComponent(all.body.next_cursor)}`, {
      token,
    });
    const page3 = await t.request("GET", `${p}/assets?limit=2&cursor=${encodeURIComponent(page2.body.next_cursor)}`, {
      token,
    });
    expect(page3.body.assets).toHaveLength(1);
    expect(page3.body.next_cursor).toBeNull();
    const paths = [...all.body.assets, ...page2.body.assets, ...page3.body.assets].map((a: { path: string }) => a.path);
    expect(new Set(paths).size).toBe(5);
    const images = await t.request("GET", `${p}/assets?category=images`, { token });
    expect(images.body.assets.map((a: { filename: string }) => a.filename)).toEqual(["logo.png"]);
    expect((await t.request("GET", `${p}/assets?limit=201`, { token })).status).toBe(400);
  });

  it("refuses executable types, paths, oversize files and multipart elsewhere, changing nothing", async () => {
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    for (const name of [
      "shell.php",
      "x.phtml",
      "a.phar",
      "run.exe",
      "x.bat",
      "s.sh",
      "p.py",
      "r.rb",
      ".htaccess",
      "img.php.png",
    ]) {
      const res = await upload(name, Buffer.from("x"));
      expect.soft(res.status, name).toBe(400);
      expect.soft(res.body.error.code, name).toBe("invalid_path");
    }
    expect((await upload("x", Buffer.from("x"), { filename: "../evil.png" })).status).toBe(400);
    const big = await upload("big.png", Buffer.alloc(10 * 1024 * 1024 + 1));
    expect(big.status).toBe(413);
    const huge = await upload("huge.png", Buffer.alloc(11 * 1024 * 1024));
    expect(huge.status).toBe(413);
    const form = new FormData();
    form.set("file", new Blob(["x"]), "a.html");
    const elsewhere = await t.app.request(`${p}/files`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${token}` },
      body: form,
    });
    expect(elsewhere.status).toBe(415);
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });
});

describe("list_assets: errors and other tenants", () => {
  it("refuses an unknown category, a bad limit and a token without assets:read, naming what is wrong", async () => {
    const category = await t.request("GET", `${p}/assets?category=weapons`, { token });
    expect(category.status).toBe(400);
    expect(category.body.error.issues.map((i: { path: string }) => i.path)).toContain("category");
    const limit = await t.request("GET", `${p}/assets?limit=0`, { token });
    expect(limit.status).toBe(400);
    expect(limit.body.error.issues.map((i: { path: string }) => i.path)).toContain("limit");
    const account = await t.account();
    const denied = await t.request("GET", `${p}/assets`, { token: await account.token(["files:read"]) });
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("assets:read");
  });

  it("answers another tenant 404 and never lists their assets in the stranger's own site", async () => {
    expect((await upload("team-photo.png", PNG_1X1)).status).toBe(201);
    const stranger = await (await t.account()).token(["*"]);
    const theirs = await t.request("GET", `${p}/assets`, { token: stranger });
    expect(theirs.status).toBe(404);
    expect(theirs.body.error.code).toBe("not_found");
    expect(JSON.stringify(theirs.body)).not.toContain("team-photo");
    expect(
      (
        await t.request("POST", "/v1/projects", {
          token: stranger,
          body: { slug: "assets-own", name: "O", kind: "site" },
        })
      ).status,
    ).toBe(201);
    const own = await t.request("GET", "/v1/projects/assets-own/assets", { token: stranger });
    expect(own.body).toEqual({ assets: [], next_cursor: null });
  });
});
