// The subrequest count per invocation (the binding service's side; limits.test.ts runs it through workerd).
import { expect, it } from "vitest";
import { SubrequestCounter } from "./subrequests.ts";

it("counts per invocation up to its limit, tells once past it, and refuses other workers, unknown and closed ids", () => {
  const c = new SubrequestCounter();
  let told = 0;
  c.start("a", "w1", 2, () => told++);
  expect(c.take("a", "w1")).toEqual({ ok: true });
  expect(c.take("a", "w1")).toEqual({ ok: true });
  expect(c.take("a", "w1")).toMatchObject({ ok: false, reason: "too_many" });
  expect(c.take("a", "w1")).toMatchObject({ ok: false, reason: "too_many" });
  expect(told).toBe(1);
  // Another worker's capability cannot spend (or learn about) w1's invocation.
  expect(c.take("a", "w2")).toMatchObject({ ok: false, reason: "no_invocation" });
  expect(c.take(undefined, "w1")).toMatchObject({ ok: false, reason: "no_invocation" });
  expect(c.take("nope", "w1")).toMatchObject({ ok: false, reason: "no_invocation" });
  c.end("a");
  expect(c.take("a", "w1")).toMatchObject({ ok: false, reason: "no_invocation" });
  expect(c.size).toBe(0);
});

it("endLater closes an invocation after the grace period unless end comes first", async () => {
  const c = new SubrequestCounter();
  c.start("a", "w", 5);
  c.endLater("a", 10);
  expect(c.take("a", "w")).toEqual({ ok: true });
  for (let i = 0; i < 100 && c.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(c.size).toBe(0);
  c.start("b", "w", 5);
  c.endLater("b", 60_000);
  c.end("b");
  expect(c.size).toBe(0);
});
