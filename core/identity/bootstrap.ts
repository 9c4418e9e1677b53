// First start: an empty database gets its owner account, the platform operator, and an admin token.

import crypto from "node:crypto";
import { readVariable } from "../config.ts";
import { BosunError } from "../kernel/errors.ts";
import type { AccountPrincipal } from "../kernel/operation.ts";
import { ADMIN_SCOPE } from "../kernel/scopes.ts";
import type { Platform } from "../platform.ts";
import { createAccount } from "./accounts.ts";
import { mintToken } from "./tokens.ts";

export interface OwnerBootstrap {
  email: string;
  password: string;
  token: string;
}

/** Creates the owner when there is no account yet; null when the platform already has one. */
export async function ensureOwner(
  platform: Platform,
  email = readVariable("BOSUN_ADMIN_EMAIL"),
): Promise<OwnerBootstrap | null> {
  const any = await platform.db.selectFrom("accounts").select("id").limit(1).executeTakeFirst();
  if (any) return null;
  const password = crypto.randomBytes(18).toString("base64url");
  let account;
  try {
    account = await createAccount(platform.db, {
      email,
      name: "Platform operator",
      password,
      isOperator: true,
      emailVerified: true,
    });
  } catch (err) {
    if (err instanceof BosunError && err.code === "conflict") return null; // another process won the race
    throw err;
  }
  const { token } = await mintToken(platform.db, operatorPrincipal(account.id, email), {
    name: "admin (first start)",
    scopes: ["*", ADMIN_SCOPE],
  });
  return { email, password, token };
}

/** The first operator account, for local commands that act as the owner (the CLI's `token create`). */
export async function ownerAccount(platform: Platform): Promise<{ id: string; email: string }> {
  return platform.db
    .selectFrom("accounts")
    .select(["id", "email"])
    .where("is_operator", "=", true)
    .orderBy("created_at")
    .executeTakeFirstOrThrow();
}

/** The operator acting locally (CLI bootstrap), with the operator's full power. */
export function operatorPrincipal(accountId: string, email: string): AccountPrincipal {
  return {
    account: { id: accountId, email, isOperator: true },
    billedAccount: accountId,
    credential: null,
    scopes: ["*", ADMIN_SCOPE],
    projects: null,
    pins: {},
    surface: "cli",
    clientIp: null,
  };
}
