// Idempotency keys: a retried write with the same key and input returns the first response and does
// nothing again; the same key with other input is a conflict. Kept per credential for 24 hours.
import crypto from "node:crypto";
import type { SecretBox } from "../secrets.ts";
import { BosunError, conflict, validationError } from "./errors.ts";
import type { DB } from "./operation.ts";

export const IDEMPOTENCY_TTL_HOURS = 24;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export type IdempotencyClaim = { replay: unknown } | { claimed: true };

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

export class IdempotencyStore {
  constructor(
    private readonly db: DB,
    private readonly secrets: SecretBox,
  ) {}

  /** Claims `key` for this call, or returns the first call's response to replay. */
  async claim(scope: string, key: string, operation: string, input: unknown): Promise<IdempotencyClaim> {
    if (!KEY_PATTERN.test(key)) {
      throw validationError(
        [{ path: "Idempotency-Key", message: "1-255 printable ASCII characters" }],
        "Idempotency-Key must be 1-255 printable ASCII characters",
      );
    }
    const inputHash = crypto
      .createHash("sha256")
      .update(`${operation}\n${stableJson(input)}`)
      .digest("hex");
    const inserted = await this.db
      .insertInto("idempotency_keys")
      .values({ scope, key, operation, input_hash: inputHash, state: "pending" })
      .onConflict((oc) => oc.doNothing())
      .returning("key")
      .executeTakeFirst();
    if (inserted) return { claimed: true };

    const row = await this.db
      .selectFrom("idempotency_keys")
      .selectAll()
      .where("scope", "=", scope)
      .where("key", "=", key)
      .executeTakeFirst();
    if (!row) return this.claim(scope, key, operation, input); // expired between the two statements
    const expired = Date.now() - new Date(row.created_at).getTime() > IDEMPOTENCY_TTL_HOURS * 3600_000;
    if (expired) {
      await this.release(scope, key);
      return this.claim(scope, key, operation, input);
    }
    if (row.input_hash !== inputHash) {
      throw conflict("this Idempotency-Key was used with a different request", { idempotency_key: key });
    }
    if (row.state !== "done" || row.response === null) {
      throw conflict("a request with this Idempotency-Key is still in progress", { idempotency_key: key });
    }
    const json = row.response_encrypted ? this.secrets.decrypt(row.response) : row.response;
    return { replay: JSON.parse(json) };
  }

  async complete(scope: string, key: string, response: unknown, secret: boolean): Promise<void> {
    const json = JSON.stringify(response ?? null);
    await this.db
      .updateTable("idempotency_keys")
      .set({ state: "done", response: secret ? this.secrets.encrypt(json) : json, response_encrypted: secret })
      .where("scope", "=", scope)
      .where("key", "=", key)
      .execute();
  }

  /** A failed call frees its key, so a corrected retry can run. */
  async release(scope: string, key: string): Promise<void> {
    await this.db.deleteFrom("idempotency_keys").where("scope", "=", scope).where("key", "=", key).execute();
  }

  async sweep(): Promise<number> {
    const res = await this.db
      .deleteFrom("idempotency_keys")
      .where("created_at", "<", new Date(Date.now() - IDEMPOTENCY_TTL_HOURS * 3600_000))
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
