import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";
import { tailCommand } from "./logs.ts";

let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld();
});
afterAll(() => w?.close());

const files = `/v1/projects/srv-proj/instances/box/files`;
const req = (method: string, url: string, body?: unknown, token = w.token) => w.t.request(method, url, { token, body });
const home = (...p: string[]) => path.join(w.sshd.home, ...p);
const q = (o: Record<string, string | number>) =>
  new URLSearchParams(Object.entries(o).map(([k, v]) => [k, String(v)])).toString();

describe("remote files", () => {
  it("reads a file whole or by line range, and detects binary files", async () => {
    fs.writeFileSync(home("notes.txt"), "one\ntwo\nthree\nfour\n");
    const whole = await req("GET", `${files}?${q({ path: home("notes.txt") })}`);
    expect(whole.status, JSON.stringify(whole.body)).toBe(200);
    expect(whole.body).toMatchObject({
      content: "one\ntwo\nthree\nfour\n",
      binary: false,
      size: 19,
      total_lines: 4,
      truncated: false,
    });
    const relative = await req("GET", `${files}?${q({ path: "~/notes.txt", start_line: 2, end_line: 3 })}`);
    expect(relative.body).toMatchObject({ content: "two\nthree\n", start_line: 2, end_line: 3 });
    const tail = await req("GET", `${files}?${q({ path: "notes.txt", start_line: 4, end_line: 99 })}`);
    expect(tail.body).toMatchObject({ content: "four\n", end_line: 4 });
    expect((await req("GET", `${files}?${q({ path: "notes.txt", start_line: 3, end_line: 2 })}`)).status).toBe(400);

    fs.writeFileSync(home("blob.bin"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0xff]));
    const bin = await req("GET", `${files}?${q({ path: home("blob.bin") })}`);
    expect(bin.body).toMatchObject({ binary: true, content: null, size: 8 });

    fs.writeFileSync(home("big.txt"), "x".repeat(1024 * 1024 + 10));
    const big = await req("GET", `${files}?${q({ path: home("big.txt") })}`);
    expect(big.body).toMatchObject({ truncated: true, size: 1024 * 1024 + 10 });
    expect(big.body.content.length).toBe(1024 * 1024);

    // Virtual files report size 0: read to the end anyway.
    const proc = await req("GET", `${files}?${q({ path: "/proc/self/status" })}`);
    expect(proc.body.content).toMatch(/^Name:/);
    expect(proc.body.truncated).toBe(false);

    const missing = await req("GET", `${files}?${q({ path: home("nope.txt") })}`);
    expect(missing.status).toBe(404);
    const dir = await req("GET", `${files}?${q({ path: w.sshd.home })}`);
    expect(dir.status).toBe(400);
    const denied = await req("GET", `${files}?${q({ path: "/etc/shadow" })}`);
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toContain("permission denied");
  });

  it("read_remote_file and tail_log open only regular files: a link to a device or a FIFO is refused, not opened", async () => {
    // A FIFO with no writer: opening it to read would block until the call timed out (and wake a writer).
    execFileSync("mkfifo", [home("pipe")]);
    fs.symlinkSync(home("pipe"), home("pipe-link.log"));
    fs.symlinkSync("/dev/zero", home("zero-link.log"));
    const logs = `/v1/projects/srv-proj/instances/box/logs`;
    for (const p of ["pipe", "pipe-link.log", "zero-link.log"]) {
      const read = await req("GET", `${files}?${q({ path: home(p) })}`);
      expect(read.status, `${p}: ${JSON.stringify(read.body)}`).toBe(400);
      expect(read.body.error.message).toMatch(/regular file/);
      const tail = await req("GET", `${logs}?${q({ path: home(p), lines: 5 })}`);
      expect(tail.status, `${p}: ${JSON.stringify(tail.body)}`).toBe(400);
    }
  });

  it("writes atomically, keeping the old mode, creating dirs on request", async () => {
    const target = w.sshd.writeFile("app.conf", "old\n", 0o600);
    const inodeBefore = fs.statSync(target).ino;
    const res = await req("PUT", files, { path: target, content: "new content\n" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ path: target, bytes: 12, mode: "0600", created: false });
    expect(fs.readFileSync(target, "utf8")).toBe("new content\n");
    expect(fs.statSync(target).mode & 0o777).toBe(0o600);
    // Atomic: a new inode replaced the old one by rename; no temp file is left behind.
    expect(fs.statSync(target).ino).not.toBe(inodeBefore);
    expect(fs.readdirSync(w.sshd.home).filter((f) => f.includes("bosun-"))).toEqual([]);

    const created = await req("PUT", files, {
      path: "~/deep/er/new.sh",
      content: "#!/bin/sh\necho hi\n",
      mode: "0755",
      create_dirs: true,
    });
    expect(created.body).toMatchObject({ created: true, mode: "0755" });
    expect(fs.statSync(home("deep/er/new.sh")).mode & 0o777).toBe(0o755);
    const noDirs = await req("PUT", files, { path: "~/absent/x.txt", content: "x" });
    expect(noDirs.status).toBe(404);
    const outside = await req("PUT", files, { path: "/etc/bosun-test-should-not-exist", content: "x" });
    expect(outside.status).toBe(403);
    expect(fs.existsSync("/etc/bosun-test-should-not-exist")).toBe(false);
    expect((await req("PUT", files, { path: target, content: "x", mode: "999" })).status).toBe(400);
    // Through a symlink: the file it points to changes, the link stays a link.
    fs.symlinkSync("app.conf", home("app-link.conf"));
    expect((await req("PUT", files, { path: home("app-link.conf"), content: "via link\n" })).status).toBe(200);
    expect(fs.lstatSync(home("app-link.conf")).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, "utf8")).toBe("via link\n");
  });

  it("a reader never sees a half-written file", async () => {
    const target = home("atomic.txt");
    const a = "A".repeat(300_000);
    const b = "B".repeat(300_000);
    fs.writeFileSync(target, a);
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const text = fs.readFileSync(target, "utf8");
        expect(text === a || text === b).toBe(true);
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 6; i++)
      expect((await req("PUT", files, { path: target, content: i % 2 ? a : b })).status).toBe(200);
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(0);
  });

  it("edits with exact replacement, refusing zero or several matches", async () => {
    const target = w.sshd.writeFile("site.conf", "server {\n  listen 80;\n  root /srv;\n}\n# listen\n", 0o640);
    const ok = await req("PATCH", files, { path: target, old_str: "listen 80;", new_str: "listen 8080;" });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.line).toBe(2);
    expect(ok.body.snippet).toContain("listen 8080;");
    expect(fs.readFileSync(target, "utf8")).toContain("listen 8080;");
    expect(fs.statSync(target).mode & 0o777).toBe(0o640);
    const twice = await req("PATCH", files, { path: target, old_str: "listen", new_str: "x" });
    expect(twice.status).toBe(400);
    expect(twice.body.error.issues[0]).toMatchObject({ path: "old_str" });
    expect(twice.body.error.message).toContain("2 times");
    const none = await req("PATCH", files, { path: target, old_str: "absent", new_str: "x" });
    expect(none.status).toBe(400);
    expect(fs.readFileSync(target, "utf8")).toContain("listen 8080;");
  });

  it("lists a directory", async () => {
    fs.mkdirSync(home("listing/sub"), { recursive: true });
    fs.writeFileSync(home("listing/b.txt"), "bb");
    fs.writeFileSync(home("listing/.hidden"), "");
    fs.symlinkSync("b.txt", home("listing/link"));
    const res = await req("GET", `/v1/projects/srv-proj/instances/box/directory?${q({ path: home("listing") })}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.entries.map((e: { name: string; type: string }) => [e.name, e.type])).toEqual([
      [".hidden", "file"],
      ["b.txt", "file"],
      ["link", "symlink"],
      ["sub", "directory"],
    ]);
    expect(res.body.entries[1]).toMatchObject({ size: 2 });
    const homeList = await req("GET", `/v1/projects/srv-proj/instances/box/directory`);
    expect(homeList.body.entries.map((e: { name: string }) => e.name)).toContain("listing");
    expect(
      (await req("GET", `/v1/projects/srv-proj/instances/box/directory?${q({ path: home("listing/b.txt") })}`)).status,
    ).toBe(400);
  });

  it("needs instances:files to read and instances:exec to write", async () => {
    const reader = await w.user.token(["instances:files"]);
    expect((await req("GET", `${files}?${q({ path: home("notes.txt") })}`, undefined, reader)).status).toBe(200);
    const put = await req("PUT", files, { path: home("notes.txt"), content: "x" }, reader);
    expect(put.status).toBe(403);
    expect(put.body.error.required_scope).toBe("instances:exec");
    expect((await req("PATCH", files, { path: home("notes.txt"), old_str: "one", new_str: "x" }, reader)).status).toBe(
      403,
    );
    expect(fs.readFileSync(home("notes.txt"), "utf8")).toBe("one\ntwo\nthree\nfour\n");
  });
});

describe("tail_log", () => {
  const logs = `/v1/projects/srv-proj/instances/box/logs`;
  it("tails a file, with an optional pattern taken literally as one argument", async () => {
    fs.writeFileSync(
      home("app.log"),
      Array.from({ length: 50 }, (_, i) => `${i % 5 === 0 ? "ERROR" : "info"} line ${i} $(id)`).join("\n") + "\n",
    );
    const last = await req("GET", `${logs}?${q({ path: home("app.log"), lines: 3 })}`);
    expect(last.status, JSON.stringify(last.body)).toBe(200);
    expect(last.body.lines).toEqual(["info line 47 $(id)", "info line 48 $(id)", "info line 49 $(id)"]);
    const errors = await req("GET", `${logs}?${q({ path: home("app.log"), lines: 2, grep: "^ERROR" })}`);
    expect(errors.body.lines).toEqual(["ERROR line 40 $(id)", "ERROR line 45 $(id)"]);
    const hostile = await req("GET", `${logs}?${q({ path: home("app.log"), grep: "'; touch pwned; '" })}`);
    expect(hostile.status).toBe(200);
    expect(hostile.body.lines).toEqual([]);
    expect(fs.existsSync(home("pwned"))).toBe(false);
    expect((await req("GET", `${logs}?${q({ path: home("none.log") })}`)).status).toBe(404);
    expect((await req("GET", `${logs}?${q({ path: home("app.log"), unit: "x.service" })}`)).status).toBe(400);
    expect((await req("GET", logs)).status).toBe(400);
  });

  it("streams the lines as MCP progress to a client that asks, and answers them all", async () => {
    fs.writeFileSync(home("progress.log"), "alpha\nbeta\ngamma\n");
    const client = await connectMcp(w.t.app, w.token);
    const seen: string[] = [];
    const res = await client.callTool(
      { name: "tail_log", arguments: { project: "srv-proj", instance: "box", path: home("progress.log"), lines: 2 } },
      undefined,
      { onprogress: (p) => seen.push(String(p.message)) },
    );
    expect(res.isError).toBeFalsy();
    expect((res.structuredContent as { lines: string[] }).lines).toEqual(["beta", "gamma"]);
    expect(seen.join("")).toBe("beta\ngamma\n");
    await client.close();
  });

  it("reads a unit's journal with journalctl", async () => {
    const res = await req("GET", `${logs}?${q({ unit: "nginx.service", lines: 5 })}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.source).toBe("unit nginx.service");
    expect(res.body.lines.length).toBe(30); // the stand-in ignores -n; the arguments are what matter
    expect(w.sshd.journalctlCalls().at(-1)).toBe("--no-pager -o short-iso -u nginx.service -n 5");
    const grep = await req("GET", `${logs}?${q({ unit: "nginx.service", lines: 2, grep: "line (7|8|9)$" })}`);
    expect(grep.body.lines).toEqual([
      "2026-01-01T00:00:8+0000 host app[1]: journal line 8",
      "2026-01-01T00:00:9+0000 host app[1]: journal line 9",
    ]);
    expect((await req("GET", `${logs}?${q({ unit: "bad unit; rm -rf ~" })}`)).status).toBe(400);
    expect(tailCommand({ unit: "a.service", lines: 10, grep: "x'y" })).toBe(
      "journalctl --no-pager -o short-iso '-u' 'a.service' -n 100000 | grep -a -E -e 'x'\\''y' | tail -n 10",
    );
  });
});
