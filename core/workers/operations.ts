// Every workers operation of the runtime side (workers, versions, env, logs, SQL databases), in one list.
import type { Operation } from "../kernel/operation.ts";
import { workerEnvOperations } from "./env.ts";
import { workerLogOperations } from "./logs.ts";
import { sqlOperations } from "./sql.ts";
import { workerCoreOperations } from "./workers.ts";

export const workerOperations: Operation[] = [
  ...workerCoreOperations,
  ...workerEnvOperations,
  ...workerLogOperations,
  ...sqlOperations,
];
