import { describe, expect, it } from "vitest";
import { ALONE, tickBatcher } from "./tick-batcher.ts";

/** A batcher over fake statements that records what ran: `one` items and `many` batches. */
function recorder(opts: { failMany?: (items: string[]) => boolean; alone?: string[]; max?: number } = {}) {
  const ones: string[] = [];
  const batches: string[][] = [];
  const run = tickBatcher<string, string>({
    one: async (item) => {
      ones.push(item);
      if (item.includes("bad")) throw new Error(`${item} failed`);
      return `one:${item}`;
    },
    many: async (items) => {
      batches.push(items);
      if (opts.failMany?.(items)) throw new Error("batch failed");
      return items.map((item) => (opts.alone?.includes(item) ? ALONE : `many:${item}`));
    },
    max: opts.max,
  });
  return { run, ones, batches };
}

describe("tickBatcher", () => {
  it("runs the calls of one turn as one batch, sorted by key, each caller getting its own result", async () => {
    const { run, ones, batches } = recorder();
    const out = await Promise.all([run("c", "c1"), run("a", "a1"), run("b", "b1")]);
    expect(out).toEqual(["many:c1", "many:a1", "many:b1"]);
    expect(batches).toEqual([["a1", "b1", "c1"]]);
    expect(ones).toEqual([]);
  });

  it("never puts two items of one key in one batch: the second goes in a round of its own", async () => {
    const { run, ones, batches } = recorder();
    const out = await Promise.all([run("a", "a1"), run("a", "a2"), run("b", "b1"), run("b", "b2"), run("a", "a3")]);
    expect(out).toEqual(["many:a1", "many:a2", "many:b1", "many:b2", "one:a3"]);
    expect(batches).toEqual([
      ["a1", "b1"],
      ["a2", "b2"],
    ]);
    expect(ones).toEqual(["a3"]);
  });

  it("a lone call runs on its own, and calls of a later turn go in a later batch", async () => {
    const { run, ones, batches } = recorder();
    expect(await run("a", "a1")).toBe("one:a1");
    await Promise.all([run("a", "a2"), run("b", "b2")]);
    expect(ones).toEqual(["a1"]);
    expect(batches).toEqual([["a2", "b2"]]);
  });

  it("a failed batch runs each item again on its own: one item's error fails only that caller", async () => {
    const { run, ones } = recorder({ failMany: (items) => items.some((i) => i.includes("bad")) });
    const out = await Promise.allSettled([run("a", "a1"), run("b", "bad"), run("c", "c1")]);
    expect(out.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message))).toEqual([
      "one:a1",
      "bad failed",
      "one:c1",
    ]);
    expect(ones.sort()).toEqual(["a1", "bad", "c1"]);
  });

  it("an item the batch left alone runs on its own; the others keep the batch's result", async () => {
    const { run, ones } = recorder({ alone: ["b1"] });
    expect(await Promise.all([run("a", "a1"), run("b", "b1")])).toEqual(["many:a1", "one:b1"]);
    expect(ones).toEqual(["b1"]);
  });

  it("splits a round into batches of at most max items", async () => {
    const { run, batches } = recorder({ max: 2 });
    await Promise.all(["a", "b", "c", "d", "e"].map((k) => run(k, `${k}1`)));
    expect(batches).toEqual([
      ["a1", "b1"],
      ["c1", "d1"],
    ]);
  });
});
