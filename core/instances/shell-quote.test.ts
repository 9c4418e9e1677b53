import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { shellArgs, shq } from "./shell-quote.ts";

// What /bin/sh actually receives, one argument per line (NUL-separated), for a quoted argv.
const echoArgs = (argv: string[]) =>
  execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${shellArgs(argv)}`], { encoding: "utf8" })
    .split("\0")
    .slice(0, -1);

describe("shell quoting", () => {
  it("passes hostile strings through sh as exactly one argument each", () => {
    const nasty = [
      "plain",
      "",
      " ",
      "it's",
      "'",
      "''",
      "$(id)",
      "`id`",
      "a;b",
      "a && b",
      "$HOME",
      "*",
      "\\",
      "\n",
      "-n",
      "--",
      "é 🚢",
      '"q"',
      "!x",
    ];
    expect(echoArgs(nasty)).toEqual(nasty);
  });

  it("refuses NUL", () => {
    expect(() => shq("a\u0000b")).toThrow(/NUL/);
  });
});
