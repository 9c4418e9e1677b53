// deploy_site_archive over REST (raw zip / tar.gz bodies) and JSON (archive_base64), with real archives built in
// the test: merge and replace, every refused entry kind named, bombs and limits, and all-or-nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ArchiveEntry, makeTarGz, makeZip } from "../../testkit/archives.ts";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { sha256Hex } from "./blobs.ts";

let t: TestPlatform;
let token: string;
const site = "arch-site";
const base = `/v1/projects/${site}`;

beforeAll(async () => {
  t = await startTestPlatform({ config: { siteArchiveMaxFiles: 50 } });
  const user = await t.account();
  token = await user.token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: site, name: "Arch", kind: "site" } })).status,
  ).toBe(201);
});
afterAll(() => t?.close());

/** Posts raw bytes as the body, as `curl --data-binary` would. */
async function upload(body: Buffer, type: string, query = "", tok = token, project = site) {
  const res = await t.app.request(`/v1/projects/${project}/draft/archive${query}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${tok}`, "Content-Type": type },
    body: new Uint8Array(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

const manifest = async () =>
  ((await t.request("GET", `${base}/files`, { token })).body.files as { path: string; sha256: string }[]).map(
    (f) => `${f.path}=${f.sha256.slice(0, 8)}`,
  );

const SITE: ArchiveEntry[] = [
  { path: "index.html", data: "<h1>Home</h1>" },
  { path: "about.html", data: "<h1>About</h1>" },
  { path: "assets/", data: "" },
  { path: "assets/site.css", data: "body{}" },
];

describe("deploy_site_archive: happy paths", () => {
  it("unpacks a zip into the draft (replace), then merges a tar.gz, then replaces with a tar.gz", async () => {
    const zip = await upload(await makeZip(SITE), "application/zip", "?mode=replace");
    expect(zip.status).toBe(200);
    expect(zip.body).toMatchObject({ mode: "replace", format: "zip", files: 3, added: 3, modified: 0, deleted: 0 });
    const read = await t.request("GET", `${base}/files/content?path=assets/site.css`, { token });
    expect(read.body).toMatchObject({ content: "body{}", sha256: sha256Hex(Buffer.from("body{}")) });

    const merged = await upload(
      makeTarGz([
        { path: "./", type: "Directory" },
        { path: "./index.html", data: "<h1>Home 2</h1>" },
        { path: "./new.html", data: "new" },
        { path: "./about.html", data: "<h1>About</h1>" },
      ]),
      "application/gzip",
    );
    expect(merged.body).toMatchObject({
      mode: "merge",
      format: "tar.gz",
      added: 1,
      modified: 1,
      unchanged: 1,
      deleted: 0,
    });
    expect(await manifest()).toHaveLength(4);

    const replaced = await upload(makeTarGz([{ path: "only.html", data: "x" }]), "application/gzip", "?mode=replace");
    expect(replaced.body).toMatchObject({ added: 1, deleted: 4 });
    expect((await manifest()).map((m) => m.split("=")[0])).toEqual(["only.html"]);
    // What publishing would change is what the archive changed.
    expect((await t.request("GET", `${base}/draft/diff`, { token })).body.added).toEqual(["only.html"]);
  });

  it("strips leading folders (strip_components) and takes archive_base64 over JSON (MCP's way)", async () => {
    const zip = await makeZip([
      { path: "dist/index.html", data: "stripped" },
      { path: "README", data: "dropped?" },
    ]);
    const res = await t.request("POST", `${base}/draft/archive`, {
      token,
      body: { archive_base64: zip.toString("base64"), mode: "replace", strip_components: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ files: 1 });
    expect((await manifest()).map((m) => m.split("=")[0])).toEqual(["index.html"]);
  });

  it("records the archive's size, not its bytes, in the audit trail", async () => {
    const zip = await makeZip([{ path: "index.html", data: "audited" }]);
    await t.request("POST", `${base}/draft/archive`, { token, body: { archive_base64: zip.toString("base64") } });
    const audit = await t.request("GET", "/v1/audit-events?operation=deploy_site_archive&limit=1", { token });
    const text = JSON.stringify(audit.body);
    expect(text).not.toContain(zip.toString("base64"));
  });
});

describe("deploy_site_archive: refused entries, named; the draft unchanged", () => {
  let before: string[];
  beforeAll(async () => {
    await upload(await makeZip(SITE), "application/zip", "?mode=replace");
    before = await manifest();
  });

  const good = [{ path: "index.html", data: "<h1>should not land</h1>" }];
  const cases: [string, () => Promise<Buffer>, string, number, string][] = [
    [
      "zip ../ traversal",
      () => makeZip([...good, { path: "xx/evil.html", data: "x" }], { rename: { "xx/evil.html": "../evil.html" } }),
      "application/zip",
      400,
      "../evil.html",
    ],
    [
      "zip absolute path",
      () => makeZip([...good, { path: "xetc/passwd", data: "x" }], { rename: { "xetc/passwd": "/etc/passwd" } }),
      "application/zip",
      400,
      "/etc/passwd",
    ],
    [
      "zip symlink",
      () => makeZip([...good, { path: "link.html", data: "/etc/passwd", mode: 0o120777 }]),
      "application/zip",
      400,
      "link.html",
    ],
    [
      "zip blocked type",
      () => makeZip([...good, { path: "shell.php.png", data: "<?php" }]),
      "application/zip",
      400,
      "shell.php.png",
    ],
    [
      "tar.gz ../ traversal",
      async () => makeTarGz([...good, { path: "a/../../evil.html", data: "x" }]),
      "application/gzip",
      400,
      "a/../../evil.html",
    ],
    [
      "tar.gz absolute path",
      async () => makeTarGz([...good, { path: "/etc/cron.d/x", data: "x" }]),
      "application/gzip",
      400,
      "/etc/cron.d/x",
    ],
    [
      "tar.gz symlink",
      async () => makeTarGz([...good, { path: "l.html", type: "SymbolicLink", linkpath: "/etc/passwd" }]),
      "application/gzip",
      400,
      "l.html",
    ],
    [
      "tar.gz hard link",
      async () => makeTarGz([...good, { path: "h.html", type: "Link", linkpath: "index.html" }]),
      "application/gzip",
      400,
      "h.html",
    ],
    [
      "tar.gz device",
      async () => makeTarGz([...good, { path: "dev", type: "CharacterDevice" }]),
      "application/gzip",
      400,
      "dev",
    ],
    ["tar.gz fifo", async () => makeTarGz([...good, { path: "fifo", type: "FIFO" }]), "application/gzip", 400, "fifo"],
    [
      "tar.gz server config",
      async () => makeTarGz([...good, { path: "sub/.htaccess", data: "x" }]),
      "application/gzip",
      400,
      "sub/.htaccess",
    ],
    [
      "tar.gz duplicate",
      async () => makeTarGz([...good, { path: "./index.html", data: "again" }]),
      "application/gzip",
      400,
      "./index.html",
    ],
    [
      "tar.gz backslash",
      async () => makeTarGz([...good, { path: "a\\..\\x.html", data: "x" }]),
      "application/gzip",
      400,
      "a\\..\\x.html",
    ],
  ];
  for (const [name, build, type, status, entry] of cases) {
    it(`${name}: ${status}, naming ${entry}`, async () => {
      const res = await upload(await build(), type, "?mode=replace");
      expect(res.status).toBe(status);
      expect(res.body.error.entry).toBe(entry);
      expect(res.body.error.message).toContain(JSON.stringify(entry));
      expect(await manifest()).toEqual(before);
    });
  }

  it("a zip bomb (one entry past the ratio), a big file and an over-full archive: 413 naming the entry", async () => {
    const bomb = await makeZip([...good, { path: "zeros.txt", data: Buffer.alloc(5 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(20_000);
    const res = await upload(bomb, "application/zip");
    expect(res.status).toBe(413);
    expect(res.body.error).toMatchObject({ code: "payload_too_large", entry: "zeros.txt" });
    expect(res.body.error.message).toMatch(/zip bomb/);

    // The same as a tar.gz: the stream's own ratio gives it away before the entry is read whole.
    const tarBomb = makeTarGz([...good, { path: "zeros.txt", data: Buffer.alloc(9 * 1024 * 1024) }]);
    const tarRes = await upload(tarBomb, "application/gzip");
    expect(tarRes.status).toBe(413);
    expect(tarRes.body.error.entry).toBe("zeros.txt");

    const big = await makeZip([{ path: "big.bin", data: Buffer.alloc(11 * 1024 * 1024) }], { compress: false });
    const bigRes = await upload(big, "application/zip");
    expect(bigRes.status).toBe(413);
    expect(bigRes.body.error.entry).toBe("big.bin");

    const many = makeTarGz(Array.from({ length: 51 }, (_, i) => ({ path: `p${i}.html`, data: `${i}` })));
    const manyRes = await upload(many, "application/gzip");
    expect(manyRes.status).toBe(413);
    expect(manyRes.body.error.entry).toBe("p50.html");
    expect(await manifest()).toEqual(before);
  });

  it("bytes that are not an archive, and a truncated one: 400 invalid_archive", async () => {
    const junk = await upload(Buffer.from("hello, not a zip"), "application/zip");
    expect(junk.status).toBe(400);
    expect(junk.body.error.code).toBe("invalid_archive");
    const zip = await makeZip(SITE);
    const cut = await upload(zip.subarray(0, zip.length - 30), "application/zip");
    expect(cut.status).toBe(400);
    expect(cut.body.error.code).toBe("invalid_archive");
    // A flipped byte in an entry's data: its CRC no longer matches, and the entry is named.
    const stored = await makeZip([{ path: "crc.html", data: "checked by its CRC" }], { compress: false });
    const at = stored.indexOf("checked");
    stored[at] = "C".charCodeAt(0);
    const crc = await upload(stored, "application/zip");
    expect(crc.status).toBe(400);
    expect(crc.body.error).toMatchObject({ code: "invalid_archive", entry: "crc.html" });
    const tgz = makeTarGz([{ path: "a.html", data: "x".repeat(5000) }]);
    const tcut = await upload(tgz.subarray(0, tgz.length - 20), "application/gzip");
    expect(tcut.status).toBe(400);
    expect(await manifest()).toEqual(before);
  });

  it("no archive at all: 400 naming archive_base64; a raw body to another operation: 415, unread", async () => {
    const none = await t.request("POST", `${base}/draft/archive`, { token, body: {} });
    expect(none.status).toBe(400);
    expect(none.body.error.issues[0].path).toBe("archive_base64");
    const other = await t.app.request(`${base}/pages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/zip" },
      body: new Uint8Array(2 * 1024 * 1024),
    });
    expect(other.status).toBe(415);
  });
});

describe("deploy_site_archive: security", () => {
  it("needs files:write (403 naming it); another tenant's site is 404; a quota is kept", async () => {
    const zip = await makeZip(SITE);
    const user = await t.account();
    const readOnly = await user.token(["files:read", "projects:read"]);
    const ownTok = await user.token(["*"]);
    expect(
      (
        await t.request("POST", "/v1/projects", {
          token: ownTok,
          body: { slug: "arch-other", name: "o", kind: "site" },
        })
      ).status,
    ).toBe(201);
    const denied = await upload(zip, "application/zip", "", readOnly, "arch-other");
    expect(denied.status).toBe(403);
    expect(denied.body.error.required_scope).toBe("files:write");
    const foreign = await upload(zip, "application/zip", "", ownTok, site);
    expect(foreign.status).toBe(404);

    const small = await startTestPlatform({ config: { siteQuotaBytes: 1000 } });
    try {
      const owner = await small.account();
      const tok = await owner.token(["*"]);
      await small.request("POST", "/v1/projects", { token: tok, body: { slug: "quota", name: "q", kind: "site" } });
      const res = await small.app.request("/v1/projects/quota/draft/archive", {
        method: "POST",
        headers: { Authorization: `Bearer ${tok}`, "Content-Type": "application/zip" },
        body: new Uint8Array(await makeZip([{ path: "a.txt", data: "a".repeat(1200) }])),
      });
      expect(res.status).toBe(413);
    } finally {
      await small.close();
    }
  });
});

describe("delete_files", () => {
  it("deletes what exists, lists what does not, refuses a bad path naming its index", async () => {
    await upload(await makeZip(SITE), "application/zip", "?mode=replace");
    const res = await t.request("POST", `${base}/files/delete`, {
      token,
      body: { paths: ["index.html", "/assets/site.css", "nope.html"] },
    });
    expect(res.body).toEqual({ deleted: 2, missing: ["nope.html"] });
    expect((await manifest()).map((m) => m.split("=")[0])).toEqual(["about.html"]);
    const bad = await t.request("POST", `${base}/files/delete`, { token, body: { paths: ["ok.html", "../x"] } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("paths.1");
  });
});
