// A run parked on one pending tool call, recorded as the runner parks it (no model needed): the approval
// operations' tests and the registry-wide contract suite start from one.
import crypto from "node:crypto";
import type { DB } from "../core/kernel/operation.ts";

export interface ParkedApproval {
  projectSlug: string;
  accountId: string;
  /** An instance project's run is the instance operator's, on that instance; a site's the site editor's. */
  instance?: string;
  tool: string;
  input: Record<string, unknown>;
  reason: string;
}

export async function parkRunOnApproval(db: DB, p: ParkedApproval): Promise<{ approvalId: string; runId: string }> {
  const project = await db
    .selectFrom("projects")
    .select("id")
    .where("slug", "=", p.projectSlug)
    .executeTakeFirstOrThrow();
  const [conversationId, runId, approvalId] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
  await db
    .insertInto("agent_conversations")
    .values({
      id: conversationId,
      project_id: project.id,
      account_id: p.accountId,
      kind: p.instance ? "instance_operator" : "site_editor",
      instance: p.instance ?? null,
      title: "t",
      mode: "ask",
      credential_kind: "token",
      credential_id: crypto.randomUUID(),
      scopes: [],
    })
    .execute();
  await db
    .insertInto("agent_runs")
    .values({
      id: runId,
      conversation_id: conversationId,
      status: "awaiting_approval",
      deadline: new Date(Date.now() + 600_000),
    })
    .execute();
  await db
    .insertInto("agent_approvals")
    .values({
      id: approvalId,
      run_id: runId,
      conversation_id: conversationId,
      tool_use_id: "toolu_1",
      tool: p.tool,
      input: JSON.stringify(p.input),
      reason: p.reason,
    })
    .execute();
  return { approvalId, runId };
}
