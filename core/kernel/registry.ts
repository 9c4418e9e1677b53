// Every operation Bosun has, in one list. A new operation added here appears on every surface.
import { agentOperations } from "../agent/operations.ts";
import { listAuditEvents } from "../audit/events.ts";
import { getBalances, grantCredit, listTransactions } from "../billing/balances.ts";
import { getSpendLimits, listBillingEvents, updateSpendLimits } from "../billing/limits.ts";
import { getUsage } from "../billing/usage.ts";
import { getMe, listAccounts, login, register } from "../identity/accounts.ts";
import { onboardingOperations } from "../identity/onboarding.ts";
import { sessionOperations } from "../identity/sessions.ts";
import { createApiToken, listApiTokens, listScopes, revokeApiToken } from "../identity/tokens.ts";
import { confirmTotp, disableTotp, setupTotp } from "../identity/totp.ts";
import { instanceOperations } from "../instances/operations.ts";
import { invitationOperations } from "../projects/invitations.ts";
import { listProjectMembers, removeProjectMember, updateProjectMember } from "../projects/members.ts";
import { createProject, deleteProject, getProject, listProjects, updateProject } from "../projects/projects.ts";
import { siteOperations } from "../sites/operations.ts";
import { notFound } from "./errors.ts";
import type { Operation } from "./operation.ts";

export const allOperations: Operation[] = [
  register,
  login,
  getMe,
  listAccounts,
  createApiToken,
  listApiTokens,
  revokeApiToken,
  listScopes,
  setupTotp,
  confirmTotp,
  disableTotp,
  ...sessionOperations,
  createProject,
  listProjects,
  getProject,
  updateProject,
  deleteProject,
  listProjectMembers,
  updateProjectMember,
  removeProjectMember,
  ...onboardingOperations,
  ...invitationOperations,
  listAuditEvents,
  getBalances,
  listTransactions,
  getUsage,
  grantCredit,
  getSpendLimits,
  updateSpendLimits,
  listBillingEvents,
  ...instanceOperations,
  ...siteOperations,
  ...agentOperations,
];

export class OperationRegistry {
  private byId = new Map<string, Operation>();

  constructor(readonly operations: readonly Operation[]) {
    const routes = new Set<string>();
    for (const op of operations) {
      // zod-openapi accepts duplicate operationIds and routes silently; refuse them here.
      if (this.byId.has(op.id)) throw new Error(`duplicate operation id '${op.id}'`);
      const route = `${op.http.method} ${op.http.path.replace(/\{\w+\}/g, "{}")}`;
      if (routes.has(route)) throw new Error(`duplicate route '${route}' (operation ${op.id})`);
      routes.add(route);
      this.byId.set(op.id, op);
    }
  }

  static default(): OperationRegistry {
    return new OperationRegistry(allOperations);
  }

  get(id: string): Operation {
    const op = this.byId.get(id);
    if (!op) throw notFound("operation", id);
    return op;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }
}
