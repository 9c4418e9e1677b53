// `bosun sites push|pull|deploy` against the real app on a 127.0.0.1 port: round trips on a temp folder of 1,000
// files (one changed → one uploaded), deletions, --dry-run, .bosunignore, refused files, and the command itself.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ServerType, serve } from "@hono/node-server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../testkit/harness.ts";
import { deployFolder, pullFolder, pushFolder, type SyncOptions } from "./sites.ts";

let t: TestPlatform;
let server: ServerType;
let base: string;
let token: string;
const project = "sync-site";
const dirs: string[] = [];
const lines: string[] = [];
const notes: string[] = [];

const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bosun-sync-"));
  dirs.push(dir);
  return dir;
};
const opts = (extra: Partial<SyncOptions> = {}): SyncOptions => ({
  project,
  base,
  token,
  out: (l) => lines.push(l),
  progress: { write: (s: string) => notes.push(s), isTTY: false },
  ...extra,
});
const write = (dir: string, rel: string, data: string | Buffer) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), data);
};
const remote = async () =>
  new Map(
    (
      (await t.request("GET", `/v1/projects/${project}/files`, { token })).body.files as {
        path: string;
        sha256: string;
      }[]
    ).map((f) => [f.path, f.sha256]),
  );
const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

let dir: string;

beforeAll(async () => {
  t = await startTestPlatform();
  token = await (await t.account()).token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: project, name: "Sync", kind: "site" } })).status,
  ).toBe(201);
  await new Promise<void>((resolve) => {
    server = serve({ fetch: t.app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
  dir = tempDir();
  for (let i = 0; i < 1000; i++)
    write(dir, `pages/${String(i).padStart(4, "0")}.html`, `<h1>Page ${i}</h1>${"lorem ipsum ".repeat(50)}`);
  write(dir, "assets/logo.png", crypto.randomBytes(3000));
}, 60_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await t?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("bosun sites push / pull / deploy", () => {
  it("pushes a 1,000-file folder, then only the one file changed, then a deletion", async () => {
    const first = await pushFolder(dir, opts());
    expect(first.added).toHaveLength(1001);
    const full = first.bytes;
    expect((await remote()).size).toBe(1001);
    expect((await remote()).get("assets/logo.png")).toBe(sha(path.join(dir, "assets/logo.png")));

    write(dir, "pages/0500.html", "<h1>changed</h1>");
    lines.length = 0;
    const second = await pushFolder(dir, opts());
    expect(second).toMatchObject({ added: [], modified: ["pages/0500.html"], deleted: [], unchanged: 1000 });
    expect(lines).toEqual(["~ pages/0500.html"]);
    expect(second.bytes).toBeLessThan(full * 0.05);
    expect((await remote()).get("pages/0500.html")).toBe(sha(path.join(dir, "pages/0500.html")));

    const untouched = await pushFolder(dir, opts());
    expect(untouched).toMatchObject({ added: [], modified: [], deleted: [], bytes: 0 });

    fs.rmSync(path.join(dir, "pages/0999.html"));
    const third = await pushFolder(dir, opts());
    expect(third.deleted).toEqual(["pages/0999.html"]);
    expect((await remote()).has("pages/0999.html")).toBe(false);
  }, 120_000);

  it("--dry-run prints the diff and changes nothing", async () => {
    write(dir, "new.html", "new");
    write(dir, "pages/0001.html", "edited");
    fs.rmSync(path.join(dir, "pages/0002.html"));
    const before = await remote();
    lines.length = 0;
    const plan = await pushFolder(dir, opts({ dryRun: true }));
    expect(plan.dry_run).toBe(true);
    expect(lines).toEqual(["+ new.html", "~ pages/0001.html", "- pages/0002.html"]);
    expect(await remote()).toEqual(before);
  });

  it("honours .bosunignore on both sides, and refuses blocked files before sending anything", async () => {
    write(dir, ".bosunignore", "drafts/\n*.log\n");
    write(dir, "drafts/wip.html", "wip");
    write(dir, "debug.log", "log");
    await t.request("PUT", `/v1/projects/${project}/files`, {
      token,
      body: { path: "drafts/server-only.html", content: "kept" },
    });
    const res = await pushFolder(dir, opts());
    expect(res.added).toEqual(["new.html"]);
    const now = await remote();
    expect(now.has("drafts/wip.html")).toBe(false);
    expect(now.has("debug.log")).toBe(false);
    expect(now.has(".bosunignore")).toBe(false);
    // Ignored is not deleted: the server's file under an ignored path stays.
    expect(now.has("drafts/server-only.html")).toBe(true);

    write(dir, "tools/run.sh", "#!/bin/sh");
    const before = await remote();
    await expect(pushFolder(dir, opts())).rejects.toThrow(/tools\/run\.sh: \.sh files/);
    expect(await remote()).toEqual(before);
    fs.rmSync(path.join(dir, "tools"), { recursive: true });
  });

  it("pulls into an empty folder byte for byte, then only what changed, deleting what the draft lacks", async () => {
    const copy = tempDir();
    const first = await pullFolder(copy, opts());
    const files = await remote();
    expect(first.added).toHaveLength(files.size);
    for (const [p, hash] of files) expect(sha(path.join(copy, ...p.split("/")))).toBe(hash);

    await t.request("PUT", `/v1/projects/${project}/files`, {
      token,
      body: { path: "pages/0003.html", content: "edited on the server" },
    });
    write(copy, "stray.html", "local only");
    const second = await pullFolder(copy, opts());
    expect(second).toMatchObject({ added: [], modified: ["pages/0003.html"], deleted: ["stray.html"] });
    expect(fs.readFileSync(path.join(copy, "pages/0003.html"), "utf8")).toBe("edited on the server");
    expect(fs.existsSync(path.join(copy, "stray.html"))).toBe(false);
  }, 120_000);

  it("deploy pushes and publishes; a second deploy has nothing to publish", async () => {
    const small = tempDir();
    write(small, "index.html", "<h1>live</h1>");
    const other = "sync-deploy";
    await t.request("POST", "/v1/projects", { token, body: { slug: other, name: "D", kind: "site" } });
    const res = await deployFolder(small, opts({ project: other }));
    expect(res.release).toBe(1);
    expect((await t.request("GET", `/v1/projects/${other}/draft/diff`, { token })).body.changed).toBe(false);
    expect((await deployFolder(small, opts({ project: other }))).release).toBeNull();
  });

  it("a token without files:write cannot push (403 named); a stranger's token sees no site (404)", async () => {
    const stranger = await (await t.account()).token(["*"]);
    await expect(pushFolder(dir, opts({ token: stranger }))).rejects.toThrow(/not_found/);
    const readOnly = await t.account();
    const own = await readOnly.token(["*"]);
    await t.request("POST", "/v1/projects", { token: own, body: { slug: "sync-ro", name: "r", kind: "site" } });
    const tok = await readOnly.token(["files:read", "projects:read"]);
    await expect(pushFolder(dir, opts({ token: tok, project: "sync-ro" }))).rejects.toThrow(/files:write/);
  });

  it("runs as `bosun sites push --dry-run` (short lines, not a bar, off a terminal)", async () => {
    const small = tempDir();
    write(small, "a.html", "a");
    const child = spawn(
      process.execPath,
      [path.resolve(import.meta.dirname, "../bin/bosun.js"), "sites", "push", small, "--project", project, "--dry-run"],
      { env: { ...process.env, BOSUN_URL: base, BOSUN_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const code = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error("timed out"));
      }, 60_000);
      child.on("close", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).toBe(0);
    expect(stdout).toContain("+ a.html");
    expect(stdout).toContain("- pages/0000.html");
  }, 70_000);
});
