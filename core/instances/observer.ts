// An instance's observer login: a second, unprivileged Unix user (no sudo, no write outside its home). When an
// instance has one, what the agent runs without a person's approval logs in as the observer (reach.ts
// reach(), agent-runner/loop.ts), so a mistake of the read-only classifier cannot write as the operator: the
// OS refuses it. Two ways to get one: setup_instance_observer creates the user through the operator login
// (root or passwordless sudo) and installs a key Bosun generates; set_instance_observer registers an existing
// user with its key (or a generated one the owner installs). The private key is sealed at rest, never returned.
import { z } from "zod";
import { BosunError, present, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { runRemote } from "./commands.ts";
import { Instance, instanceView, keyPair, PrivateKey } from "./instances.ts";
import { type InstanceRow, loadInstance, observerTargetOf, targetOf } from "./reach.ts";
import { InstanceRef } from "./ref.ts";
import { shq } from "./shell-quote.ts";
import { generateSshKeyPair } from "./ssh-keypair.ts";
import { requireExec } from "./ssh-keys.ts";

/** A plain Unix user name: no leading '-' (never an option), nothing a shell or passwd line treats specially. */
const ObserverName = z
  .string()
  .regex(
    /^[a-z_][a-z0-9_-]{0,31}$/,
    "a Unix user name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32",
  )
  .meta({ description: "The observer's Unix user name", example: "bosun-observer" });

/** Groups that make a user privileged (or root-equivalent): an observer in one is refused. */
const PRIVILEGED_GROUPS = ["root", "sudo", "wheel", "admin", "docker", "lxd", "libvirt", "disk", "shadow"];
/** Exit code the setup script uses for "refused"; its stderr says why. */
const REFUSED = 65;

/**
 * The one-time setup, run by the operator login as `sh -c SCRIPT setup USER PUBKEY`: user name and key are
 * positional parameters, never part of the script text. Privileged steps go through `sudo -n` (never prompts)
 * unless the operator is root. An existing user is reused only if it is unprivileged and its ~/.ssh is no
 * symlink (root must not append through a link the user planted).
 */
export const SETUP_SCRIPT = `set -eu
# A login user's PATH often lacks the sbin directories useradd lives in.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
u=$1
pub=$2
if [ "$(id -u)" = 0 ]; then priv() { "$@"; }; else priv() { sudo -n -- "$@"; }; fi
refuse() { echo "$1" >&2; exit ${REFUSED}; }
[ "$u" != "$(id -un)" ] || refuse "the observer must be another user than the operator login"
if id -u "$u" >/dev/null 2>&1; then existed=1; else
  existed=0
  command -v useradd >/dev/null 2>&1 || refuse "useradd is not installed on the server"
  # Read access to system logs (journal, /var/log) when those groups exist: the observer is for diagnosis.
  extra=
  for g in adm systemd-journal; do
    if getent group "$g" >/dev/null 2>&1; then if [ -z "$extra" ]; then extra=$g; else extra="$extra,$g"; fi; fi
  done
  if [ -n "$extra" ]; then priv useradd -m -s /bin/sh -p '*' -G "$extra" -- "$u"; else priv useradd -m -s /bin/sh -p '*' -- "$u"; fi
fi
uid=$(id -u "$u")
gid=$(id -g "$u")
[ "$uid" != 0 ] || refuse "user '$u' has uid 0"
[ "$uid" != "$(id -u)" ] || refuse "user '$u' is the operator login"
groups=" $(id -Gn "$u") "
for g in ${PRIVILEGED_GROUPS.join(" ")}; do
  case "$groups" in *" $g "*) refuse "user '$u' is in group '$g': an observer must be unprivileged";; esac
done
home=$(awk -F: -v u="$u" '$1 == u { print $6; exit }' /etc/passwd)
[ -n "$home" ] || home=$(getent passwd "$u" | cut -d: -f6)
case "$home" in /?*) ;; *) refuse "user '$u' has no home directory";; esac
[ ! -L "$home/.ssh" ] && [ ! -L "$home/.ssh/authorized_keys" ] || refuse "$home/.ssh is a symbolic link"
priv mkdir -p "$home/.ssh"
priv chown "$uid:$gid" "$home/.ssh"
priv chmod 700 "$home/.ssh"
printf '%s\\n' "$pub" | priv tee -a "$home/.ssh/authorized_keys" >/dev/null
priv chown "$uid:$gid" "$home/.ssh/authorized_keys"
priv chmod 600 "$home/.ssh/authorized_keys"
echo "ok $existed"
`;

/** The command the operator login runs: the fixed script, its inputs quoted as separate arguments. */
export const setupCommand = (username: string, publicKeyLine: string) =>
  `sh -c ${shq(SETUP_SCRIPT)} bosun-observer-setup ${shq(username)} ${shq(publicKeyLine)}`;

/** Run as the observer to check it: who it is, and that `sudo -n` gets it nowhere. */
const CHECK_COMMAND =
  "id -u; id -Gn; if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo SUDO; fi";

function checkUsername(row: InstanceRow, username: string) {
  if (username === row.username)
    throw validationError([{ path: "username", message: "must be another user than the instance's operator login" }]);
  if (username === "root") throw validationError([{ path: "username", message: "root cannot be an observer" }]);
}

async function storeObserver(
  ctx: ProjectContext,
  row: InstanceRow,
  observer: { username: string; privateKey: string; publicKey: string; source: "generated" | "supplied" | "setup" },
) {
  const now = new Date();
  const updated = await ctx.db
    .updateTable("instances")
    .set({
      observer_username: observer.username,
      observer_private_key_enc: ctx.platform.secrets.encrypt(observer.privateKey),
      observer_public_key: observer.publicKey,
      observer_key_source: observer.source,
      observer_set_at: now,
      updated_at: now,
    })
    .where("id", "=", row.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  ctx.platform.instances.pool.evict(row.id);
  return updated;
}

export const setupInstanceObserver = defineOperation({
  id: "setup_instance_observer",
  summary: "Create an unprivileged observer login on an instance",
  description:
    "As the operator login (root or passwordless sudo): creates the user (default `bosun-observer`; an unprivileged existing one is reused), installs a generated key, checks it has no sudo, and records it. The agent's unapproved commands then run as the observer, so the OS refuses writes outside its home. The agent needs approval for it.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "write",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/observer/setup" },
  input: z.object({ ...InstanceRef, username: ObserverName.default("bosun-observer") }),
  output: Instance,
  handler: async (ctx, input) => {
    requireExec(ctx);
    const row = await loadInstance(ctx, input.instance);
    checkUsername(row, input.username);
    const pair = generateSshKeyPair("bosun-observer");
    const publicKey = pair.public;
    const pool = ctx.platform.instances.pool;
    const res = await runRemote(pool, targetOf(ctx.platform, row), {
      command: setupCommand(input.username, publicKey),
      timeoutMs: 60_000,
      signal: ctx.signal,
    });
    if (res.exit_code !== 0 || !res.stdout.includes("ok ")) {
      const why = res.stderr.trim().slice(-500) || `exit ${res.exit_code}`;
      throw new BosunError("unprocessable", `setting up the observer login failed: ${why}`, {
        username: input.username,
      });
    }
    // Log in as the new observer before recording it: a login that does not work, or that has sudo, is refused.
    const candidate = present(
      observerTargetOf(ctx.platform, {
        ...row,
        observer_username: input.username,
        observer_private_key_enc: ctx.platform.secrets.encrypt(pair.private),
        updated_at: new Date(),
      }),
      "the observer login just recorded",
    );
    try {
      const check = await runRemote(pool, candidate, { command: CHECK_COMMAND, timeoutMs: 30_000, signal: ctx.signal });
      const [uid] = check.stdout.trim().split("\n");
      if (check.exit_code !== 0 || !/^\d+$/.test(uid ?? ""))
        throw new BosunError(
          "unprocessable",
          `the observer login did not answer as expected: ${check.stderr.trim().slice(0, 300)}`,
        );
      if (uid === "0" || check.stdout.includes("SUDO"))
        throw new BosunError(
          "unprocessable",
          `user '${input.username}' is privileged (uid 0 or passwordless sudo): refused as an observer`,
        );
    } finally {
      pool.evict(row.id);
    }
    const updated = await storeObserver(ctx, row, {
      username: input.username,
      privateKey: pair.private,
      publicKey,
      source: "setup",
    });
    return instanceView(ctx, updated);
  },
});

export const setInstanceObserver = defineOperation({
  id: "set_instance_observer",
  summary: "Register an existing unprivileged user as an instance's observer login",
  description:
    "For a user you created (no sudo, no writes outside its home). Give its `private_key`, or omit it to get a generated ed25519 pair: install the returned `observer.public_key` in its authorized_keys. Until that key works, the agent's unapproved commands fail (never falling back to the operator login). The key is stored encrypted.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  http: { method: "put", path: "/projects/{project}/instances/{instance}/observer" },
  input: z.object({ ...InstanceRef, username: ObserverName, private_key: PrivateKey.optional() }),
  output: Instance,
  handler: async (ctx, input) => {
    requireExec(ctx);
    const row = await loadInstance(ctx, input.instance);
    checkUsername(row, input.username);
    const keys = keyPair(input.private_key);
    const updated = await storeObserver(ctx, row, {
      username: input.username,
      privateKey: keys.private,
      publicKey: keys.public,
      source: keys.source,
    });
    return instanceView(ctx, updated);
  },
});

export const removeInstanceObserver = defineOperation({
  id: "remove_instance_observer",
  summary: "Forget an instance's observer login",
  description:
    "Bosun forgets the observer's key; the user and its authorized_keys stay on the server. Afterwards the agent's unapproved commands " +
    "run as the operator login again.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  http: { method: "delete", path: "/projects/{project}/instances/{instance}/observer" },
  input: z.object(InstanceRef),
  output: Instance,
  handler: async (ctx, input) => {
    requireExec(ctx);
    const row = await loadInstance(ctx, input.instance);
    const updated = await ctx.db
      .updateTable("instances")
      .set({
        observer_username: null,
        observer_private_key_enc: null,
        observer_public_key: null,
        observer_key_source: null,
        observer_set_at: null,
        updated_at: new Date(),
      })
      .where("id", "=", row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    ctx.platform.instances.pool.evict(row.id);
    return instanceView(ctx, updated);
  },
});
