// In-memory KV stores and buckets with the shapes of core/workers/binding-port.ts, for the runtime's tests
// until the real ones (core/workers/kv.ts, buckets.ts) are wired by the platform.
import crypto from "node:crypto";
import { notFound } from "../core/kernel/errors.ts";
import type { BucketObjectInfo, ResourceBindings } from "../core/workers/binding-port.ts";

export function memoryWorkerResources(names: { kv?: string[]; bucket?: string[] } = {}): ResourceBindings & {
  kvData: Map<string, Map<string, { value: Uint8Array; metadata: unknown }>>;
  bucketData: Map<string, Map<string, BucketObjectInfo>>;
} {
  const kvData = new Map<string, Map<string, { value: Uint8Array; metadata: unknown }>>();
  const bucketData = new Map<string, Map<string, BucketObjectInfo>>();
  const store = <T>(m: Map<string, Map<string, T>>, id: string) => {
    let s = m.get(id);
    if (!s) m.set(id, (s = new Map()));
    return s;
  };
  return {
    kvData,
    bucketData,
    async resolve(_db, projectId, kind, name) {
      if (!(names[kind] ?? []).includes(name)) throw notFound(kind === "kv" ? "kv store" : "bucket", name);
      return `${projectId}:${kind}:${name}`;
    },
    kv: ({ storeId }) => {
      const s = store(kvData, storeId);
      return {
        get: async (key) => s.get(key)?.value ?? null,
        getWithMetadata: async (key) => s.get(key) ?? { value: null, metadata: null },
        put: async (key, value, o = {}) => {
          s.set(key, {
            value: typeof value === "string" ? new TextEncoder().encode(value) : value,
            metadata: o.metadata ?? null,
          });
        },
        delete: async (key) => {
          s.delete(key);
        },
        list: async (o = {}) => ({
          keys: [...s.keys()].filter((k) => k.startsWith(o.prefix ?? "")).map((name) => ({ name })),
          list_complete: true,
        }),
      };
    },
    bucket: ({ bucketId }) => {
      const s = store(bucketData, bucketId);
      return {
        head: async (key) => {
          const o = s.get(key);
          return o ? { ...o, body: undefined } : null;
        },
        get: async (key) => s.get(key) ?? null,
        put: async (key, bytes, o = {}) => {
          const info = {
            key,
            size: bytes.length,
            etag: crypto.hash("md5", bytes, "hex"),
            uploaded: new Date(),
            httpMetadata: o.httpMetadata ?? {},
            customMetadata: o.customMetadata ?? {},
            body: bytes,
          };
          s.set(key, info);
          return { ...info, body: undefined };
        },
        delete: async (keys) => {
          for (const k of Array.isArray(keys) ? keys : [keys]) s.delete(k);
        },
        list: async (o = {}) => ({
          objects: [...s.values()]
            .filter((x) => x.key.startsWith(o.prefix ?? ""))
            .map((x) => ({ ...x, body: undefined })),
          truncated: false,
        }),
      };
    },
  };
}
