import { expect, it } from "vitest";
import { unifiedDiff } from "./unified-diff.ts";

const lines = (n: number) => Array.from({ length: n }, (_, i) => `${i + 1}`).join("\n") + "\n";

it("answers the hunks `diff -u` does: context 3, nearby changes merged, far ones apart", () => {
  const before = lines(30);
  const after = before.replace("\n5\n", "\nfive\n").replace("\n20\n", "\ntwenty\n").replace("\n25\n", "\n") + "extra\n";
  expect(unifiedDiff("x", before, after)).toBe(
    [
      "--- a/x",
      "+++ b/x",
      "@@ -2,7 +2,7 @@",
      ...["2", "3", "4", "-5", "+five", "6", "7", "8"].map((l) => (/^[-+]/.test(l) ? l : ` ${l}`)),
      "@@ -17,14 +17,14 @@",
      ...[
        "17",
        "18",
        "19",
        "-20",
        "+twenty",
        "21",
        "22",
        "23",
        "24",
        "-25",
        "26",
        "27",
        "28",
        "29",
        "30",
        "+extra",
      ].map((l) => (/^[-+]/.test(l) ? l : ` ${l}`)),
      "",
    ].join("\n"),
  );
});

it("new and deleted files diff against /dev/null; equal texts give nothing", () => {
  expect(unifiedDiff("n.html", null, "a\nb\n")).toBe("--- /dev/null\n+++ b/n.html\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  expect(unifiedDiff("d.html", "a\n", null)).toBe("--- a/d.html\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-a\n");
  expect(unifiedDiff("same", "a\nb\n", "a\nb\n")).toBe("");
});
