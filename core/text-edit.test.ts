import { describe, expect, it } from "vitest";
import { countOccurrences, exactReplace } from "./text-edit.ts";

describe("exactReplace", () => {
  it("replaces a unique occurrence and returns numbered lines around it", () => {
    const r = exactReplace("a\nb\nhello world\nc\nd\ne\nf", "hello", "goodbye", 1);
    expect(r).toEqual({
      ok: true,
      text: "a\nb\ngoodbye world\nc\nd\ne\nf",
      line: 3,
      snippet: "2| b\n3| goodbye world\n4| c",
    });
  });

  it("spans multi-line replacements in the snippet", () => {
    const r = exactReplace("x\ny\nz", "y", "1\n2\n3", 0);
    expect(r.ok && r.snippet).toBe("2| 1\n3| 2\n4| 3");
  });

  it("refuses zero and several occurrences, naming the count, and an empty old_str", () => {
    expect(exactReplace("abc", "zz", "y")).toMatchObject({ ok: false, occurrences: 0 });
    const many = exactReplace("aa aa aa", "aa", "b");
    expect(many).toMatchObject({ ok: false, occurrences: 3 });
    expect(!many.ok && many.reason).toContain("3 times");
    expect(exactReplace("abc", "", "y")).toMatchObject({ ok: false });
  });

  it("counts non-overlapping occurrences", () => {
    expect(countOccurrences("aaaa", "aa")).toBe(2);
    expect(countOccurrences("aaaa", "aa", 1)).toBe(1);
  });

  it("treats $ patterns in new_str literally", () => {
    expect(exactReplace("price", "price", "$& $1 $$")).toMatchObject({ ok: true, text: "$& $1 $$" });
  });
});
