// Draft files over REST: happy paths, bad input (each a clear 4xx that changes nothing), and security.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";
import { dbSnapshot } from "../../testkit/operation-inputs.ts";
import { sha256Hex, sweepOrphanBlobs } from "./blobs.ts";

let t: TestPlatform;
let token: string;
const base = "/v1/projects/files-site";

beforeAll(async () => {
  t = await startTestPlatform();
  const user = await t.account();
  token = await user.token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "files-site", name: "Files", kind: "site" } }))
      .status,
  ).toBe(201);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "files-vm", name: "VM", kind: "instance" } }))
      .status,
  ).toBe(201);
});
afterAll(() => t?.close());

const put = (path: string, content: string, encoding?: string) =>
  t.request("PUT", `${base}/files`, { token, body: { path, content, ...(encoding ? { encoding } : {}) } });

describe("draft files: happy paths (write_file, list_files, read_file, edit_file, rename_file, delete_file)", () => {
  it("writes, lists, reads (whole, by lines, binary), edits, renames and deletes", async () => {
    const w = await put("/index.html", "<h1>Hi</h1>\nline2\nline3\n");
    expect(w.status).toBe(200);
    expect(w.body).toMatchObject({
      path: "index.html",
      created: true,
      content_type: "text/html; charset=utf-8",
      bytes: 24,
    });
    expect((await put("index.html", "<h1>Hi</h1>\nline2\nline3\n")).body.created).toBe(false);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
    expect((await put("img/logo.png", png.toString("base64"), "base64")).status).toBe(200);

    const list = await t.request("GET", `${base}/files`, { token });
    expect(list.body.files.map((f: { path: string }) => f.path)).toEqual(["img/logo.png", "index.html"]);
    expect(list.body.total_bytes).toBe(24 + 8);
    const images = await t.request("GET", `${base}/files?prefix=img/`, { token });
    expect(images.body.files).toHaveLength(1);

    const read = await t.request("GET", `${base}/files/content?path=index.html`, { token });
    expect(read.body).toMatchObject({ encoding: "utf8", content: "<h1>Hi</h1>\nline2\nline3\n", total_lines: 4 });
    const lines = await t.request("GET", `${base}/files/content?path=index.html&start_line=2&end_line=3`, { token });
    expect(lines.body.content).toBe("line2\nline3");
    const bin = await t.request("GET", `${base}/files/content?path=img/logo.png`, { token });
    expect(bin.body).toMatchObject({ encoding: "base64", content: png.toString("base64") });

    const edit = await t.request("POST", `${base}/files/edit`, {
      token,
      body: { path: "index.html", old_str: "line2", new_str: "second line" },
    });
    expect(edit.status).toBe(200);
    expect(edit.body.line).toBe(2);
    expect(edit.body.snippet).toContain("2| second line");

    const mv = await t.request("POST", `${base}/files/rename`, {
      token,
      body: { from: "img/logo.png", to: "assets/logo.png" },
    });
    expect(mv.body).toMatchObject({ path: "assets/logo.png", from: "img/logo.png" });
    const del = await t.request("DELETE", `${base}/files?path=assets/logo.png`, { token });
    expect(del.body).toEqual({ deleted: true, path: "assets/logo.png" });

    const diff = await t.request("GET", `${base}/draft/diff`, { token });
    expect(diff.body).toEqual({
      live_release: null,
      added: ["index.html"],
      modified: [],
      deleted: [],
      settings: [],
      changed: true,
    });
  });
});

describe("draft files: bad input changes nothing", () => {
  it("refuses traversal, control characters, blocked types, bad base64, ambiguous edits and collisions", async () => {
    await put("page.html", "a a a");
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
      ["traversal", () => put("../etc/passwd", "x"), 400, "invalid_path"],
      ["nested traversal", () => put("a/../../b.html", "x"), 400, "invalid_path"],
      ["control char", () => put("a\u0001.html", "x"), 400, "invalid_path"],
      ["backslash", () => put("..\\x.html", "x"), 400, "invalid_path"],
      ["url", () => put("https://evil.test/x", "x"), 400, "invalid_path"],
      ["only slashes", () => put("///", "x"), 400, "invalid_path"],
      ["php", () => put("shell.php", "<?php"), 400, "invalid_path"],
      ["double extension", () => put("shell.php.png", "x"), 400, "invalid_path"],
      ["htaccess", () => put(".htaccess", "x"), 400, "invalid_path"],
      ["bad base64", () => put("x.bin", "not base64!!", "base64"), 400, "validation_error"],
      [
        "ambiguous edit",
        () =>
          t.request("POST", `${base}/files/edit`, { token, body: { path: "page.html", old_str: "a", new_str: "b" } }),
        400,
        "validation_error",
      ],
      [
        "missing edit",
        () =>
          t.request("POST", `${base}/files/edit`, { token, body: { path: "page.html", old_str: "zzz", new_str: "b" } }),
        400,
        "validation_error",
      ],
      [
        "edit missing file",
        () =>
          t.request("POST", `${base}/files/edit`, { token, body: { path: "nope.html", old_str: "a", new_str: "b" } }),
        404,
        "not_found",
      ],
      [
        "rename onto existing",
        () => t.request("POST", `${base}/files/rename`, { token, body: { from: "page.html", to: "index.html" } }),
        409,
        "conflict",
      ],
      [
        "rename to php",
        () => t.request("POST", `${base}/files/rename`, { token, body: { from: "page.html", to: "x.phtml" } }),
        400,
        "invalid_path",
      ],
      ["delete missing", () => t.request("DELETE", `${base}/files?path=nope.html`, { token }), 404, "not_found"],
      [
        "read traversal",
        () => t.request("GET", `${base}/files/content?path=${encodeURIComponent("../../x")}`, { token }),
        400,
        "invalid_path",
      ],
      [
        "instance project",
        () => t.request("PUT", "/v1/projects/files-vm/files", { token, body: { path: "a.html", content: "x" } }),
        409,
        "conflict",
      ],
    ];
    for (const [label, call, status, code] of cases) {
      const res = await call();
      expect.soft(res.status, label).toBe(status);
      expect.soft(res.body?.error?.code, label).toBe(code);
    }
    const ambiguous = await t.request("POST", `${base}/files/edit`, {
      token,
      body: { path: "page.html", old_str: "a", new_str: "b" },
    });
    expect(ambiguous.body.error.message).toContain("3 times");
    expect(ambiguous.body.error.issues[0].path).toBe("old_str");
    const traversal = await put("../etc/passwd", "x");
    expect(traversal.body.error.issues[0].path).toBe("path");
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });

  it("refuses names with trailing dots or spaces, bidi and invisible characters, and device names: 400 naming the field, nothing written", async () => {
    await put("keep.html", "x");
    const before = await dbSnapshot(t.platform.db, ["audit_events"]);
    const asset = (filename: string) =>
      t.request("POST", `${base}/assets`, { token, body: { filename, content_base64: "eA==" } });
    const rename = (to: string) =>
      t.request("POST", `${base}/files/rename`, { token, body: { from: "keep.html", to } });
    const cases: [string, () => Promise<{ status: number; body: any }>, string][] = [
      ["trailing space", () => put("shell.php ", "<?php"), "path"],
      ["trailing dot", () => put("shell.php.", "<?php"), "path"],
      ["trailing dot in a folder", () => put("cgi-bin./x.html", "x"), "path"],
      ["bidi override", () => put("invoice\u202Elmth.exe", "x"), "path"],
      ["zero width", () => put("ind\u200Bex.html", "x"), "path"],
      ["no-break space", () => put("a\u00A0.html", "x"), "path"],
      ["device name", () => put("con.html", "x"), "path"],
      ["device folder", () => put("aux/index.html", "x"), "path"],
      ["asset trailing space", () => asset("logo.php "), "filename"],
      ["asset bidi", () => asset("gnp\u202E.php"), "filename"],
      ["asset device", () => asset("nul.png"), "filename"],
      ["rename trailing dot", () => rename("shell.php."), "to"],
      ["rename device", () => rename("lpt1.html"), "to"],
    ];
    for (const [label, call, field] of cases) {
      const res = await call();
      expect.soft(res.status, label).toBe(400);
      expect.soft(res.body?.error?.code, label).toBe("invalid_path");
      expect.soft(res.body?.error?.issues?.[0]?.path, label).toBe(field);
      expect.soft(res.body?.error?.message, label).toMatch(new RegExp(`^${field}: `));
    }
    expect(await dbSnapshot(t.platform.db, ["audit_events"])).toEqual(before);
  });

  it("refuses a file over 10 MB and a site over its quota with 413, writing nothing", async () => {
    const small = await startTestPlatform({ config: { siteQuotaBytes: 1000 } });
    try {
      const u = await small.account();
      const tok = await u.token(["*"]);
      await small.request("POST", "/v1/projects", { token: tok, body: { slug: "tiny", name: "Tiny", kind: "site" } });
      expect(
        (
          await small.request("PUT", "/v1/projects/tiny/files", {
            token: tok,
            body: { path: "a.txt", content: "x".repeat(900) },
          })
        ).status,
      ).toBe(200);
      const before = await dbSnapshot(small.platform.db, ["audit_events"]);
      const over = await small.request("PUT", "/v1/projects/tiny/files", {
        token: tok,
        body: { path: "b.txt", content: "y".repeat(200) },
      });
      expect(over.status).toBe(413);
      expect(over.body.error.message).toContain("quota");
      expect(await dbSnapshot(small.platform.db, ["audit_events"])).toEqual(before);
      // Replacing a file counts its new size, not both.
      expect(
        (
          await small.request("PUT", "/v1/projects/tiny/files", {
            token: tok,
            body: { path: "a.txt", content: "z".repeat(1000) },
          })
        ).status,
      ).toBe(200);
    } finally {
      await small.close();
    }
  });
});

describe("draft files: security", () => {
  it("keeps another tenant's files unreachable (404) and needs files:write to write", async () => {
    await put("secret.html", "mine");
    const other = await t.account();
    const otherToken = await other.token(["*"]);
    const res = await t.request("GET", `${base}/files/content?path=secret.html`, { token: otherToken });
    expect(res.status).toBe(404);
    const reader = await (await t.account()).token(["files:read"]);
    expect(
      (await t.request("PUT", `${base}/files`, { token: reader, body: { path: "x.html", content: "x" } })).status,
    ).toBe(403);
  });
});

describe("blob sweeping", () => {
  it("deletes only blobs no draft or release refers to", async () => {
    await put("gc.txt", "published version");
    expect((await t.request("POST", `${base}/releases`, { token })).status).toBe(201);
    await put("gc.txt", "draft version 1");
    await put("gc.txt", "draft version 2");
    const blob = (text: string) =>
      t.platform.db
        .selectFrom("site_blobs")
        .select("sha256")
        .where("sha256", "=", sha256Hex(Buffer.from(text)))
        .executeTakeFirst();
    expect(await sweepOrphanBlobs(t.platform.db, 60)).toBe(0); // inside the grace period nothing goes
    expect(await sweepOrphanBlobs(t.platform.db, 0)).toBeGreaterThanOrEqual(1);
    expect(await blob("draft version 1")).toBeUndefined();
    expect(await blob("draft version 2")).toBeDefined();
    expect(await blob("published version")).toBeDefined();
    expect((await t.request("GET", `${base}/files/content?path=gc.txt`, { token })).body.content).toBe(
      "draft version 2",
    );
  });
});
