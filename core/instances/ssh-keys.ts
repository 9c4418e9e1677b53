// SSH public keys kept per account (a person's or a deploy system's), and installing one into the instance
// user's ~/.ssh/authorized_keys. Installing a key grants a shell, so it needs instances:exec as well.
import crypto from "node:crypto";
import ssh2 from "ssh2";
import { z } from "zod";
import { iso, Timestamp } from "../kernel/common.ts";
import { BosunError, conflict, insufficientScope, notFound, present, validationError } from "../kernel/errors.ts";
import { defineOperation, type ProjectContext } from "../kernel/operation.ts";
import { hasScope, roleCaps } from "../kernel/scopes.ts";
import { runRemote } from "./commands.ts";
import { reach } from "./reach.ts";
import { InstanceRef } from "./ref.ts";
import { shq } from "./shell-quote.ts";

const KEY_TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

export interface PublicKey {
  type: string;
  blob: string;
  comment: string;
  /** `type blob comment`, one line, as authorized_keys holds it. */
  line: string;
  fingerprint: string;
}

/** An OpenSSH public key line (`type base64 [comment]`), checked: known type, blob that decodes to that type. */
export function parsePublicKey(text: string, field = "public_key"): PublicKey {
  const bad = (message: string) => validationError([{ path: field, message }]);
  const trimmed = text.trim();
  if (/[\r\n]/.test(trimmed)) throw bad("must be a single line");
  const [type, blob, ...rest] = trimmed.split(/\s+/);
  if (!type || !blob) throw bad("must be an OpenSSH public key: 'type base64 [comment]'");
  if (!KEY_TYPES.has(type))
    throw bad(`key type '${type.slice(0, 40)}' is not supported (${[...KEY_TYPES].join(", ")})`);
  if (!/^[A-Za-z0-9+/]+={0,3}$/.test(blob)) throw bad("the key data is not base64");
  const raw = Buffer.from(blob, "base64");
  // The blob starts with its own type name: a mismatch means a corrupted or forged line.
  const nameLen = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
  if (nameLen < 0 || raw.subarray(4, 4 + nameLen).toString() !== type)
    throw bad("the key data does not match its type");
  if (!type.startsWith("sk-")) {
    const parsed = ssh2.utils.parseKey(`${type} ${blob}`);
    if (parsed instanceof Error || (Array.isArray(parsed) ? parsed[0] : parsed)?.isPrivateKey() !== false)
      throw bad("is not a valid public key");
  }
  const comment = rest.join(" ");
  return {
    type,
    blob,
    comment,
    line: [type, blob, comment].filter(Boolean).join(" "),
    fingerprint: `SHA256:${crypto.createHash("sha256").update(raw).digest("base64").replace(/=+$/, "")}`,
  };
}

const SshKey = z
  .object({
    id: z.string(),
    name: z.string(),
    public_key: z.string(),
    fingerprint: z.string().meta({ description: "SHA256 fingerprint, as ssh-keygen -l shows it" }),
    created_at: Timestamp,
  })
  .meta({ id: "SshKey" });

type KeyRow = { id: string; name: string; public_key: string; fingerprint: string; created_at: Date };
const keyView = (r: KeyRow) => ({
  id: r.id,
  name: r.name,
  public_key: r.public_key,
  fingerprint: r.fingerprint,
  created_at: iso(r.created_at),
});

export const addSshKey = defineOperation({
  id: "add_ssh_key",
  summary: "Add an SSH public key to your account",
  description: "Keys you keep here can be installed on instances with install_ssh_key.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  level: "account",
  http: { method: "post", path: "/ssh-keys", status: 201 },
  input: z.object({
    name: z.string().min(1).max(100),
    public_key: z
      .string()
      .min(1)
      .max(16_384)
      .meta({ description: "OpenSSH public key line", example: "ssh-ed25519 AAAAC3Nza… me@laptop" }),
  }),
  output: SshKey,
  handler: async (ctx, input) => {
    const key = parsePublicKey(input.public_key);
    const row = await ctx.db
      .insertInto("ssh_keys")
      .values({
        id: crypto.randomUUID(),
        account_id: ctx.principal.account.id,
        name: input.name,
        public_key: key.line,
        fingerprint: key.fingerprint,
      })
      .onConflict((oc) => oc.columns(["account_id", "fingerprint"]).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw conflict(`you already have this key (${key.fingerprint})`, { field: "public_key" });
    return keyView(row);
  },
});

export const listSshKeys = defineOperation({
  id: "list_ssh_keys",
  summary: "List your SSH public keys",
  tags: ["instances"],
  scope: "instances:read",
  effect: "read",
  level: "account",
  http: { method: "get", path: "/ssh-keys" },
  input: z.object({}),
  output: z.object({ keys: z.array(SshKey) }),
  handler: async (ctx) => {
    const rows = await ctx.db
      .selectFrom("ssh_keys")
      .selectAll()
      .where("account_id", "=", ctx.principal.account.id)
      .orderBy("created_at")
      .orderBy("id")
      .limit(1000)
      .execute();
    return { keys: rows.map(keyView) };
  },
});

const KeyId = z.uuid().meta({ description: "Id of one of your SSH keys" });

export const deleteSshKey = defineOperation({
  id: "delete_ssh_key",
  summary: "Delete an SSH public key from your account",
  description: "Bosun forgets the key; instances it was installed on keep it in their authorized_keys.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "destructive",
  level: "account",
  http: { method: "delete", path: "/ssh-keys/{key_id}" },
  input: z.object({ key_id: KeyId }),
  output: z.object({ deleted: z.literal(true), id: z.string() }),
  handler: async (ctx, input) => {
    const row = await ctx.db
      .deleteFrom("ssh_keys")
      .where("id", "=", input.key_id)
      .where("account_id", "=", ctx.principal.account.id)
      .returning("id")
      .executeTakeFirst();
    if (!row) throw notFound("ssh key", input.key_id);
    return { deleted: true as const, id: row.id };
  },
});

/** Installing a key is as powerful as a shell: the caller must also hold instances:exec, in token and role. */
export function requireExec(ctx: ProjectContext) {
  const role = ctx.project.role;
  if (!hasScope(ctx.principal.scopes, "instances:exec"))
    throw insufficientScope("instances:exec", "installing a key grants a shell");
  if (!hasScope(roleCaps[role], "instances:exec"))
    throw insufficientScope("instances:exec", `your role in project '${ctx.project.slug}' is ${role}`);
}

/** Appends the key line unless a line with the same key (type and data) is there; makes ~/.ssh as sshd wants it. */
export function installKeyCommand(key: PublicKey): string {
  const file = '"$HOME/.ssh/authorized_keys"';
  return [
    "umask 077",
    'mkdir -p "$HOME/.ssh"',
    `touch ${file}`,
    `if grep -qF -e ${shq(`${key.type} ${key.blob}`)} ${file}; then echo present; exit 0; fi`,
    // A last line without a newline would be joined to ours ($(…) drops a trailing newline: empty means fine).
    `if [ -n "$(tail -c 1 ${file})" ]; then echo >> ${file}; fi`,
    `printf '%s\\n' ${shq(key.line)} >> ${file}`,
    "echo added",
  ].join("\n");
}

export const installSshKey = defineOperation({
  id: "install_ssh_key",
  summary: "Install an SSH public key on an instance",
  description:
    "Appends the key to the instance user's ~/.ssh/authorized_keys, once (installing it again changes nothing). " +
    "Give `key_id` (one of your keys) or `public_key`. Grants a shell: needs instances:exec as well as instances:write.",
  tags: ["instances"],
  scope: "instances:write",
  effect: "write",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/authorized-keys" },
  input: z.object({ ...InstanceRef, key_id: KeyId.optional(), public_key: z.string().min(1).max(16_384).optional() }),
  output: z.object({
    fingerprint: z.string(),
    installed: z.boolean().meta({ description: "false: the key was already there" }),
  }),
  handler: async (ctx, input) => {
    requireExec(ctx);
    if ((input.key_id === undefined) === (input.public_key === undefined)) {
      throw validationError([
        {
          path: input.key_id === undefined ? "key_id" : "public_key",
          message: "give exactly one of key_id and public_key",
        },
      ]);
    }
    let key: PublicKey;
    if (input.key_id !== undefined) {
      const row = await ctx.db
        .selectFrom("ssh_keys")
        .select("public_key")
        .where("id", "=", input.key_id)
        .where("account_id", "=", ctx.principal.account.id)
        .executeTakeFirst();
      if (!row) throw notFound("ssh key", input.key_id);
      key = parsePublicKey(row.public_key, "key_id");
    } else key = parsePublicKey(present(input.public_key, "public_key (checked above)"));
    const { target, pool } = await reach(ctx, input.instance);
    const res = await runRemote(pool, target, {
      command: installKeyCommand(key),
      timeoutMs: 30_000,
      signal: ctx.signal,
    });
    if (res.exit_code !== 0)
      throw new BosunError(
        "unprocessable",
        `installing the key failed: ${res.stderr.trim().slice(0, 500) || `exit ${res.exit_code}`}`,
      );
    return { fingerprint: key.fingerprint, installed: res.stdout.trim() === "added" };
  },
});
