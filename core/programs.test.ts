import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { MissingProgramError, requireProgram } from "./programs.ts";

describe("required programs", () => {
  it("finds a program on PATH or in its usual place", () => {
    expect(requireProgram({ command: "sh", debianPackage: "dash" }, "a test")).toMatch(/\/sh$/);
    expect(requireProgram({ command: "sh", paths: ["/bin/sh"], debianPackage: "dash" }, "a test", { PATH: "" })).toBe(
      "/bin/sh",
    );
  });

  it("a missing one is one line naming the Debian package", () => {
    let err: unknown;
    try {
      requireProgram(
        { command: "bosun-no-such-program", paths: ["/nonexistent/x"], debianPackage: "bosun-pkg", env: "BOSUN_X" },
        "the widget",
        { PATH: "/usr/bin" },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingProgramError);
    const message = (err as Error).message;
    expect(message).toBe(
      "the widget needs bosun-no-such-program, which is not installed: install the bosun-pkg package (apt-get install bosun-pkg) or set BOSUN_X to its path",
    );
    expect(message).not.toContain("\n");
    expect(() => requireProgram("sshd", "evals", { BOSUN_SSHD_PATH: "/nonexistent/sshd" })).toThrow(/openssh-server/);
  });

  it("bosun eval on a machine without sshd says what to install in one line, not a spawn ENOENT stack trace", () => {
    const root = path.resolve(import.meta.dirname, "..");
    const env = {
      ...process.env,
      BOSUN_SSHD_PATH: "/nonexistent/sshd",
      ANTHROPIC_API_KEY: "",
      BOSUN_ANTHROPIC_API_KEY: "",
      OPENAI_API_KEY: "",
      BOSUN_DEBUG: "",
    };
    const res = spawnSync(
      process.execPath,
      [path.join(root, "bin/bosun.js"), "eval", "--scenario", "add-cron-job", "--out", "/tmp/bosun-eval-no-sshd"],
      { env, encoding: "utf8", timeout: 60_000 },
    );
    expect(res.status).toBe(1);
    const lines = res.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^bosun: bosun eval .*needs sshd.*openssh-server/);
    expect(res.stderr).not.toMatch(/ENOENT| {4}at /);
  });
});
