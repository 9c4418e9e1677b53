import { describe, expect, it } from "vitest";
import { costOf, loadPriceConfig, priceOf, upperBoundOf } from "./prices.ts";

describe("token math", () => {
  const noMargin = loadPriceConfig({});
  const margin20 = loadPriceConfig({ BOSUN_PRICE_MARGIN: "0.2" });

  it("prices a Claude call with cache writes and reads exactly", () => {
    // claude-sonnet-4-5: $3 in, $15 out, $3.75 cache write, $0.30 cache read per million tokens.
    const usage = { inputTokens: 1_000, outputTokens: 2_000, cacheWriteTokens: 10_000, cacheReadTokens: 100_000 };
    // 1000*3 + 2000*15 + 10000*3.75 + 100000*0.3 = 3000 + 30000 + 37500 + 30000 = 100500 µ$
    expect(costOf(noMargin, "claude-sonnet-4-5", usage)).toBe(100_500);
    // dated ids resolve to their family by prefix
    expect(costOf(noMargin, "claude-sonnet-4-5-20250929", usage)).toBe(100_500);
    expect(costOf(margin20, "claude-sonnet-4-5", usage)).toBe(120_600);
  });

  it("prices an OpenAI call with cached prompt tokens exactly", () => {
    // gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached. prompt 1200 of which 1000 cached → input 200.
    const usage = { inputTokens: 200, outputTokens: 500, cacheReadTokens: 1_000, reasoningTokens: 100 };
    // 200*0.15 + 500*0.6 + 1000*0.075 = 30 + 300 + 75 = 405 µ$ (reasoning tokens are inside output tokens)
    expect(costOf(noMargin, "gpt-4o-mini", usage)).toBe(405);
  });

  it("rounds each call's cost up to a whole micro-dollar, after the margin", () => {
    // 1 token of gpt-4o-mini input = 0.15 µ$ → 1 µ$; with 20% margin 0.18 µ$ → 1 µ$
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 1, outputTokens: 0 })).toBe(1);
    expect(costOf(margin20, "gpt-4o-mini", { inputTokens: 1, outputTokens: 0 })).toBe(1);
    // 7 tokens of 0.15 = 1.05 → 2
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 7, outputTokens: 0 })).toBe(2);
    expect(costOf(noMargin, "gpt-4o-mini", { inputTokens: 0, outputTokens: 0 })).toBe(0);
  });

  it("bounds a call above by input at the dearer of input and cache-write, plus max output", () => {
    // sonnet: 1000 * 3.75 + 4096 * 15 = 3750 + 61440
    expect(upperBoundOf(noMargin, "claude-sonnet-4-5", 1000, 4096)).toBe(65_190);
    const worst = costOf(noMargin, "claude-sonnet-4-5", { inputTokens: 0, cacheWriteTokens: 1000, outputTokens: 4096 });
    expect(upperBoundOf(noMargin, "claude-sonnet-4-5", 1000, 4096)).toBeGreaterThanOrEqual(worst);
  });

  it("refuses an unknown model unless a default price is configured", () => {
    expect(() => priceOf(noMargin, "mystery-model")).toThrow(/no price is configured for model 'mystery-model'/);
    const withDefault = loadPriceConfig({ BOSUN_DEFAULT_MODEL_PRICE: '{"input": 1, "output": 2}' });
    expect(costOf(withDefault, "mystery-model", { inputTokens: 1000, outputTokens: 1000 })).toBe(3000);
    const custom = loadPriceConfig({ BOSUN_MODEL_PRICES: '{"llama-local": {"input": 0, "output": 0}}' });
    expect(costOf(custom, "llama-local", { inputTokens: 5000, outputTokens: 5000 })).toBe(0);
  });
});
