// Every operation Bosun has, in one list. An operation listed in its domain's operations.ts appears on every surface.
import { agentOperations } from "../agent/operations.ts";
import { auditOperations } from "../audit/operations.ts";
import { billingOperations } from "../billing/operations.ts";
import { eventOperations } from "../events/operations.ts";
import { identityOperations } from "../identity/operations.ts";
import { instanceOperations } from "../instances/operations.ts";
import { projectOperations } from "../projects/operations.ts";
import { siteOperations } from "../sites/operations.ts";
import { workerOperations } from "../workers/operations.ts";
import { workerResourceOperations } from "../workers/resource-operations.ts";
import { notFound } from "./errors.ts";
import type { Operation } from "./operation.ts";

// Each domain lists its operations in its own operations.ts; a new domain adds one line here.
export const allOperations: Operation[] = [
  ...identityOperations,
  ...projectOperations,
  ...auditOperations,
  ...billingOperations,
  ...instanceOperations,
  ...siteOperations,
  ...agentOperations,
  ...eventOperations,
  ...workerResourceOperations,
  ...workerOperations,
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
