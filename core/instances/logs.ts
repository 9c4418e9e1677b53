// tail_log: the last lines of a log file or of a systemd unit's journal, optionally only those matching a
// pattern. The file path, unit name and pattern are arguments (quoted), never shell text.
import { z } from "zod";
import { BosunError, notFound, present, validationError } from "../kernel/errors.ts";
import { defineOperation } from "../kernel/operation.ts";
import { runRemote } from "./commands.ts";
import { reach } from "./reach.ts";
import { InstanceRef } from "./ref.ts";
import { shellArgs, shq } from "./shell-quote.ts";

const MAX_LINES = 10_000;
/** How much of a unit's journal a grep looks through. */
const JOURNAL_SCAN = 100_000;

export interface TailSpec {
  path?: string;
  unit?: string;
  lines: number;
  grep?: string;
}

/** The command line for a tail; exported for the quoting tests. Exit 66: no such file, 65: not a regular file, 77: unreadable. */
export function tailCommand(spec: TailSpec): string {
  const grep = spec.grep !== undefined ? ` | grep -a -E -e ${shq(spec.grep)}` : "";
  const tail = ` | tail -n ${spec.lines}`;
  if (spec.path !== undefined) {
    const p = shq(spec.path);
    const read =
      spec.grep !== undefined ? `grep -a -E -e ${shq(spec.grep)} -- ${p}${tail}` : `tail -n ${spec.lines} -- ${p}`;
    // `test -f`: a regular file (through symlinks), never a device or FIFO, whose opening can act or block.
    return `test -e ${p} || exit 66; test -f ${p} || exit 65; test -r ${p} || exit 77; ${read}`;
  }
  const journal = `journalctl --no-pager -o short-iso ${shellArgs(["-u", present(spec.unit, "a unit (no path given)")])}`;
  return spec.grep !== undefined ? `${journal} -n ${JOURNAL_SCAN}${grep}${tail}` : `${journal} -n ${spec.lines}`;
}

export const tailLog = defineOperation({
  id: "tail_log",
  summary: "Show the last lines of a log file or a systemd unit's journal",
  description:
    "Give `path` (a file) or `unit` (read with journalctl), not both. `grep` keeps only lines matching an extended regular expression.",
  tags: ["instances"],
  scope: "instances:files",
  effect: "read",
  openWorld: true,
  http: { method: "get", path: "/projects/{project}/instances/{instance}/logs" },
  input: z.object({
    ...InstanceRef,
    path: z
      .string()
      .min(1)
      .max(4096)
      .optional()
      .meta({ description: "Log file path", example: "/var/log/nginx/error.log" }),
    unit: z
      .string()
      .max(256)
      .regex(/^[A-Za-z0-9@._:\\-]+$/, "a systemd unit name")
      .optional()
      .meta({ description: "systemd unit", example: "nginx.service" }),
    lines: z.number().int().min(1).max(MAX_LINES).default(100),
    grep: z.string().min(1).max(1000).optional().meta({ description: "Extended regular expression lines must match" }),
  }),
  output: z.object({
    source: z.string(),
    lines: z.array(z.string()),
    truncated: z.boolean().meta({ description: "The output exceeded the size cap and was cut" }),
  }),
  handler: async (ctx, input) => {
    if ((input.path === undefined) === (input.unit === undefined)) {
      throw validationError([
        { path: input.path === undefined ? "path" : "unit", message: "give exactly one of path and unit" },
      ]);
    }
    const { target, pool } = await reach(ctx, input.instance);
    const spec: TailSpec = { path: input.path, unit: input.unit, lines: input.lines, grep: input.grep };
    let streamed = 0;
    const res = await runRemote(pool, target, {
      command: tailCommand(spec),
      timeoutMs: 30_000,
      signal: ctx.signal,
      // Lines as they arrive, for clients that asked for progress (MCP progressToken); the answer has them all.
      onOutput: (stream, text) => {
        if (stream !== "stdout") return;
        streamed += text.length;
        ctx.progress({ progress: streamed, message: text });
      },
    });
    const source = input.path ?? `unit ${input.unit}`;
    if (res.exit_code === 66) throw notFound("file", source); // only a path test exits 66 (or 65)
    if (res.exit_code === 65)
      throw validationError([{ path: "path", message: "is not a regular file (a device or FIFO is not read)" }]);
    if (res.exit_code === 77)
      throw new BosunError("forbidden", `the instance's user cannot read '${input.path}'`, { path: input.path });
    // grep finding nothing exits 1 with no output: an empty answer, not an error.
    if (res.timed_out || (res.exit_code !== 0 && !(input.grep && res.exit_code === 1 && !res.stderr))) {
      throw new BosunError(
        "unprocessable",
        `reading ${source} failed: ${res.stderr.trim().slice(0, 500) || `exit ${res.exit_code}`}`,
      );
    }
    if (!res.stdout && res.stderr.trim())
      throw new BosunError("unprocessable", `reading ${source} failed: ${res.stderr.trim().slice(0, 500)}`);
    const lines = res.stdout.split("\n");
    if (lines.at(-1) === "") lines.pop();
    return { source, lines, truncated: res.stdout_truncated };
  },
});
