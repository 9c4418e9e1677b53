import { describe, expect, it } from "vitest";
import { inputIssues, MAX_INPUT_DEPTH } from "./input-guard.ts";

const nest = (depth: number): unknown => {
  let v: unknown = "leaf";
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
};

describe("inputIssues", () => {
  it("accepts ordinary input, up to the nesting limit", () => {
    expect(inputIssues({ a: "text 🚢", b: [1, { c: null }], "with space": true })).toEqual([]);
    expect(inputIssues({ x: nest(MAX_INPUT_DEPTH - 1) })).toEqual([]);
  });

  it("refuses nesting past the limit, naming where, without recursion (a million levels)", () => {
    const [issue] = inputIssues({ x: nest(MAX_INPUT_DEPTH) });
    expect(issue!.path.split(".")).toHaveLength(MAX_INPUT_DEPTH);
    expect(issue!.path).toMatch(/^x\.(0|k)\./);
    expect(issue!.message).toMatch(/nested too deeply/);
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deep = [deep];
    expect(inputIssues({ deep })).toHaveLength(1);
  });

  it("refuses control characters and lone surrogates in field names, escaped in the path", () => {
    expect(inputIssues({ ok: { "a\u0000b": 1 } })).toEqual([
      { path: "ok.a\\u0000b", message: "field names must not contain control characters" },
    ]);
    for (const key of ["\t", "x\n", "\u007f", "\u0085", "\ud800"])
      expect(inputIssues({ [key]: 1 }), JSON.stringify(key)).toHaveLength(1);
  });

  it("refuses NUL and lone surrogates in strings, and keeps at most 20 issues", () => {
    expect(inputIssues({ a: ["x", "y\u0000"] })).toEqual([{ path: "a.1", message: "must not contain NUL characters" }]);
    expect(inputIssues({ a: "\udc00x" })[0]!.path).toBe("a");
    expect(inputIssues({ a: "\ud83d\udea2" })).toEqual([]);
    expect(inputIssues({ a: Array.from({ length: 100 }, () => "\u0000") })).toHaveLength(20);
  });
});
