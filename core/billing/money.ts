// Money: integer micro-dollars (1e-6 USD), computed as bigint everywhere in core, shown to machines as JSON
// integers. Integers stay exact in every JSON parser only up to 2^53, so every stored amount is bounded
// (MAX_MICROS, $1 billion) — a pool's balance, and the total ever credited to it, which bounds every sum of
// its ledger (spend, usage, burn rate) too. Both pools together stay under 2^53 with room to spare.
import { z } from "zod";
import type { Pool } from "../../schema/database.ts";
import { validationError } from "../kernel/errors.ts";

/** The bound on any pool's balance and on the total ever credited to it: 10^15 micro-dollars ($1,000,000,000). */
export const MAX_MICROS = 1_000_000_000_000_000n;
const MAX_MICROS_NUMBER = Number(MAX_MICROS);

/** Micro-dollars as bigint, exactly: pg and PGlite give int8/numeric columns as decimal strings, which convert
 * without loss; a JS number must already be a safe integer (a rounded one would be silently wrong). */
export function toMicros(v: bigint | number | string | null | undefined): bigint {
  if (v == null) return 0n;
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${v} is not a whole number of micro-dollars within ±2^53`);
    return BigInt(v);
  }
  if (!/^-?\d+$/.test(v)) throw new RangeError(`'${v}' is not a whole number of micro-dollars`);
  return BigInt(v);
}

/** A bounded amount as a JSON number. Bounds hold by construction; if one were broken this says so instead
 * of answering a rounded amount. */
export function microsNumber(v: bigint | number | string | null | undefined): number {
  const m = toMicros(v);
  const n = Number(m);
  if (!Number.isSafeInteger(n)) throw new RangeError(`amount ${m} µ$ is outside the safe integer range`);
  return n;
}

export const minMicros = (a: bigint, b: bigint) => (a < b ? a : b);
export const maxMicros = (a: bigint, b: bigint) => (a > b ? a : b);
export const absMicros = (a: bigint) => (a < 0n ? -a : a);

/** "$12.345678" for messages, exact. */
export function usdText(v: bigint): string {
  const neg = v < 0n;
  const a = absMicros(v);
  return `${neg ? "-" : ""}$${a / 1_000_000n}.${String(a % 1_000_000n).padStart(6, "0")}`;
}

/** A 400 naming the field whose amount would take a balance or total past MAX_MICROS. Thrown before anything
 * is written (inside the transaction, so it also rolls back whatever the caller did first). */
export const boundExceeded = (field: string, what: string) =>
  validationError([
    { path: field, message: `${what} would exceed the bound of ${MAX_MICROS} micro-dollars ($1,000,000,000)` },
  ]);

export const Money = z
  .object({
    micros: z
      .number()
      .int()
      .min(-MAX_MICROS_NUMBER * 2)
      .max(MAX_MICROS_NUMBER * 2)
      .meta({
        description:
          "Exact amount in micro-dollars (1e-6 USD): a JSON integer, always within ±2^53 (amounts are bounded)",
      }),
    cents: z.number().int().meta({ description: "Whole cents, rounded toward zero" }),
    dollars: z
      .string()
      .meta({ description: 'For people, e.g. "12.34" (exact, rounded toward zero)', example: "12.34" }),
  })
  .meta({ id: "Money" });

export const money = (micros: bigint | number | string): z.infer<typeof Money> => {
  const m = toMicros(micros);
  const cents = m / 10_000n; // bigint division truncates toward zero
  const a = absMicros(cents);
  const dollars = `${cents < 0n ? "-" : ""}${a / 100n}.${String(a % 100n).padStart(2, "0")}`;
  return { micros: microsNumber(m), cents: Number(cents), dollars };
};

export const PoolName = z.enum(["wallet", "ai_credits"]).meta({
  description: "`wallet` pays for platform resources, `ai_credits` for agent tokens",
}) as z.ZodType<Pool, Pool>;

/** An amount as input: a JSON integer of micro-dollars, 0 … 10^15. */
export const Micros = z
  .number()
  .int()
  .min(0)
  .max(MAX_MICROS_NUMBER)
  .meta({ description: "micro-dollars (1e-6 USD), an integer from 0 to 10^15" });
