// Money as the API shows it: exact micro-dollars for machines, cents and dollars for people.
import { z } from "zod";
import type { Pool } from "../../schema/database.ts";

export const Money = z
  .object({
    micros: z.number().int().meta({ description: "Exact amount in micro-dollars (1e-6 USD)" }),
    cents: z.number().int().meta({ description: "Whole cents, rounded toward zero" }),
    dollars: z.string().meta({ description: "For people, e.g. \"12.34\"", example: "12.34" }),
  })
  .meta({ id: "Money" });

export const money = (micros: number | string): z.infer<typeof Money> => {
  const m = Number(micros);
  return { micros: m, cents: Math.trunc(m / 10_000), dollars: (Math.trunc(m / 10_000) / 100).toFixed(2) };
};

export const PoolName = z.enum(["wallet", "ai_credits"]).meta({
  description: "`wallet` pays for platform resources, `ai_credits` for agent tokens",
}) as z.ZodType<Pool, Pool>;

export const Micros = z.number().int().min(0).max(1e15).meta({ description: "micro-dollars (1e-6 USD)" });
