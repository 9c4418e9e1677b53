// Every identity operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { getMe, listAccounts, login, register } from "./accounts.ts";
import { oauthOperations } from "./oauth.ts";
import { onboardingOperations } from "./onboarding.ts";
import { sessionOperations } from "./sessions.ts";
import { createApiToken, listApiTokens, listScopes, revokeApiToken } from "./tokens.ts";
import { confirmTotp, disableTotp, setupTotp } from "./totp.ts";

export const identityOperations: Operation[] = [
  register,
  login,
  getMe,
  listAccounts,
  createApiToken,
  listApiTokens,
  revokeApiToken,
  listScopes,
  setupTotp,
  confirmTotp,
  disableTotp,
  ...sessionOperations,
  ...onboardingOperations,
  ...oauthOperations,
];
