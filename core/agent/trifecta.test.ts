// The trifecta rule on its own: it only ever makes a decision stricter, only for outbound tools of a tainted
// conversation, and leaves `auto` alone. Which tools are untrusted or outbound follows from their definitions.
import { describe, expect, it } from "vitest";
import { OperationRegistry } from "../kernel/registry.ts";
import { agentKinds } from "./kinds.ts";
import { applyTrifecta, bridgeTraits, operationTraits } from "./trifecta.ts";

const taint = { tool: "read_remote_file", at: "2026-01-01T00:00:00Z" };
const run = { action: "run" as const };

describe("applyTrifecta", () => {
  it("asks in ask mode and refuses in read_only mode for an outbound tool once tainted", () => {
    expect(applyTrifecta("ask", run, "fetch_url", bridgeTraits, taint)).toMatchObject({
      action: "ask",
      reason: expect.stringContaining("read_remote_file"),
    });
    expect(applyTrifecta("read_only", run, "web_search", bridgeTraits, taint)).toMatchObject({ action: "deny" });
  });

  it("changes nothing untainted, for tools that send nothing out, in auto mode, or what is already asked or refused", () => {
    expect(applyTrifecta("ask", run, "fetch_url", bridgeTraits, null)).toEqual(run);
    expect(applyTrifecta("ask", run, "read_remote_file", { untrusted: true, outbound: false }, taint)).toEqual(run);
    expect(applyTrifecta("auto", run, "fetch_url", bridgeTraits, taint)).toEqual(run);
    const denied = { action: "deny" as const, reason: "owner rule" };
    expect(applyTrifecta("ask", denied, "fetch_url", bridgeTraits, taint)).toBe(denied);
  });

  it("every tool that reads a server or submissions is untrusted; no operation offered to an agent is outbound", () => {
    const ops = OperationRegistry.default();
    const traits = (id: string) => operationTraits(ops.get(id));
    for (const id of agentKinds.instance_operator.tools)
      expect(traits(id), id).toEqual({ untrusted: true, outbound: false });
    expect(traits("list_submissions").untrusted).toBe(true);
    // A worker's logs echo what its visitors sent it.
    expect(traits("list_worker_logs").untrusted).toBe(true);
    expect(traits("tail_worker_logs").untrusted).toBe(true);
    expect(traits("get_worker").untrusted).toBe(false);
    expect(traits("read_file")).toEqual({ untrusted: false, outbound: false }); // the site's own draft
    expect(bridgeTraits).toEqual({ untrusted: true, outbound: true });
  });
});
