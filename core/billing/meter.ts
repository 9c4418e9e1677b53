// The metering API the agent runner calls around every model call:
//   const hold = await meter.hold({ accountId, model, inputTokens, maxOutputTokens })   // 402 if it cannot pay
//   ... call the model ...
//   await meter.settle(hold, usage, { conversationId, project })                         // or meter.release(hold)
import type { DB } from "../kernel/operation.ts";
import {
  type Charge,
  type Hold,
  type HoldRequest,
  heldBy,
  holdRequest,
  placeHold,
  releaseHold,
  type Settlement,
  settleHold,
  tryPlaceHold,
} from "./holds.ts";
import { credit } from "./ledger.ts";
import { maxMicros, toMicros } from "./money.ts";
import { costOf, type PriceConfig, type TokenUsage, upperBoundOf } from "./prices.ts";

export interface MeteredHold extends Hold {
  model: string;
}

/** A model call to reserve for. */
export interface HoldFor {
  accountId: string;
  model: string;
  inputTokens: number;
  maxOutputTokens: number;
  ttlSeconds?: number;
  metadata?: Record<string, unknown>;
}

export class Meter {
  constructor(
    private readonly db: DB,
    readonly prices: PriceConfig,
  ) {}

  /** Reserves the most the call can cost, from the AI-credit pool. */
  async hold(h: HoldFor): Promise<MeteredHold> {
    const req = this.holdParams(h);
    // Only a refused hold pays for the operator lookup (and top-up), not every hold.
    let placed = await tryPlaceHold(this.db, req);
    if (!placed && (await this.coverOperator(h.accountId, req.amount))) placed = await tryPlaceHold(this.db, req);
    // Still refused: placeHold tries once more and, refused, throws why (402).
    placed ??= await placeHold(this.db, req);
    return { ...placed, model: h.model };
  }

  /**
   * The hold `hold` would place, for a caller that places it in a statement of its own (holdCtes), or null when no
   * balance could pay it. Refused there, the caller calls `hold`: the operator's top-up, or why (402).
   */
  holdRequest(h: HoldFor): (HoldRequest & { model: string }) | null {
    const req = holdRequest(this.holdParams(h));
    return req && { ...req, model: h.model };
  }

  /** The hold a request made when a caller's statement placed it (holdCtes). */
  placed(req: HoldRequest & { model: string }): MeteredHold {
    return { ...heldBy(req), model: req.model };
  }

  private holdParams(h: HoldFor) {
    const bound = upperBoundOf(this.prices, h.model, h.inputTokens, h.maxOutputTokens);
    return {
      accountId: h.accountId,
      pool: "ai_credits" as const,
      amount: bound > 1n ? bound : 1n,
      ttlSeconds: h.ttlSeconds,
      metadata: { ...h.metadata, model: h.model },
    };
  }

  /** Charges the actual usage: one ledger row with model, token counts, context and cost. Retrying is safe. */
  settle(
    hold: MeteredHold,
    usage: TokenUsage,
    context: { conversationId?: string; project?: string; runId?: string } = {},
    db: DB = this.db, // a caller's transaction: the charge commits with what it records about the call
  ): Promise<Settlement> {
    const { holdId: _, ...charge } = this.charge(hold, usage, context);
    return settleHold(db, hold, charge);
  }

  /** What settling `hold` for `usage` charges, for a caller that settles in a statement of its own (settleCtes). */
  charge(
    hold: MeteredHold,
    usage: TokenUsage,
    context: { conversationId?: string; project?: string; runId?: string } = {},
  ): Charge {
    return {
      holdId: hold.id,
      cost: costOf(this.prices, hold.model, usage),
      reason: "ai_usage",
      metadata: {
        model: hold.model,
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
        cache_write_tokens: usage.cacheWriteTokens ?? 0,
        cache_read_tokens: usage.cacheReadTokens ?? 0,
        reasoning_tokens: usage.reasoningTokens ?? 0,
        ...(context.conversationId ? { conversation_id: context.conversationId } : {}),
        ...(context.project ? { project: context.project } : {}),
        ...(context.runId ? { run_id: context.runId } : {}),
      },
    };
  }

  /**
   * The platform operator pays their own provider bill: their use is metered like anyone's (ledger rows, get_usage)
   * but never refused for lack of credit. Before a hold, whatever the hold needs beyond the spendable balance is
   * credited as `operator_self_credit` (a ledger row, so balance = ledger sum still holds). Spend caps the operator
   * set still apply.
   */
  async operatorTopUp(accountId: string, needed: bigint): Promise<void> {
    const bal = await this.db
      .selectFrom("balances")
      .select(["balance", "held", "shortfall"])
      .where("account_id", "=", accountId)
      .where("pool", "=", "ai_credits")
      .executeTakeFirst();
    const spendable = toMicros(bal?.balance) - toMicros(bal?.held);
    // A credit repays an unpaid shortfall first, so it must cover that too.
    const amount = maxMicros(0n, needed - spendable) + toMicros(bal?.shortfall);
    if (amount > 0n) await credit(this.db, { accountId, pool: "ai_credits", amount, reason: "operator_self_credit" });
  }

  /** Tops up the operator's own account for a refused hold; false for anyone else. */
  private async coverOperator(accountId: string, amount: bigint): Promise<boolean> {
    const row = await this.db
      .selectFrom("accounts")
      .select("is_operator")
      .where("id", "=", accountId)
      .executeTakeFirst();
    if (!row?.is_operator) return false;
    await this.operatorTopUp(accountId, amount);
    return true;
  }

  release(hold: Hold): Promise<boolean> {
    return releaseHold(this.db, hold.id);
  }
}
