// present()/one(): what the code guarantees is checked, and a broken guarantee is a bug the caller never sees.
import { describe, expect, it } from "vitest";
import { BosunError, one, present, toBosunError } from "./errors.ts";

describe("present and one", () => {
  it("pass a value through, keeping falsy values that are there", () => {
    expect(present("x", "a value")).toBe("x");
    expect(present(0, "a count")).toBe(0);
    expect(present("", "a text")).toBe("");
    expect(one([{ id: 1 }, { id: 2 }], "a row")).toEqual({ id: 1 });
  });

  it("throw a bug naming what is missing, which callers see only as internal", () => {
    for (const missing of [
      () => present(undefined, "the row"),
      () => present(null, "the row"),
      () => one([], "the row"),
    ]) {
      let thrown: unknown;
      try {
        missing();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(Error);
      expect(thrown).not.toBeInstanceOf(BosunError); // a bug: the invoker logs it
      expect((thrown as Error).message).toBe("bug: the row is missing");
      expect(toBosunError(thrown).toJSON()).toEqual({ code: "internal", message: "internal error" });
    }
  });
});
