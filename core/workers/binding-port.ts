// What the runtime needs from the KV stores and buckets (core/workers/kv.ts and buckets.ts own them): a binding
// API per resource and a name → id lookup. Declared here so the runtime and its tests code against the shape;
// the platform wires the real functions.
import type { DB } from "../kernel/operation.ts";

export interface KvGetResult {
  value: Uint8Array;
  metadata: unknown;
}

export interface KvApi {
  get(key: string, type?: "bytes"): Promise<Uint8Array | null>;
  getWithMetadata(key: string): Promise<KvGetResult | { value: null; metadata: null }>;
  put(
    key: string,
    value: Uint8Array | string,
    options?: { expirationTtl?: number; expiration?: number; metadata?: unknown },
  ): Promise<void>;
  delete(key: string): Promise<void>;
  list(options?: { prefix?: string; limit?: number; cursor?: string }): Promise<unknown>;
}

export interface BucketObjectInfo {
  key: string;
  size: number;
  etag: string;
  uploaded: Date | string;
  httpMetadata?: Record<string, string>;
  customMetadata?: Record<string, string>;
  body?: Uint8Array;
}

export interface BucketApi {
  head(key: string): Promise<BucketObjectInfo | null>;
  get(
    key: string,
    options?: { range?: { offset?: number; length?: number; suffix?: number } },
  ): Promise<BucketObjectInfo | null>;
  put(
    key: string,
    bytes: Uint8Array,
    options?: { httpMetadata?: Record<string, string>; customMetadata?: Record<string, string> },
  ): Promise<BucketObjectInfo | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { prefix?: string; delimiter?: string; cursor?: string; limit?: number }): Promise<{
    objects: BucketObjectInfo[];
    [more: string]: unknown;
  }>;
}

export interface ResourceBindings {
  kv(store: { projectId: string; storeId: string }): KvApi;
  bucket(bucket: { projectId: string; bucketId: string }): BucketApi;
  /** The resource's id, or a not_found BosunError. */
  resolve(db: DB, projectId: string, kind: "kv" | "bucket", name: string): Promise<string>;
}
