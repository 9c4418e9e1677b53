// Power and lifecycle, behind an InstanceProvider: who runs the machine decides what can be done to it.
// The only provider now is `ssh` — a server the customer brings — which can restart and shut down over SSH
// with `sudo -n` (never prompting), and nothing else: it cannot create, start, reinstall or delete a machine.
import { z } from "zod";
import { BosunError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { runRemote } from "./commands.ts";
import type { SshPool, SshTarget } from "./pool.ts";
import { type InstanceRow, reach } from "./reach.ts";
import { InstanceRef } from "./ref.ts";

export type PowerAction = "start" | "restart" | "shutdown";

export interface ProviderContext {
  row: InstanceRow;
  target: SshTarget;
  pool: SshPool;
  signal: AbortSignal;
}

export interface InstanceProvider {
  id: string;
  create(ctx: ProviderContext): Promise<void>;
  delete(ctx: ProviderContext): Promise<void>;
  power(ctx: ProviderContext, action: PowerAction): Promise<void>;
  reinstall(ctx: ProviderContext): Promise<void>;
}

const notSupported = (provider: string, action: string) =>
  new BosunError(
    "not_supported",
    `the '${provider}' provider cannot ${action} an instance (a server you bring is managed by you, Bosun only reaches it over SSH)`,
    {
      provider,
      action,
    },
  );

const SHUTDOWN_ARGS: Record<Exclude<PowerAction, "start">, string> = { restart: "-r now", shutdown: "-h now" };

export const sshProvider: InstanceProvider = {
  id: "ssh",
  create: async () => {
    throw notSupported("ssh", "create");
  },
  delete: async () => {
    throw notSupported("ssh", "delete");
  },
  reinstall: async () => {
    throw notSupported("ssh", "reinstall");
  },
  power: async (ctx, action) => {
    if (action === "start") throw notSupported("ssh", "start");
    let res;
    try {
      // `sudo -n`: fail at once rather than wait for a password nobody will type.
      res = await runRemote(ctx.pool, ctx.target, {
        command: `sudo -n shutdown ${SHUTDOWN_ARGS[action]}`,
        timeoutMs: 30_000,
        signal: ctx.signal,
      });
    } catch (err) {
      // The server going down under us is what was asked for.
      if (err instanceof BosunError && err.code === "unreachable" && /lost/.test(err.message)) return;
      throw err;
    }
    if (res.exit_code !== 0 && res.signal === null) {
      throw new BosunError(
        "unprocessable",
        `the server refused to ${action} (sudo -n shutdown exited ${res.exit_code}): ${res.stderr.trim().slice(0, 300)}. ` +
          `The user '${ctx.target.username}' needs passwordless sudo for shutdown.`,
        { stderr: res.stderr.slice(0, 1000) },
      );
    }
  },
};

const providers = new Map<string, InstanceProvider>([[sshProvider.id, sshProvider]]);

export function providerFor(row: InstanceRow): InstanceProvider {
  const p = providers.get(row.provider);
  if (!p)
    throw new BosunError("not_supported", `instance provider '${row.provider}' is not available on this Bosun`, {
      provider: row.provider,
    });
  return p;
}

async function withProvider(
  ctx: ProjectContext,
  name: string,
  fn: (p: InstanceProvider, pc: ProviderContext) => Promise<void>,
) {
  const { row, target, pool } = await reach(ctx, name);
  await fn(providerFor(row), { row, target, pool, signal: ctx.signal });
  return { instance: row.name, provider: row.provider };
}

const Accepted = z.object({
  instance: z.string(),
  provider: z.string(),
  action: z.string(),
  accepted: z.literal(true),
});

export const restartInstance = defineOperation({
  id: "restart_instance",
  summary: "Restart (reboot) an instance",
  description: "For `ssh` instances: `sudo -n shutdown -r now`, so the user needs passwordless sudo for shutdown.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "destructive",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/restart" },
  input: z.object(InstanceRef),
  output: Accepted,
  handler: async (ctx, input) => ({
    ...(await withProvider(ctx, input.instance, (p, pc) => p.power(pc, "restart"))),
    action: "restart",
    accepted: true as const,
  }),
});

export const shutdownInstance = defineOperation({
  id: "shutdown_instance",
  summary: "Shut an instance down",
  description:
    "For `ssh` instances: `sudo -n shutdown -h now`. Bosun cannot start a server you bring again: someone must power it on.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "destructive",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/shutdown" },
  input: z.object(InstanceRef),
  output: Accepted,
  handler: async (ctx, input) => ({
    ...(await withProvider(ctx, input.instance, (p, pc) => p.power(pc, "shutdown"))),
    action: "shutdown",
    accepted: true as const,
  }),
});

export const startInstance = defineOperation({
  id: "start_instance",
  summary: "Start (power on) an instance",
  description: "Needs a provider that controls the machine; `ssh` instances answer not_supported.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "write",
  openWorld: true,
  errors: ["not_supported"],
  http: { method: "post", path: "/projects/{project}/instances/{instance}/start" },
  input: z.object(InstanceRef),
  output: Accepted,
  handler: async (ctx, input) => ({
    ...(await withProvider(ctx, input.instance, (p, pc) => p.power(pc, "start"))),
    action: "start",
    accepted: true as const,
  }),
});

export const reinstallInstance = defineOperation({
  id: "reinstall_instance",
  summary: "Reinstall an instance's operating system",
  description: "Needs a provider that controls the machine; `ssh` instances answer not_supported.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "destructive",
  openWorld: true,
  errors: ["not_supported"],
  http: { method: "post", path: "/projects/{project}/instances/{instance}/reinstall" },
  input: z.object(InstanceRef),
  output: Accepted,
  handler: async (ctx, input) => ({
    ...(await withProvider(ctx, input.instance, (p, pc) => p.reinstall(pc))),
    action: "reinstall",
    accepted: true as const,
  }),
});
