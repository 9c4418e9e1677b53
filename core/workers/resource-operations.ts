// The operations of workers' resources (KV stores, buckets) and cron triggers; core/workers/operations.ts holds the
// runtime's (workers, versions, logs, SQL databases). Both are spread into the registry.
import { bucketOperations } from "./buckets.ts";
import { cronOperations } from "./cron.ts";
import { kvOperations } from "./kv.ts";

export const workerResourceOperations = [...kvOperations, ...bucketOperations, ...cronOperations];
