import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type InstanceWorld, startInstanceWorld } from "../../testkit/instances.ts";
import { connectMcp } from "../../testkit/mcp-client.ts";

let w: InstanceWorld;
beforeAll(async () => {
  w = await startInstanceWorld();
});
afterAll(() => w?.close());

const run = (body: Record<string, unknown>, token = w.token) =>
  w.t.request("POST", `${w.path()}/commands`, { token, body });

/** The user's processes matching `re`, once the kill has had a bounded moment to land (a loaded machine is slow). */
async function leftAfterKill(re: RegExp, tries = 50) {
  let left = w.sshd.userProcesses().filter((p) => re.test(p.cmd));
  for (let i = 0; i < tries && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = w.sshd.userProcesses().filter((p) => re.test(p.cmd));
  }
  return left;
}
describe("run_command", () => {
  it("returns exit codes, stdout and stderr separately", async () => {
    const ok = await run({ command: "echo hello; echo oops >&2" });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body).toMatchObject({
      exit_code: 0,
      signal: null,
      stdout: "hello\n",
      stderr: "oops\n",
      stdout_bytes: 6,
      stderr_bytes: 5,
      stdout_truncated: false,
      timed_out: false,
    });
    expect(ok.body.duration_ms).toBeGreaterThanOrEqual(0);
    const failed = await run({ command: "echo partial; exit 42" });
    expect(failed.body).toMatchObject({ exit_code: 42, stdout: "partial\n" });
    const missing = await run({ command: "definitely-not-a-command-xyz" });
    expect(missing.body.exit_code).toBe(127);
    expect(missing.body.stderr).toMatch(/not found/);
  });

  it("runs as the instance's user in its home, with cwd, env and stdin passed literally", async () => {
    const who = await run({
      command: 'id -un; pwd; printf "%s|%s" "$GREETING" "$OTHER"',
      env: { GREETING: "it's $(id) `x`", OTHER: "a\nb" },
    });
    expect(who.body.stdout).toBe(`${w.sshd.username}\n${w.sshd.home}\nit's $(id) \`x\`|a\nb`);
    fs.mkdirSync(path.join(w.sshd.home, "dir with 'quotes'"), { recursive: true });
    fs.chmodSync(path.join(w.sshd.home, "dir with 'quotes'"), 0o777);
    const inDir = await run({ command: "pwd", cwd: "~/dir with 'quotes'" });
    expect(inDir.body.stdout).toBe(`${w.sshd.home}/dir with 'quotes'\n`);
    const badDir = await run({ command: "pwd", cwd: "/no/such/dir" });
    expect(badDir.body.exit_code).not.toBe(0);
    expect(badDir.body.stdout).toBe("");
    const piped = await run({ command: "wc -c; cat", stdin: "abc" });
    expect(piped.body.stdout).toBe("3\n");
    const bad = await run({ command: "true", env: { "BAD-NAME": "x" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0].path).toMatch(/^env/);
  });

  it("kills a command that outlives its timeout, with its children, on the server", async () => {
    const marker = path.join(w.sshd.home, "survived");
    const started = Date.now();
    const res = await run({ command: `sleep 30 & sleep 31; touch ${marker}`, timeout_seconds: 1 });
    expect(res.status).toBe(200);
    expect(res.body.timed_out).toBe(true);
    expect(res.body.exit_code).toBeNull();
    expect(Date.now() - started).toBeLessThan(20_000); // far below the 30 s the command wanted
    expect(await leftAfterKill(/sleep 3[01]/)).toEqual([]);
    expect(fs.existsSync(marker)).toBe(false);
    const over = await run({ command: "true", timeout_seconds: 100_000 });
    expect(over.status).toBe(400);
  });

  it("kills many timed-out commands at once, even with every channel busy", async () => {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => run({ command: `sleep 3${i % 10}`, timeout_seconds: 1 })),
    );
    expect(results.map((r) => r.body.timed_out)).toEqual(Array(12).fill(true));
    // 8 run at once and are killed together after 1 s; the 4 queued behind them get their own second. (The
    // bound only proves nobody waited for a 30 s sleep: a loaded CI machine is slow.)
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await leftAfterKill(/sleep 3\d/)).toEqual([]);
  });

  it("truncates 5 MB of output with correct totals", async () => {
    const res = await run({
      command: "head -c 5242880 /dev/zero | tr '\\0' a; head -c 3000000 /dev/zero | tr '\\0' b >&2",
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      exit_code: 0,
      stdout_bytes: 5242880,
      stdout_truncated: true,
      stderr_bytes: 3000000,
      stderr_truncated: true,
    });
    expect(res.body.stdout.length).toBe(1024 * 1024);
    expect(res.body.stdout).toMatch(/^a+$/);
    expect(res.body.stderr.length).toBe(1024 * 1024);
  });

  it("runs 20 commands at once over one connection", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => run({ command: `sleep 0.2; echo ${i}` })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(results.map((r) => r.body.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    // One connection: one per-connection sshd process under the listener.
    expect(w.sshd.killConnections()).toBe(1);
  });

  it("reconnects transparently after the server kills the connection", async () => {
    expect((await run({ command: "true" })).status).toBe(200);
    expect(w.sshd.killConnections()).toBe(1);
    const next = await run({ command: "echo back" });
    expect(next.status, JSON.stringify(next.body)).toBe(200);
    expect(next.body.stdout).toBe("back\n");
    // Killed mid-command: that command fails with a clear error, the next one works.
    const pending = run({ command: "sleep 5; echo never" });
    await new Promise((r) => setTimeout(r, 500));
    w.sshd.killConnections();
    const lost = await pending;
    expect(lost.status).toBe(502);
    expect(lost.body.error.code).toBe("unreachable");
    expect(lost.body.error.message).toMatch(/lost/);
    expect((await run({ command: "echo again" })).body.stdout).toBe("again\n");
  });

  it("streams output as MCP progress notifications", async () => {
    const client = await connectMcp(w.t.app, w.token);
    const seen: string[] = [];
    const res = await client.callTool(
      {
        name: "run_command",
        arguments: { project: w.project, instance: "box", command: "echo one; sleep 0.3; echo two" },
      },
      undefined,
      { onprogress: (p) => seen.push(String(p.message)) },
    );
    expect(res.isError).toBeFalsy();
    expect((res.structuredContent as { stdout: string }).stdout).toBe("one\ntwo\n");
    expect(seen.join("")).toBe("one\ntwo\n");
    expect(seen.length).toBeGreaterThanOrEqual(2);
    await client.close();
  });

  it("over MCP, a cancelled call kills the remote command (the SDK client's abort, against the real sshd)", async () => {
    const client = await connectMcp(w.t.app, w.token);
    const controller = new AbortController();
    const seen: string[] = [];
    const running = client
      .callTool(
        {
          name: "run_command",
          arguments: { project: w.project, instance: "box", command: "echo started; sleep 307; echo never" },
        },
        undefined,
        { signal: controller.signal, onprogress: (p) => seen.push(String(p.message)) },
      )
      .catch((err: Error) => err);
    // Wait (bounded) until the command runs and its first output came back as progress.
    for (
      let i = 0;
      i < 100 && !(seen.join("").includes("started") && (await leftAfterKill(/sleep 307/, 0)).length);
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    expect(seen.join("")).toBe("started\n");
    expect(w.sshd.userProcesses().filter((p) => /^sleep 307$/.test(p.cmd))).toHaveLength(1);

    controller.abort("stop");
    expect(await running).toBeInstanceOf(Error);
    expect(await leftAfterKill(/sleep 307/)).toEqual([]);
    expect(seen.join("")).not.toContain("never");
    await client.close();
  });

  it("needs instances:exec", async () => {
    const token = await w.user.token(["instances:read", "instances:files"]);
    const res = await run({ command: "true" }, token);
    expect(res.status).toBe(403);
    expect(res.body.error.required_scope).toBe("instances:exec");
  });
});
