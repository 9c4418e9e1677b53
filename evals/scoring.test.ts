import { describe, expect, it } from "vitest";
import { passHatK, passHatKOne, summarize } from "./scoring.ts";
import type { TrialResult } from "./trial.ts";

describe("pass^k", () => {
  it("is C(c,k)/C(n,k) for one scenario", () => {
    expect(passHatKOne(4, 4, 4)).toBe(1);
    expect(passHatKOne(4, 0, 1)).toBe(0);
    expect(passHatKOne(4, 2, 1)).toBeCloseTo(0.5);
    expect(passHatKOne(4, 2, 2)).toBeCloseTo(1 / 6); // C(2,2)/C(4,2)
    expect(passHatKOne(5, 3, 2)).toBeCloseTo(3 / 10); // C(3,2)/C(5,2)
    expect(passHatKOne(8, 6, 3)).toBeCloseTo(20 / 56); // C(6,3)/C(8,3)
    expect(passHatKOne(4, 2, 3)).toBe(0); // fewer passes than k
  });

  it("averages over scenarios", () => {
    expect(
      passHatK(
        [
          { n: 4, c: 4 },
          { n: 4, c: 2 },
        ],
        2,
      ),
    ).toBeCloseTo((1 + 1 / 6) / 2);
    expect(
      passHatK(
        [
          { n: 5, c: 3 },
          { n: 5, c: 5 },
          { n: 5, c: 0 },
        ],
        1,
      ),
    ).toBeCloseTo((0.6 + 1 + 0) / 3);
  });

  it("refuses a k larger than the trials run", () => {
    expect(() => passHatKOne(2, 1, 3)).toThrow(/at least 3 trials/);
  });
});

describe("summaries", () => {
  const r = (model: string, scenario: string, pass: boolean, costMicros: number, steps = 2): TrialResult => ({
    scenario,
    model,
    source: "scripted",
    trial: 1,
    pass,
    reason: pass ? null : "x",
    budgetExceeded: null,
    messages: [],
    runStatus: "done",
    runError: null,
    steps,
    inputTokens: 100,
    outputTokens: 10,
    costMicros,
    ledgerMicros: costMicros,
    wallMs: 1000,
    approvals: [],
    holdsLeftActive: 0,
    transcript: null,
  });

  it("per model and per scenario: pass^1, pass^k up to the fewest trials, means", () => {
    const results = [
      r("m", "a", true, 10),
      r("m", "a", true, 20),
      r("m", "b", true, 30),
      r("m", "b", false, 40, 4),
      r("other", "a", false, 5),
    ];
    const s = summarize(results);
    const m = s.models.find((x) => x.model === "m")!;
    expect(m.trials).toBe(4);
    expect(m.passAt1).toBeCloseTo((1 + 0.5) / 2);
    expect(m.passHat[2]).toBeCloseTo((1 + 0) / 2);
    expect(m.meanCostMicros).toBe(25);
    expect(m.totalCostMicros).toBe(100);
    expect(m.meanSteps).toBe(2.5);
    expect(s.scenarios.filter((x) => x.model === "m").map((x) => [x.scenario, x.passAt1])).toEqual([
      ["a", 1],
      ["b", 0.5],
    ]);
    expect(s.models.find((x) => x.model === "other")!.passHat).toEqual({ 1: 0 });
  });
});
