// Cancellation over stateless HTTP. A client cancels a call by sending notifications/cancelled naming the call's
// JSON-RPC id, in a POST of its own; with no session, that POST meets a fresh server that never saw the call.
// So the calls running in this process are kept here, by credential and id, and a cancellation from the same
// credential aborts the call's ctx.signal (run_command then kills the remote process). Another credential's
// cancellation never matches: ids are only unique per client, the credential is what makes them the caller's.
import type { Principal } from "../core/kernel/operation.ts";

type RequestId = string | number;

export class InFlightCalls {
  private readonly calls = new Map<string, AbortController>();

  private static key(principal: Principal, id: RequestId): string | undefined {
    const c = principal.credential;
    return c ? `${c.kind}:${c.id}\u0000${typeof id}:${id}` : undefined;
  }

  /** Tracks a call until `done`; its signal aborts when the client cancels it or `parent` aborts. */
  track(principal: Principal, id: RequestId, parent: AbortSignal): { signal: AbortSignal; done: () => void } {
    const key = InFlightCalls.key(principal, id);
    if (!key) return { signal: parent, done: () => {} };
    const controller = new AbortController();
    this.calls.set(key, controller);
    // A listener rather than AbortSignal.any, which costs a WeakRef and a finalizer per call (a tenth of a call's
    // CPU on the stateless path); it is removed when the call ends, so a long-lived parent keeps nothing.
    const onParentAbort = () => controller.abort(parent.reason);
    if (parent.aborted) onParentAbort();
    else parent.addEventListener("abort", onParentAbort, { once: true });
    return {
      signal: controller.signal,
      // A later call that reused the id (another client on the same token) is not this one's to forget.
      done: () => {
        parent.removeEventListener("abort", onParentAbort);
        if (this.calls.get(key) === controller) this.calls.delete(key);
      },
    };
  }

  /** Aborts the caller's own call with that id, if it runs in this process. */
  cancel(principal: Principal, id: RequestId, reason?: string): boolean {
    const key = InFlightCalls.key(principal, id);
    const controller = key ? this.calls.get(key) : undefined;
    if (!controller) return false;
    controller.abort(new Error(reason ?? "cancelled by the client"));
    this.calls.delete(key!);
    return true;
  }

  /** The cancellations in a POST's body (one message or a batch). */
  static cancellations(body: unknown): { requestId: RequestId; reason?: string }[] {
    const messages = Array.isArray(body) ? body : [body];
    return messages.flatMap((m) => {
      const msg = m as { method?: unknown; params?: { requestId?: unknown; reason?: unknown } } | null;
      const id = msg?.params?.requestId;
      if (msg?.method !== "notifications/cancelled" || (typeof id !== "string" && typeof id !== "number")) return [];
      return [{ requestId: id, reason: typeof msg.params?.reason === "string" ? msg.params.reason : undefined }];
    });
  }
}
