// Who an agent run acts as: the person who sent the message, through the credential they sent it with,
// narrowed to the agent kind's scopes and pinned to the conversation's project (and instance). The run's
// credential is re-checked on every call, so revoking the person's token, cancelling the run or removing the
// person from the project stops the agent at its next step.
import { unauthorized } from "../kernel/errors.ts";
import type { AuthenticatedPrincipal, Credential, ProjectAccess } from "../kernel/operation.ts";
import type { CredentialChecker, Platform } from "../platform.ts";
import { presentAccess } from "../projects/access.ts";

export async function runPrincipal(platform: Platform, runId: string): Promise<AuthenticatedPrincipal> {
  const row = await platform.db
    .selectFrom("agent_runs")
    .innerJoin("agent_conversations as c", "c.id", "agent_runs.conversation_id")
    .innerJoin("projects as p", "p.id", "c.project_id")
    .innerJoin("accounts as a", "a.id", "c.account_id")
    .select([
      "c.scopes",
      "c.instance",
      "p.slug",
      "p.owner_account_id",
      "a.id as account_id",
      "a.email",
      "a.is_operator",
    ])
    .where("agent_runs.id", "=", runId)
    .executeTakeFirst();
  if (!row) throw unauthorized("this agent run no longer exists");
  return {
    account: { id: row.account_id, email: row.email, isOperator: row.is_operator },
    billedAccount: row.owner_account_id,
    credential: { kind: "agent_run", id: runId },
    scopes: row.scopes,
    projects: [row.slug],
    pins: { project: row.slug, ...(row.instance ? { instance: row.instance } : {}) },
    surface: "agent",
    clientIp: null,
  };
}

// A call the runner makes right after the checkpoint that saw its run `running` (the tool call's start, the
// statement before the call) need not read the run again, nor the person's access to the project, which that
// statement read too. Keyed by the principal object made for that one call and used once, so nothing else can
// present it: a nested call, a later one, any other principal reads both.
const seenRunning = new WeakMap<object, Credential>();

/**
 * The run's principal for one call made right after a checkpoint saw the run running; `seen.credential` is the
 * conversation's credential (fixed while the run lives), which the invoker still re-checks, and `seen.project`
 * the person's access to the run's project as the checkpoint read it.
 */
export function seenRunningPrincipal(
  principal: AuthenticatedPrincipal,
  seen: { credential: Credential; project: ProjectAccess | null },
): AuthenticatedPrincipal {
  const once = { ...principal };
  seenRunning.set(once, seen.credential);
  presentAccess(once, seen.project);
  return once;
}

/** The invoker's check for `agent_run` credentials: the run is still running and its person's credential holds. */
export function agentRunChecker(platform: Platform): CredentialChecker {
  return async (principal) => {
    const seen = seenRunning.get(principal);
    if (seen) seenRunning.delete(principal);
    const run = seen
      ? { status: "running", credential_kind: seen.kind, credential_id: seen.id }
      : await platform.db
          .selectFrom("agent_runs")
          .innerJoin("agent_conversations as c", "c.id", "agent_runs.conversation_id")
          .select(["agent_runs.status", "c.credential_kind", "c.credential_id"])
          .where("agent_runs.id", "=", principal.credential.id)
          .executeTakeFirst();
    if (!run || run.status !== "running") throw unauthorized(`this agent run is ${run?.status ?? "gone"}`);
    const underlying = platform.credentialCheckers.get(run.credential_kind as "token");
    if (!underlying) throw unauthorized(`the run's credential kind '${run.credential_kind}' is not accepted`);
    await underlying({ ...principal, credential: { kind: run.credential_kind, id: run.credential_id } as Credential });
  };
}
