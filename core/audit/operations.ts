// Every audit operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { listAuditEvents } from "./events.ts";

export const auditOperations: Operation[] = [listAuditEvents];
