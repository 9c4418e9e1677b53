// run_command: a shell command on an instance, through the pooled connection's command server
// (command-server.ts) when the server has perl, else over a channel of its own. The command is the caller's
// shell text by design; everything we add around it (cwd, env, the timeout) is quoted or passed as data. The
// process runs as the leader of its own process group (the command server and sshd both start it with setsid);
// on a channel it reports its pid first. So on a timeout or a cancel the whole group is killed on the server —
// not left running.
// Output is captured up to a cap per stream (totals still counted) and streamed to callers that take progress.
import { StringDecoder } from "node:string_decoder";
import { z } from "zod";
import { validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { SERVER_COMMAND } from "./command-server.ts";
import type { ExecHandle, SshPool, SshTarget } from "./pool.ts";
import { reach } from "./reach.ts";
import { InstanceRef } from "./ref.ts";
import { shq } from "./shell-quote.ts";

/** Bytes of stdout and of stderr kept per command; the rest is counted, not kept. */
export const MAX_OUTPUT_BYTES = 1024 * 1024;
const PID_MARKER = Buffer.from("\x1ebosun-pid:");
/** The server's own `timeout` fires this long after ours, as a backstop for a connection lost meanwhile. */
const SERVER_GRACE_SECONDS = 5;

export interface RunOptions {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  stdin?: string;
  timeoutMs: number;
  maxBytes?: number;
  signal?: AbortSignal;
  onOutput?(stream: "stdout" | "stderr", text: string, totalBytes: number): void;
}

export interface RunResult {
  exit_code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdout_bytes: number;
  stderr_bytes: number;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
  timed_out: boolean;
  duration_ms: number;
}

/** Keeps the first `max` bytes of a stream and counts all of them. */
class Capture {
  private chunks: Buffer[] = [];
  kept = 0;
  total = 0;
  private decoder = new StringDecoder("utf8");
  constructor(
    private readonly max: number,
    private readonly onText?: (text: string, total: number) => void,
  ) {}

  add(chunk: Buffer) {
    this.total += chunk.length;
    if (this.kept >= this.max) return;
    const take = chunk.subarray(0, this.max - this.kept);
    this.chunks.push(take);
    this.kept += take.length;
    const text = this.decoder.write(take);
    if (text && this.onText) this.onText(text, this.total);
  }

  text() {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

/** What a connection learnt about the server once (see shellProfile). */
export interface ShellProfile {
  /** The login shell is a POSIX sh (sh, dash, bash): it can run our script itself. */
  posixLogin: boolean;
  /** `timeout` is on the PATH. */
  timeout: boolean;
  /** `perl` is on the PATH: the connection's command server can run (command-server.ts). */
  perl: boolean;
}

const POSIX_LOGIN_SHELLS = new Set(["sh", "dash", "bash"]);
const PROFILE_MARKER = "\x1ebosun-shell:";
const PROFILE_PROBE = `exec /bin/sh -c ${shq(
  `printf '\\036bosun-shell:%s:%s:%s\\n' "\${SHELL##*/}" "$(command -v timeout >/dev/null 2>&1 && echo timeout)" "$(command -v perl >/dev/null 2>&1 && echo perl)"`,
)}`;

/**
 * The server's login shell and whether it has `timeout`, asked once per pooled connection: each process a
 * command's session starts costs more than the SSH round trip itself, so a known POSIX login shell runs the
 * script without a second /bin/sh, and a known `timeout` skips the look-up. Null (the portable wrapper) when
 * the probe gives no clear answer.
 */
export function shellProfile(pool: SshPool, target: SshTarget): Promise<ShellProfile | null> {
  return pool.once(target, "shell-profile", async () => {
    let out = "";
    try {
      const handle = await pool.exec(target, PROFILE_PROBE, {
        onStdout: (c) => {
          if (out.length < 64 * 1024) out += c.toString("utf8");
        },
        onStderr: () => {},
      });
      const timer = setTimeout(() => handle.abort(), 10_000);
      const exit = await handle.done.finally(() => clearTimeout(timer));
      const at = out.lastIndexOf(PROFILE_MARKER);
      if (exit.code !== 0 || at < 0) return null;
      const [shell, timeout, perl] = (out.slice(at + PROFILE_MARKER.length).split("\n")[0] ?? "").split(":");
      return { posixLogin: POSIX_LOGIN_SHELLS.has(shell ?? ""), timeout: timeout === "timeout", perl: perl === "perl" };
    } catch {
      return null; // the command itself then reports what is wrong with the connection
    }
  });
}

/** The script the session runs: report our pid, set up cwd and env, then become the command. */
export function wrapCommand(
  opts: Pick<RunOptions, "command" | "cwd" | "env">,
  timeoutSeconds: number,
  profile: ShellProfile | null = null,
): string {
  const lines = [`printf '\\036bosun-pid:%s\\n' "$$"`];
  if (opts.cwd !== undefined) {
    // "~" and "~/x" mean the home directory, as in a shell; anything else is taken literally.
    const cwd =
      opts.cwd === "~"
        ? `"$HOME"`
        : opts.cwd.startsWith("~/")
          ? `"$HOME"/${shq(opts.cwd.slice(2))}`
          : shq(opts.cwd.startsWith("-") ? `./${opts.cwd}` : opts.cwd);
    lines.push(`cd ${cwd} || exit 1`);
  }
  for (const [name, value] of Object.entries(opts.env ?? {})) lines.push(`export ${name}=${shq(value)}`);
  const inner = shq(opts.command);
  const limit = `timeout -s KILL ${timeoutSeconds + SERVER_GRACE_SECONDS}`;
  lines.push(
    profile?.timeout
      ? `exec ${limit} /bin/sh -c ${inner}`
      : `if command -v timeout >/dev/null 2>&1; then exec ${limit} /bin/sh -c ${inner}; else exec /bin/sh -c ${inner}; fi`,
  );
  const script = lines.join("\n");
  // Whatever the login shell is, a POSIX sh runs the script: the login shell itself when it is one (with no
  // env to set: bash refuses some names sh takes, such as BASHOPTS), else a /bin/sh it starts.
  if (profile?.posixLogin && !Object.keys(opts.env ?? {}).length) return script;
  return `exec /bin/sh -c ${shq(script)}`;
}

export async function runRemote(pool: SshPool, target: SshTarget, opts: RunOptions): Promise<RunResult> {
  const started = performance.now();
  const max = opts.maxBytes ?? MAX_OUTPUT_BYTES;
  const { onOutput } = opts;
  const stdout = new Capture(max, onOutput && ((t, n) => onOutput("stdout", t, n)));
  const stderr = new Capture(max, onOutput && ((t, n) => onOutput("stderr", t, n)));
  let pid: number | null = null;
  // Output before our marker (a noisy login script) is not the command's: it is dropped.
  let prelude: Buffer | null = Buffer.alloc(0);
  const onStdout = (chunk: Buffer) => {
    if (!prelude) return stdout.add(chunk);
    prelude = Buffer.concat([prelude, chunk]);
    const at = prelude.indexOf(PID_MARKER);
    const nl = at >= 0 ? prelude.indexOf(10, at) : -1;
    if (nl >= 0) {
      pid = Number(prelude.subarray(at + PID_MARKER.length, nl).toString()) || null;
      const rest = prelude.subarray(nl + 1);
      prelude = null;
      if (rest.length) stdout.add(rest);
    } else if (prelude.length > 64 * 1024) {
      const all = prelude;
      prelude = null;
      stdout.add(all);
    }
  };

  const timeoutSeconds = Math.ceil(opts.timeoutMs / 1000);
  const profile = await shellProfile(pool, target);
  // The connection's command server when the server can run it (a POSIX login shell and perl), else a channel.
  const served =
    profile?.posixLogin && profile.perl
      ? await pool.serve(
          target,
          SERVER_COMMAND,
          {
            command: opts.command,
            cwd: opts.cwd,
            env: opts.env,
            stdin: opts.stdin,
            deadlineSeconds: timeoutSeconds + SERVER_GRACE_SECONDS,
          },
          { onStdout: (c) => stdout.add(c), onStderr: (c) => stderr.add(c), signal: opts.signal },
        )
      : null;
  const handle: ExecHandle = served
    ? { done: served.done, abort: served.kill }
    : await pool.exec(target, wrapCommand(opts, timeoutSeconds, profile), {
        onStdout,
        onStderr: (c) => stderr.add(c),
        stdin: opts.stdin,
        signal: opts.signal,
      });

  let timedOut = false;
  let killing: Promise<void> | null = null;
  const kill = () => {
    killing ??= (async () => {
      // The command server kills the process group itself (abort); `done` then settles with the KILL signal.
      if (!served && pid) {
        // A second channel: kill the process group, so children and background jobs go too.
        const killer = await pool
          .exec(target, `kill -9 -${pid} 2>/dev/null; kill -9 ${pid} 2>/dev/null; true`, {
            onStdout: () => {},
            onStderr: () => {},
            urgent: true,
          })
          .catch(() => null);
        await Promise.race([killer?.done.catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
      }
      handle.abort();
    })();
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  const onAbort = () => kill();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const exit = await handle.done;
    await killing;
    if (prelude?.length) stdout.add(prelude);
    return {
      exit_code: exit.code,
      signal: exit.signal,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdout_bytes: stdout.total,
      stderr_bytes: stderr.total,
      stdout_truncated: stdout.total > stdout.kept,
      stderr_truncated: stderr.total > stderr.kept,
      timed_out: timedOut,
      duration_ms: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

export const RunResultSchema = z
  .object({
    exit_code: z.number().int().nullable().meta({ description: "null when the process was ended by a signal" }),
    signal: z.string().nullable(),
    stdout: z.string(),
    stderr: z.string(),
    stdout_bytes: z.number().int().meta({ description: "Total bytes written to stdout, kept or not" }),
    stderr_bytes: z.number().int(),
    stdout_truncated: z.boolean().meta({ description: `Only the first ${MAX_OUTPUT_BYTES} bytes are kept` }),
    stderr_truncated: z.boolean(),
    timed_out: z
      .boolean()
      .meta({ description: "The command outlived timeout_seconds and was killed, with its process group" }),
    duration_ms: z.number().int(),
  })
  .meta({ id: "CommandResult" });

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
  .max(128);

export const runCommand = defineOperation({
  id: "run_command",
  summary: "Run a shell command on an instance",
  description:
    `Runs \`command\` with /bin/sh as the instance's user. Returns exit code, stdout and stderr (each capped at ${MAX_OUTPUT_BYTES} bytes, with total sizes) and duration.` +
    " Past timeout_seconds the command is killed with its process group. Output also comes as progress when a progressToken is sent.",
  tags: ["instances"],
  scope: "instances:exec",
  effect: "destructive",
  openWorld: true,
  http: { method: "post", path: "/projects/{project}/instances/{instance}/commands" },
  input: z.object({
    ...InstanceRef,
    command: z
      .string()
      .min(1)
      .max(100_000)
      .meta({ description: "Shell command line", example: "systemctl status nginx" }),
    cwd: z.string().min(1).max(4096).optional().meta({ description: "Working directory (`~` is the home directory)" }),
    env: z.record(EnvName, z.string().max(32_768)).optional().meta({ description: "Extra environment variables" }),
    stdin: z
      .string()
      .max(1024 * 1024)
      .optional()
      .meta({ description: "Text fed to the command's standard input" }),
    timeout_seconds: z
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(60)
      .meta({ description: "Kill the command after this long (default 60)" }),
  }),
  output: RunResultSchema,
  handler: async (ctx, input) => {
    const max = ctx.platform.config.sshMaxCommandSeconds;
    if (input.timeout_seconds > max)
      throw validationError([{ path: "timeout_seconds", message: `at most ${max} on this Bosun` }]);
    const { target, pool } = await reach(ctx, input.instance);
    let streamed = 0;
    return runRemote(pool, target, {
      command: input.command,
      cwd: input.cwd,
      env: input.env,
      stdin: input.stdin,
      timeoutMs: input.timeout_seconds * 1000,
      signal: ctx.signal,
      onOutput: (_stream, text) => {
        streamed += text.length;
        ctx.progress({ progress: streamed, message: text });
      },
    });
  },
});
