// Model prices and the token math. Prices are integers in micro-dollars per million tokens, so every cost is
// exact until the one rounding: each call's cost is rounded UP to a whole micro-dollar, after the margin.
import { readVariable } from "../config.ts";
import { BosunError } from "../kernel/errors.ts";

export interface ModelPrice {
  /** micro-dollars per million tokens */
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

/** Provider usage, normalised: `inputTokens` excludes cache reads and writes (as Anthropic reports it;
 * for OpenAI the runner passes prompt_tokens - cached_tokens). Reasoning tokens are part of output tokens in
 * both APIs' usage; they are recorded, not charged twice. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheWriteTokens?: number;
  cacheReadTokens?: number;
  reasoningTokens?: number;
}

const usd = (dollarsPerMillion: number) => {
  const micros = Math.round(dollarsPerMillion * 1_000_000);
  // A price is exact integer micro-dollars (per million tokens): no NaN, infinity or negative price reaches the bigint math.
  if (!Number.isSafeInteger(micros) || micros < 0)
    throw new Error(`a model price must be USD per million tokens ≥ 0, not ${dollarsPerMillion}`);
  return micros;
};
const price = (input: number, output: number, cacheWrite: number, cacheRead: number): ModelPrice => ({
  input: usd(input),
  output: usd(output),
  cacheWrite: usd(cacheWrite),
  cacheRead: usd(cacheRead),
});

/** List prices in USD per million tokens (input, output, cache write, cache read), as the vendors published them
 * in November 2026; cache writes are the 5-minute kind. Where a vendor publishes no cache-write price its writes
 * cost the input price. Dated model ids match by prefix (the longest wins). Operators override with
 * BOSUN_MODEL_PRICES. */
export const defaultPrices: Record<string, ModelPrice> = {
  "claude-fable-5-2": price(8, 40, 10, 0.8),
  "claude-fable-5-1": price(10, 50, 12.5, 1),
  "claude-opus-5-5": price(4, 20, 5, 0.4),
  "claude-opus-5": price(5, 25, 6.25, 0.5),
  "claude-sonnet-5-5": price(2, 10, 2.5, 0.2),
  "claude-sonnet-5": price(2, 10, 2.5, 0.2),
  "claude-opus-4-8": price(5, 25, 6.25, 0.5),
  "claude-opus-4-7": price(5, 25, 6.25, 0.5),
  "claude-opus-4-6": price(5, 25, 6.25, 0.5),
  "claude-sonnet-4-6": price(3, 15, 3.75, 0.3),
  "gpt-6.1-sol": price(2, 10, 2.5, 0.1),
  "gpt-6-sol": price(2, 10, 2.5, 0.2),
  "gpt-6-luna": price(0.1, 0.5, 0.125, 0.01),
  "gpt-5.4": price(2.5, 15, 2.5, 0.25),
  "gpt-5.4-mini": price(0.75, 4.5, 0.75, 0.075),
  "claude-opus-4-5": price(5, 25, 6.25, 0.5),
  "claude-opus-4-1": price(15, 75, 18.75, 1.5),
  "claude-opus-4": price(15, 75, 18.75, 1.5),
  "claude-sonnet-4-5": price(3, 15, 3.75, 0.3),
  "claude-sonnet-4": price(3, 15, 3.75, 0.3),
  "claude-3-7-sonnet": price(3, 15, 3.75, 0.3),
  "claude-haiku-4-5": price(1, 5, 1.25, 0.1),
  "claude-3-5-haiku": price(0.8, 4, 1, 0.08),
  "gpt-5": price(1.25, 10, 1.25, 0.125),
  "gpt-5-mini": price(0.25, 2, 0.25, 0.025),
  "gpt-5-nano": price(0.05, 0.4, 0.05, 0.005),
  "gpt-4.1": price(2, 8, 2, 0.5),
  "gpt-4.1-mini": price(0.4, 1.6, 0.4, 0.1),
  "gpt-4o": price(2.5, 10, 2.5, 1.25),
  "gpt-4o-mini": price(0.15, 0.6, 0.15, 0.075),
  "o4-mini": price(1.1, 4.4, 1.1, 0.275),
};

export interface PriceConfig {
  prices: Record<string, ModelPrice>;
  /** Added on top of list price, in basis points (2000 = 20%). */
  marginBps: number;
  /** Used for models not in the table; without it an unknown model is an error. */
  defaultPrice?: ModelPrice;
}

type PriceInput = { input: number; output: number; cache_write?: number; cache_read?: number };
const fromUsd = (p: PriceInput): ModelPrice =>
  price(p.input, p.output, p.cache_write ?? p.input, p.cache_read ?? p.input);

/** BOSUN_MODEL_PRICES (JSON: model → {input, output, cache_write?, cache_read?} in USD per million tokens)
 * extends or overrides the defaults; BOSUN_PRICE_MARGIN is a fraction (0.2 = 20%); BOSUN_DEFAULT_MODEL_PRICE
 * (same JSON shape, one price) prices unknown models. */
export function loadPriceConfig(env: NodeJS.ProcessEnv = process.env): PriceConfig {
  const extraJson = readVariable("BOSUN_MODEL_PRICES", env);
  const extra = extraJson ? (JSON.parse(extraJson) as Record<string, PriceInput>) : {};
  const margin = Number(readVariable("BOSUN_PRICE_MARGIN", env));
  if (!Number.isFinite(margin) || margin < 0) throw new Error("BOSUN_PRICE_MARGIN must be a fraction ≥ 0, e.g. 0.2");
  const defaultJson = readVariable("BOSUN_DEFAULT_MODEL_PRICE", env);
  return {
    prices: { ...defaultPrices, ...Object.fromEntries(Object.entries(extra).map(([m, p]) => [m, fromUsd(p)])) },
    marginBps: Math.round(margin * 10_000),
    defaultPrice: defaultJson ? fromUsd(JSON.parse(defaultJson)) : undefined,
  };
}

export function priceOf(config: PriceConfig, model: string): ModelPrice {
  const exact = config.prices[model];
  if (exact) return exact;
  const [longest] = Object.entries(config.prices)
    .filter(([m]) => model.startsWith(`${m}-`))
    .sort(([a], [b]) => b.length - a.length);
  if (longest) return longest[1];
  if (config.defaultPrice) return config.defaultPrice;
  throw new BosunError(
    "not_supported",
    `no price is configured for model '${model}'; set BOSUN_MODEL_PRICES or BOSUN_DEFAULT_MODEL_PRICE`,
    {
      model,
    },
  );
}

/** A token count from a provider's usage: a whole number ≥ 0 (anything else is the provider's error, not a price). */
function tokenCount(n: number): bigint {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new BosunError("model_error", `the model provider reported an invalid token count: ${n}`);
  return BigInt(n);
}

/** Σ tokens × price, plus margin, rounded up to a whole micro-dollar. Exact bigint arithmetic, whatever the
 * size: the meter bounds what is held and charged, not this. */
function charge(config: PriceConfig, terms: [number, number][]): bigint {
  const raw = terms.reduce((sum, [tokens, perMillion]) => sum + tokenCount(tokens) * BigInt(perMillion), 0n);
  const scaled = raw * BigInt(10_000 + config.marginBps);
  const divisor = 1_000_000n * 10_000n;
  return (scaled + divisor - 1n) / divisor;
}

export function costOf(config: PriceConfig, model: string, usage: TokenUsage): bigint {
  const p = priceOf(config, model);
  return charge(config, [
    [usage.inputTokens, p.input],
    [usage.outputTokens, p.output],
    [usage.cacheWriteTokens ?? 0, p.cacheWrite],
    [usage.cacheReadTokens ?? 0, p.cacheRead],
  ]);
}

/** The most a call can cost: every input token at the dearer of input and cache-write prices, plus max_tokens of output. */
export function upperBoundOf(config: PriceConfig, model: string, inputTokens: number, maxOutputTokens: number): bigint {
  const p = priceOf(config, model);
  return charge(config, [
    [inputTokens, Math.max(p.input, p.cacheWrite)],
    [maxOutputTokens, p.output],
  ]);
}

/** Workers' list prices in micro-dollars: per million requests and per million CPU milliseconds (Cloudflare's
 * published Workers Standard rates, November 2026). Overridden with BOSUN_WORKERS_PRICES. */
export interface WorkerPrices {
  requestsPerMillion: number;
  cpuMsPerMillion: number;
}
export const defaultWorkerPrices: WorkerPrices = { requestsPerMillion: usd(0.3), cpuMsPerMillion: usd(0.02) };

/** BOSUN_WORKERS_PRICES: JSON `{ "requests": USD per million, "cpu_ms": USD per million CPU ms }`. */
export function loadWorkerPrices(env: NodeJS.ProcessEnv = process.env): WorkerPrices {
  const json = readVariable("BOSUN_WORKERS_PRICES", env);
  if (!json) return defaultWorkerPrices;
  const p = JSON.parse(json) as { requests?: number; cpu_ms?: number };
  return {
    requestsPerMillion: p.requests === undefined ? defaultWorkerPrices.requestsPerMillion : usd(p.requests),
    cpuMsPerMillion: p.cpu_ms === undefined ? defaultWorkerPrices.cpuMsPerMillion : usd(p.cpu_ms),
  };
}
