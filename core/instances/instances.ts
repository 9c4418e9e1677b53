// Instances: customers' servers reached over SSH, registered in a project of kind 'instance'. Bosun holds the
// private key (sealed at rest, never returned) and pins the server's host key on the first connection.
import crypto from "node:crypto";
import net from "node:net";
import { sql, type Updateable } from "kysely";
import ssh2 from "ssh2";
import { z } from "zod";
import type { InstancesTable } from "../../schema/database.ts";
import { ruleProblem } from "../agent/policy.ts";
import { resolveEgress } from "../egress.ts";
import { iso, isoOrNull, ProjectRef, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, isUniqueViolation, present, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { Cursor, Limit, pageOf } from "../kernel/pagination.ts";
import { type InstanceRow, loadInstance, reach, requireInstanceProject } from "./reach.ts";
import { InstanceName, InstanceRef } from "./ref.ts";
import { generateSshKeyPair } from "./ssh-keypair.ts";

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const Host = z
  .string()
  .min(1)
  .max(253)
  .refine((h) => HOSTNAME.test(h) || net.isIP(h) !== 0, "a hostname or an IP address")
  .meta({ description: "Hostname or IP address of the server", example: "203.0.113.10" });
const Port = z.number().int().min(1).max(65535).meta({ description: "SSH port", example: 22 });
const Username = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z_][a-z0-9_.-]*\$?$/i, "a Unix user name")
  .meta({ description: "User Bosun logs in as", example: "deploy" });
export const PrivateKey = z
  .string()
  .min(1)
  .max(16_384)
  .meta({ description: "An unencrypted private key (OpenSSH or PEM). Stored encrypted; never returned." });

/** A rule is refused when it could admit a shell (`sh -c *`, `python3 *`, `* x`): see core/agent/policy.ts. */
const commandPattern = (kind: "allow" | "deny") =>
  z
    .string()
    .trim()
    .min(1)
    .max(300)
    .superRefine((rule, ctx) => {
      const problem = ruleProblem(rule, kind);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });
/** What the instance operator agent may run without asking, and what it may never run (core/agent/policy.ts). */
const AgentCommandRules = z
  .object({
    allow: z
      .array(commandPattern("allow"))
      .max(100)
      .default([])
      .meta({
        description:
          "Commands that run without approval in ask mode, each one simple command: `*` alone is one word not starting " +
          "with `-`, inside a word any characters but `/`. Shells, interpreters, wrappers (sudo, env, xargs…) and `*` as the program are refused.",
      }),
    deny: z
      .array(commandPattern("deny"))
      .max(100)
      .default([])
      .meta({
        description:
          "Commands refused in every mode, matched against every command of a line (and after sudo): program base name, " +
          "short options as a set (`rm -rf` matches `rm -r -f`), other words in order; `*` is any words or characters.",
      }),
  })
  .meta({ id: "AgentCommandRules" });

export const Instance = z
  .object({
    project: z.string(),
    name: z.string(),
    provider: z.string().meta({ description: "Who runs the server; `ssh`: your own server, reached over SSH" }),
    host: z.string(),
    port: z.number().int(),
    username: z.string(),
    public_key: z.string().meta({
      description: "The public half of the key Bosun logs in with: put it in the user's ~/.ssh/authorized_keys",
    }),
    key_source: z.enum(["generated", "supplied"]),
    host_key_fingerprint: z
      .string()
      .nullable()
      .meta({ description: "Pinned SHA256 fingerprint of the server's host key; null until the first connection" }),
    host_key_pinned_at: Timestamp.nullable(),
    connection: z.object({
      state: z
        .enum(["connected", "connecting", "disconnected"])
        .meta({ description: "Whether this Bosun process holds an open connection" }),
      last_connected_at: Timestamp.nullable(),
      last_error: z.string().nullable(),
    }),
    agent_command_rules: AgentCommandRules,
    observer: z
      .object({
        username: z.string(),
        public_key: z
          .string()
          .meta({ description: "The public half of the observer's key (its private key is never returned)" }),
        key_source: z
          .enum(["generated", "supplied", "setup"])
          .meta({ description: "setup: created by setup_instance_observer" }),
        set_at: Timestamp.nullable(),
      })
      .nullable()
      .meta({
        description:
          "The unprivileged login the agent's unapproved commands run as; null: none (they run as `username`)",
      }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: "Instance" });

export function instanceView(ctx: ProjectContext, row: InstanceRow): z.input<typeof Instance> {
  return {
    project: ctx.project.slug,
    name: row.name,
    provider: row.provider,
    host: row.host,
    port: row.port,
    username: row.username,
    public_key: row.public_key,
    key_source: row.key_source,
    host_key_fingerprint: row.host_key_fingerprint,
    host_key_pinned_at: isoOrNull(row.host_key_pinned_at),
    connection: {
      state: ctx.platform.instances.pool.state(row.id),
      last_connected_at: isoOrNull(row.last_connected_at),
      last_error: row.last_error,
    },
    agent_command_rules: row.agent_command_rules,
    observer:
      row.observer_username && row.observer_public_key && row.observer_key_source
        ? {
            username: row.observer_username,
            public_key: row.observer_public_key,
            key_source: row.observer_key_source,
            set_at: isoOrNull(row.observer_set_at),
          }
        : null,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/** A key pair for an instance: the one supplied (checked, public half derived) or a fresh ed25519 pair. */
export function keyPair(privateKey: string | undefined): {
  private: string;
  public: string;
  source: "generated" | "supplied";
} {
  if (privateKey === undefined) {
    return { ...generateSshKeyPair("bosun"), source: "generated" };
  }
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) {
    const why =
      key instanceof Error && /encrypted|passphrase/i.test(key.message)
        ? "is passphrase-protected; supply it decrypted"
        : "is not a private key Bosun can read (OpenSSH or PEM)";
    throw validationError([{ path: "private_key", message: why }]);
  }
  if (!key.isPrivateKey())
    throw validationError([
      {
        path: "private_key",
        message: "is a public key; supply the private key, or omit it to have Bosun generate a pair",
      },
    ]);
  return {
    private: privateKey,
    public: `${key.type} ${key.getPublicSSH().toString("base64")} bosun`,
    source: "supplied",
  };
}

/** Registration refuses hosts the egress policy would never connect to, so instances cannot map a private network. */
async function checkHost(ctx: ProjectContext, host: string) {
  try {
    await resolveEgress(host, { allowPrivate: ctx.platform.config.egressAllowPrivate });
  } catch (err) {
    if (err instanceof BosunError && err.code === "unreachable")
      throw validationError([{ path: "host", message: "does not resolve" }]);
    if (err instanceof BosunError && err.code === "egress_denied")
      throw new BosunError("egress_denied", err.message, { ...err.details, field: "host" });
    throw err;
  }
}

const nameTaken = (name: string) =>
  conflict(`an instance named '${name}' already exists in this project`, { field: "name" });

export const registerInstance = defineOperation({
  id: "register_instance",
  summary: "Register a server as an instance",
  description:
    "Bosun reaches the server over SSH as `username`. Supply `private_key`, or omit it and Bosun generates an ed25519 key pair: " +
    "install the returned `public_key` in that user's ~/.ssh/authorized_keys. The server's host key is pinned on the first connection.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances", status: 201 },
  input: z.object({
    project: ProjectRef,
    name: InstanceName.meta({ description: "A name for the instance, unique in the project" }),
    host: Host,
    port: Port.default(22),
    username: Username,
    private_key: PrivateKey.optional(),
  }),
  output: Instance,
  handler: async (ctx, input) => {
    requireInstanceProject(ctx);
    const keys = keyPair(input.private_key);
    await checkHost(ctx, input.host);
    const now = new Date();
    try {
      const row = await ctx.db
        .insertInto("instances")
        .values({
          id: crypto.randomUUID(),
          project_id: ctx.project.id,
          name: input.name,
          host: input.host,
          port: input.port,
          username: input.username,
          private_key_enc: ctx.platform.secrets.encrypt(keys.private),
          public_key: keys.public,
          key_source: keys.source,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return instanceView(ctx, row);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(input.name);
      throw err;
    }
  },
});

export const listInstances = defineOperation({
  id: "list_instances",
  summary: "List a project's instances",
  tags: ["instances"],
  scope: "instances:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/instances" },
  input: z.object({ project: ProjectRef, limit: Limit, cursor: Cursor }),
  output: z.object({ instances: z.array(Instance), next_cursor: z.string().nullable() }),
  handler: async (ctx, input) => {
    requireInstanceProject(ctx);
    let q = ctx.db
      .selectFrom("instances")
      .selectAll()
      .where("project_id", "=", ctx.project.id)
      .orderBy("name")
      .limit(input.limit + 1);
    if (input.cursor) q = q.where("name", ">", input.cursor);
    const pin = ctx.principal.pins.instance;
    if (pin) q = q.where((eb) => eb.or([eb("name", "=", pin), eb(sql<string>`id::text`, "=", pin)]));
    const { page, next_cursor } = pageOf(await q.execute(), input.limit, (last) => last.name);
    return { instances: page.map((r) => instanceView(ctx, r)), next_cursor };
  },
});

export const getInstance = defineOperation({
  id: "get_instance",
  summary: "Get an instance, with its connection state",
  tags: ["instances"],
  scope: "instances:read",
  effect: "read",
  http: { method: "get", path: "/projects/{project}/instances/{instance}" },
  input: z.object(InstanceRef),
  output: Instance,
  handler: async (ctx, input) => instanceView(ctx, await loadInstance(ctx, input.instance)),
});

export const updateInstance = defineOperation({
  id: "update_instance",
  summary: "Change an instance's name, address, user or key",
  description:
    "Changing `host` or `port` points the instance at another server: its pinned host key is cleared and pinned again on the next connection. " +
    "`regenerate_key: true` replaces the key pair with a fresh one (install the new `public_key`).",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  openWorld: true,
  http: { method: "patch", path: "/projects/{project}/instances/{instance}" },
  input: z.object({
    ...InstanceRef,
    name: InstanceName.optional().meta({ description: "A new name" }),
    host: Host.optional(),
    port: Port.optional(),
    username: Username.optional(),
    private_key: PrivateKey.optional(),
    regenerate_key: z.boolean().optional(),
    agent_command_rules: AgentCommandRules.optional(),
  }),
  output: Instance,
  handler: async (ctx, input) => {
    const row = await loadInstance(ctx, input.instance);
    if (input.private_key !== undefined && input.regenerate_key) {
      throw validationError([
        { path: "regenerate_key", message: "give either private_key or regenerate_key, not both" },
      ]);
    }
    const set: Updateable<InstancesTable> = {};
    if (input.name !== undefined) set.name = input.name;
    if (input.username !== undefined && input.username === row.observer_username) {
      throw validationError([
        { path: "username", message: "is the instance's observer login; the operator must be another user" },
      ]);
    }
    if (input.username !== undefined) set.username = input.username;
    if (input.private_key !== undefined || input.regenerate_key) {
      const keys = keyPair(input.private_key);
      Object.assign(set, {
        private_key_enc: ctx.platform.secrets.encrypt(keys.private),
        public_key: keys.public,
        key_source: keys.source,
      });
    }
    const moved =
      (input.host !== undefined && input.host !== row.host) || (input.port !== undefined && input.port !== row.port);
    if (input.host !== undefined) {
      await checkHost(ctx, input.host);
      set.host = input.host;
    }
    if (input.port !== undefined) set.port = input.port;
    if (input.agent_command_rules !== undefined) set.agent_command_rules = JSON.stringify(input.agent_command_rules);
    if (moved) Object.assign(set, { host_key_fingerprint: null, host_key_pinned_at: null });
    try {
      const updated = await ctx.db
        .updateTable("instances")
        .set({ ...set, updated_at: new Date() })
        .where("id", "=", row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      ctx.platform.instances.pool.evict(row.id);
      return instanceView(ctx, updated);
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(input.name ?? row.name); // only a new name can collide
      throw err;
    }
  },
});

export const deleteInstance = defineOperation({
  id: "delete_instance",
  summary: "Delete an instance",
  description: "Bosun forgets the server and its key. Nothing on the server is changed.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "destructive",
  http: { method: "delete", path: "/projects/{project}/instances/{instance}" },
  input: z.object(InstanceRef),
  output: z.object({ deleted: z.literal(true), instance: z.string() }),
  handler: async (ctx, input) => {
    const row = await loadInstance(ctx, input.instance);
    await ctx.db.deleteFrom("instances").where("id", "=", row.id).execute();
    ctx.platform.instances.pool.evict(row.id);
    return { deleted: true as const, instance: row.name };
  },
});

export const testInstanceConnection = defineOperation({
  id: "test_instance_connection",
  summary: "Connect to an instance and report how it went",
  description:
    "Opens (or reuses) the SSH connection and runs a no-op. The first successful connection pins the host key. " +
    "Fails with unreachable, auth_failed, host_key_mismatch, timeout or egress_denied.",
  tags: ["instances"],
  scope: "instances:read",
  effect: "read",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/test" },
  input: z.object(InstanceRef),
  output: z.object({
    ok: z.literal(true),
    host_key_fingerprint: z.string(),
    newly_pinned: z.boolean().meta({ description: "This connection pinned the host key" }),
    latency_ms: z.number().meta({ description: "Round trip of a no-op command over the connection" }),
  }),
  handler: async (ctx, input) => {
    const { row, target, pool } = await reach(ctx, input.instance);
    await pool.connection(target);
    const started = performance.now();
    const handle = await pool.exec(target, "true", { onStdout: () => {}, onStderr: () => {}, signal: ctx.signal });
    await handle.done;
    const latency = performance.now() - started;
    const fresh = await ctx.db
      .selectFrom("instances")
      .select("host_key_fingerprint")
      .where("id", "=", row.id)
      .executeTakeFirstOrThrow();
    return {
      ok: true as const,
      host_key_fingerprint: present(fresh.host_key_fingerprint, "the host key pinned on connecting"),
      newly_pinned: !row.host_key_fingerprint,
      latency_ms: Math.round(latency * 100) / 100,
    };
  },
});

export const resetInstanceHostKey = defineOperation({
  id: "reset_instance_host_key",
  summary: "Forget an instance's pinned host key",
  description:
    "After a server was reinstalled on purpose: the next connection pins whatever host key the server presents.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  http: { method: "post", path: "/projects/{project}/instances/{instance}/reset-host-key" },
  input: z.object(InstanceRef),
  output: Instance,
  handler: async (ctx, input) => {
    const row = await loadInstance(ctx, input.instance);
    const updated = await ctx.db
      .updateTable("instances")
      .set({ host_key_fingerprint: null, host_key_pinned_at: null, updated_at: new Date() })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    ctx.platform.instances.pool.evict(row.id);
    return instanceView(ctx, updated);
  },
});
