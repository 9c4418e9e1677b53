// The scope catalog: every permission Bosun knows, in one place. Grammar: `resource:action`,
// `resource:*`, `*`. `*` never includes `platform:admin`, which only the platform operator holds.

export interface ScopeInfo {
  scope: string;
  group: string;
  description: string;
}

export const scopeCatalog: ScopeInfo[] = [
  { scope: "account:read", group: "account", description: "See your own account" },
  { scope: "account:write", group: "account", description: "Change your own account, including two-factor settings" },
  { scope: "tokens:read", group: "account", description: "List your API tokens" },
  { scope: "tokens:write", group: "account", description: "Create and revoke API tokens" },
  { scope: "audit:read", group: "account", description: "Read audit events of your account and your projects" },
  { scope: "projects:read", group: "projects", description: "List and read projects" },
  { scope: "projects:write", group: "projects", description: "Create and update projects" },
  { scope: "projects:delete", group: "projects", description: "Delete projects" },
  { scope: "members:read", group: "projects", description: "List project members" },
  { scope: "members:write", group: "projects", description: "Add, change and remove project members" },
  { scope: "files:read", group: "sites", description: "Read a site's draft files" },
  { scope: "files:write", group: "sites", description: "Write, edit, rename and delete a site's draft files" },
  { scope: "pages:read", group: "sites", description: "Read a site's pages" },
  { scope: "pages:write", group: "sites", description: "Create, update and delete pages" },
  { scope: "assets:read", group: "sites", description: "List a site's assets" },
  { scope: "assets:write", group: "sites", description: "Upload assets" },
  { scope: "settings:read", group: "sites", description: "Read site settings" },
  { scope: "settings:write", group: "sites", description: "Change site settings" },
  { scope: "publish:trigger", group: "sites", description: "Publish, discard and roll back a site" },
  { scope: "submissions:read", group: "sites", description: "Read form submissions" },
  { scope: "submissions:write", group: "sites", description: "Change the status of form submissions" },
  { scope: "tools:invoke", group: "sites", description: "Submit a site's forms on a visitor's behalf" },
  { scope: "domains:read", group: "sites", description: "List a site's custom domains and their certificates" },
  {
    scope: "domains:write",
    group: "sites",
    description: "Add, verify and remove a site's custom domains (a verified domain serves the live site at once)",
  },
  {
    scope: "workers:read",
    group: "workers",
    description: "List and read workers, their KV stores, buckets, cron triggers and runs",
  },
  {
    scope: "workers:write",
    group: "workers",
    description: "Deploy and change workers; write and delete KV values, bucket objects and cron triggers",
  },
  { scope: "instances:read", group: "instances", description: "List and read instances" },
  { scope: "instances:write", group: "instances", description: "Register, change and delete instances and SSH keys" },
  {
    scope: "instances:files",
    group: "instances",
    description: "Read files, directories, logs and metrics on an instance",
  },
  {
    scope: "instances:exec",
    group: "instances",
    description: "Run commands and write files on an instance (as powerful as a shell)",
  },
  { scope: "billing:read", group: "billing", description: "See balances, transactions and usage" },
  { scope: "billing:write", group: "billing", description: "Change spend limits" },
  { scope: "agent:read", group: "agent", description: "Read agent conversations and pending approvals" },
  {
    scope: "agent:write",
    group: "agent",
    description: "Talk to agents, approve or deny their actions, link Telegram chats",
  },
  {
    scope: "webhooks:read",
    group: "events",
    description: "List webhook endpoints, the event catalog and delivery logs",
  },
  {
    scope: "webhooks:write",
    group: "events",
    description: "Create, change, test, rotate and delete webhook endpoints; redeliver",
  },
  { scope: "notifications:read", group: "events", description: "Read your notifications and their preferences" },
  { scope: "notifications:write", group: "events", description: "Mark notifications read, choose how you are told" },
  {
    scope: "workers:read",
    group: "workers",
    description: "List workers, their versions, logs, metrics and SQL databases",
  },
  {
    scope: "workers:write",
    group: "workers",
    description: "Deploy, roll back and delete workers; set their vars and secrets; create and query SQL databases",
  },
  { scope: "platform:admin", group: "platform", description: "Platform-wide administration (operator only)" },
];

export const ADMIN_SCOPE = "platform:admin";
const known = new Set(scopeCatalog.map((s) => s.scope));
const resources = new Set(scopeCatalog.map((s) => s.scope.split(":")[0] ?? ""));

/** Whether `pattern` (a scope, `resource:*` or `*`) is a valid scope expression. */
export function isKnownScope(pattern: string): boolean {
  if (pattern === "*") return true;
  const [resource, action] = pattern.split(":");
  if (action === "*") return resources.has(resource ?? "") && resource !== "platform";
  return known.has(pattern);
}

/** Whether a single granted pattern covers the required scope (or pattern). */
function covers(granted: string, required: string): boolean {
  if (granted === required) return true;
  const [gRes, gAct] = granted.split(":");
  if (required === ADMIN_SCOPE) return false; // only an explicit platform:admin grants it
  if (granted === "*") return true;
  if (required === "*") return false;
  const [rRes] = required.split(":");
  return gAct === "*" && gRes === rRes;
}

export function hasScope(granted: readonly string[], required: string): boolean {
  return granted.some((g) => covers(g, required));
}

/** The concrete scopes a set of patterns grants, for display and for intersecting with role caps. */
export function expandScopes(granted: readonly string[]): string[] {
  return scopeCatalog.map((s) => s.scope).filter((s) => hasScope(granted, s));
}

const readScopes = scopeCatalog.filter((s) => s.scope.endsWith(":read")).map((s) => s.scope);
const contentWrites = [
  "files:write",
  "pages:write",
  "assets:write",
  "settings:write",
  "publish:trigger",
  "submissions:write",
  "tools:invoke",
  "instances:files",
  "instances:exec",
  "agent:write",
  "workers:write",
];

/** Presets a token can be minted from. */
export const tokenPresets: Record<string, string[]> = {
  viewer: readScopes,
  editor: [...readScopes, "projects:write", ...contentWrites],
  agent: [
    "account:read",
    "projects:read",
    "files:read",
    "files:write",
    "pages:read",
    "pages:write",
    "assets:read",
    "assets:write",
    "settings:read",
    "publish:trigger",
    "instances:read",
    "instances:files",
    "instances:exec",
    "agent:read",
    "agent:write",
    "billing:read",
  ],
  full: ["*"],
};

export type ProjectRole = "owner" | "maintainer" | "developer" | "viewer";
export const projectRoles: ProjectRole[] = ["owner", "maintainer", "developer", "viewer"];

/** What a member's tokens may do inside a project, by role (account-level scopes are not capped). */
export const roleCaps: Record<ProjectRole, string[]> = {
  owner: ["*"],
  maintainer: expandScopes(["*"]).filter((s) => s !== "projects:delete"),
  developer: [...readScopes, ...contentWrites],
  viewer: readScopes,
};
