import { describe, expect, it } from "vitest";
import { costOf, loadPriceConfig, priceOf, upperBoundOf } from "./prices.ts";

describe("token math", () => {
  const noMargin = loadPriceConfig({});
  const margin20 = loadPriceConfig({ BOSUN_PRICE_MARGIN: "0.2" });

  it("prices a Claude call with cache writes and reads exactly", () => {
    // claude-sonnet-4-5: $3 in, $15 out, $3.75 cache write, $0.30 cache read per million tokens.
    const usage = { inputTokens: 1_000, outputTokens: 2_000, cacheWriteTokens: 10_000, cacheReadTokens: 100_000 };
    // 1000*3 + 2000*15 + 10000*3.75 + 100000*0.3 = 3000 + 30000 + 37500 + 30000 = 100500 µ$
    expect(costOf(noMargin, "claude-sonnet-4-5", usage)).toBe(100_500n);
    // dated ids resolve to their family by prefix
    expect(costOf(noMargin, "claude-sonnet-4-5-20250929", usage)).toBe(100_500n);
    expect(costOf(margin20, "claude-sonnet-4-5", usage)).toBe(120_600n);
  });

  it("prices an OpenAI call with cached prompt tokens exactly", () => {
    // gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached. prompt 1200 of which 1000 cached → input 200.
    const usage = { inputTokens: 200, outputTokens: 500, cacheReadTokens: 1_000, reasoningTokens: 100 };
    // 200*0.15 + 500*0.6 + 1000*0.075 = 30 + 300 + 75 = 405 µ$ (reasoning tokens are inside output tokens)
    expect(costOf(noMargin, "gpt-4o-mini", usage)).toBe(405n);
  });

  it("rounds each call's cost up to a whole micro-dollar, after the margin", () => {
    // 1 token of gpt-4o-mini input = 0.15 µ$ → 1 µ$; with 20% margin 0.18 µ$ → 1 µ$
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 1, outputTokens: 0 })).toBe(1n);
    expect(costOf(margin20, "gpt-4o-mini", { inputTokens: 1, outputTokens: 0 })).toBe(1n);
    // 7 tokens of 0.15 = 1.05 → 2
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 7, outputTokens: 0 })).toBe(2n);
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 0, outputTokens: 0 })).toBe(0n);
  });

  it("bounds a call above by input at the dearer of input and cache-write, plus max output", () => {
    // sonnet: 1000 * 3.75 + 4096 * 15 = 3750 + 61440
    expect(upperBoundOf(noMargin, "claude-sonnet-4-5", 1000, 4096)).toBe(65_190n);
    const worst = costOf(noMargin, "claude-sonnet-4-5", { inputTokens: 0, cacheWriteTokens: 1000, outputTokens: 4096 });
    expect(upperBoundOf(noMargin, "claude-sonnet-4-5", 1000, 4096)).toBeGreaterThanOrEqual(worst);
  });

  it("refuses an unknown model unless a default price is configured", () => {
    expect(() => priceOf(noMargin, "mystery-model")).toThrow(/no price is configured for model 'mystery-model'/);
    const withDefault = loadPriceConfig({ BOSUN_DEFAULT_MODEL_PRICE: '{"input": 1, "output": 2}' });
    expect(costOf(withDefault, "mystery-model", { inputTokens: 1000, outputTokens: 1000 })).toBe(3000n);
    const custom = loadPriceConfig({ BOSUN_MODEL_PRICES: '{"llama-local": {"input": 0, "output": 0}}' });
    expect(costOf(custom, "llama-local", { inputTokens: 5000, outputTokens: 5000 })).toBe(0n);
  });

  it("computes costs past 2^53 micro-dollars exactly, in bigint", () => {
    // gpt-4o output at $10/M is 10 µ$ a token: 900,719,925,474,100 tokens cost 9,007,199,254,741,000 µ$ (> 2^53).
    const big = costOf(noMargin, "gpt-4o", { inputTokens: 0, outputTokens: 900_719_925_474_100 });
    expect(big).toBe(9_007_199_254_741_000n);
    expect(big > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    // One input token at $2.50/M adds 2.5 µ$, rounded up to 3: exact only in bigint (a number rounds it to …004).
    const odd = costOf(noMargin, "gpt-4o", { inputTokens: 1, outputTokens: 900_719_925_474_100 });
    expect(odd).toBe(9_007_199_254_741_003n);
    expect(BigInt(Number(odd))).not.toBe(odd);
  });

  it("refuses a token count that is not a whole number ≥ 0 as the provider's error", () => {
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(() => costOf(noMargin, "gpt-4o", { inputTokens: bad, outputTokens: 0 })).toThrow(/invalid token count/);
    }
    expect(() => loadPriceConfig({ BOSUN_MODEL_PRICES: '{"x": {"input": -1, "output": 1}}' })).toThrow(/≥ 0/);
  });
});
