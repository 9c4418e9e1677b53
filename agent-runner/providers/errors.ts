// What a failed model call becomes once the SDK's own retries are spent: one typed BosunError, whichever SDK
// failed, so the loop decides on codes (and `details.retryable`), never on SDK classes or message text.
import { BosunError } from "../../core/kernel/errors.ts";

export type ProviderName = "anthropic" | "openai";

/** What each provider learns from its SDK's error classes (both SDKs have the same shape, not the same classes). */
export type FailureKind =
  | { kind: "cancelled" }
  | { kind: "timeout" }
  | { kind: "connection"; message: string }
  | { kind: "status"; status: number; message: string };

const keyVariable: Record<ProviderName, string> = { anthropic: "ANTHROPIC_API_KEY", openai: "OPENAI_API_KEY" };

export function providerError(
  provider: ProviderName,
  failure: FailureKind,
  attempts: number,
  signal?: AbortSignal,
): Error {
  // The caller's own abort (cancel_agent_run, a run's wall-time limit) is its reason, not a provider fault.
  if (signal?.aborted) {
    return signal.reason instanceof Error
      ? signal.reason
      : new BosunError("timeout", "the model call was cancelled", { provider, cancelled: true });
  }
  const details = { provider, attempts };
  switch (failure.kind) {
    case "cancelled":
      return new BosunError("timeout", "the model call was cancelled", { ...details, cancelled: true });
    case "timeout":
      return new BosunError("timeout", `the ${provider} API did not answer in time (${attempts} attempts)`, {
        ...details,
        retryable: true,
      });
    case "connection":
      return new BosunError(
        "model_error",
        `cannot reach the ${provider} API (${attempts} attempts): ${clip(failure.message)}`,
        {
          ...details,
          retryable: true,
        },
      );
    case "status": {
      const { status } = failure;
      if (status === 401 || status === 403) {
        return new BosunError(
          "not_configured",
          `the ${provider} API refused the configured key (HTTP ${status}); check ${keyVariable[provider]}`,
          { ...details, attempts: 1, status, variable: keyVariable[provider] },
        );
      }
      const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
      const what = status === 429 ? "is rate limiting us" : status >= 500 ? "is failing" : "rejected the request";
      return new BosunError(
        "model_error",
        `the ${provider} API ${what} (HTTP ${status}${retryable ? `, after ${attempts} attempts` : ""}): ${clip(failure.message)}`,
        { ...details, attempts: retryable ? attempts : 1, status, retryable },
      );
    }
  }
}

const clip = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}…` : s);

/**
 * Aborts a streamed reply that stops moving. The SDKs' `timeout` only covers the wait for response headers; a
 * stream that then stalls would hang until the run's own limit. `touch()` on every event re-arms it.
 */
export function stallGuard(ms: number, outer?: AbortSignal) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  return {
    signal: outer ? AbortSignal.any([outer, controller.signal]) : controller.signal,
    touch() {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), ms);
    },
    stalled: () => controller.signal.aborted,
    done: () => clearTimeout(timer),
  };
}

export const stalled = (provider: ProviderName, ms: number) =>
  new BosunError(
    "timeout",
    `the ${provider} API stopped streaming its reply (nothing for ${Math.round(ms / 1000)} s)`,
    { provider, retryable: true },
  );
