// The runtime's view of KV stores and buckets (binding-port.ts) over the real ones in the database (kv.ts,
// buckets.ts): the binding service always moves bytes, so KV reads are asked for as bytes.
import type { DB } from "../kernel/operation.ts";
import type { ResourceBindings } from "./binding-port.ts";
import { bucketBinding } from "./buckets.ts";
import { kvBinding, resolveBindingResource } from "./kv.ts";

export function databaseResources(db: DB): ResourceBindings {
  return {
    kv: (store) => {
      const kv = kvBinding({ db }, store);
      return {
        get: async (key) => (await kv.get(key, "bytes")) as Uint8Array | null,
        getWithMetadata: async (key) => {
          const r = await kv.getWithMetadata(key, "bytes");
          return r.value === null
            ? { value: null, metadata: null }
            : { value: r.value as Uint8Array, metadata: r.metadata };
        },
        put: (key, value, options) => kv.put(key, value, options),
        delete: (key) => kv.delete(key),
        list: (options) => kv.list(options),
      };
    },
    bucket: (bucket) => bucketBinding({ db }, bucket),
    resolve: resolveBindingResource,
  };
}
