// The readiness probe's database check, here so the HTTP surface holds no SQL.
import type { Platform } from "./platform.ts";

/** Resolves when the database answers a trivial query; rejects (and /healthz fails) when it does not. */
export async function checkDatabase(platform: Platform): Promise<void> {
  await platform.db.selectNoFrom((eb) => eb.lit(1).as("ok")).execute();
}
