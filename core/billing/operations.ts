// Every billing operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { getBalances, grantCredit, listTransactions } from "./balances.ts";
import { getSpendLimits, listBillingEvents, updateSpendLimits } from "./limits.ts";
import { getUsage } from "./usage.ts";

export const billingOperations: Operation[] = [
  getBalances,
  listTransactions,
  getUsage,
  grantCredit,
  getSpendLimits,
  updateSpendLimits,
  listBillingEvents,
];
