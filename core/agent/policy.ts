// Which of an agent's tool calls run at once, which wait for a person, and which are refused — decided per
// call from the conversation's mode, the operation's effect and the WHOLE call: for run_command the parsed
// command line (safety.ts) and also its env, stdin and cwd; for the other instance tools every free-form input.
// A command is read-only only if every part of it is allowlisted: a deny list alone is always beaten
// (`find / -delete`), so in `ask` mode anything not provably read-only waits for approval.
import path from "node:path/posix";
import type { AgentMode } from "../../schema/database.ts";
import type { Effect } from "../kernel/operation.ts";
import { classifyCommand, contentPathProblem } from "./safety.ts";
import { commandWords, parsePlain } from "./shell.ts";

export type Decision =
  /** `readOnly`: allowed only because the classifier judged the command read-only (no person, no rule, not `auto`). */
  { action: "run"; readOnly?: boolean } | { action: "ask"; reason: string } | { action: "deny"; reason: string };

/** Refused even in `auto` mode: they destroy the server or cut the owner off it. */
const DENIED_IN_AUTO: RegExp[] = [
  /\brm\s+(-[a-zA-Z]*[rf][a-zA-Z]*\s+)+\/(\s|$|\*)/, // rm -rf /
  /\bmkfs(\.\w+)?\b/,
  /\bdd\b[^|;&]*\bof=\/dev\//,
  /:\(\)\s*\{\s*:\|:&\s*\};:/, // fork bomb
  /\b(shutdown|poweroff|halt|reboot)\b/,
  /\bchmod\s+(-R\s+)?[0-7]*\s+\/(\s|$)/,
  /\b(passwd|userdel|deluser)\b/,
  />\s*\/etc\/(passwd|shadow|sudoers)\b/,
];

export interface ToolCall {
  tool: string;
  effect: Effect;
  /** The operation's tags: `instances` marks what acts on a customer's server. */
  tags: readonly string[];
  input: Record<string, unknown>;
  /** The call's changes land in a proposal a person reviews (a site run in `ask` mode), not the draft. */
  proposed?: boolean;
}

/**
 * In `ask` mode: a change to a server, going live, and what cannot be undone wait for a person. Draft edits of
 * a site do not (nothing is live until published, and the draft can be discarded). Workers' writes do: no draft.
 */
function needsApproval(call: ToolCall): string | null {
  if (call.effect === "read" || call.proposed) return null;
  if (call.effect === "destructive") return `${call.tool} cannot be undone`;
  if (call.tags.includes("instances")) return `${call.tool} changes the server`;
  if (call.tool === "publish_site" || call.tool === "rollback_site") return `${call.tool} changes the live site`;
  // A worker has no draft: a deploy, rollback or env change serves at once.
  if (call.tags.includes("workers")) return `${call.tool} changes a live worker`;
  return null;
}

/** The owner's command rules for one instance (update_instance `agent_command_rules`). */
export interface CommandRules {
  /** Run without approval in `ask` mode, e.g. `systemctl restart nginx`, `systemctl restart *`. */
  allow: string[];
  /** Refused in every mode, e.g. `rm -rf`, `*prune*`. */
  deny: string[];
}

// ---------------------------------------------------------------------------------------------------------
// The whole call. What besides the command line changes what a command does: the environment (LD_PRELOAD,
// BASH_ENV, SHELLOPTS + PS4, PATH make `ls` run anything), stdin (a script for a shell that reads it), and the
// working directory (relative paths then name other files). So a command runs unasked only with none of them,
// or with a cwd that is a plain, normalised absolute path other than / and outside /dev, /proc and /sys.

const CONTROL = /[\x00-\x1f\x7f]/;
const PLAIN_PATH = /^\/[A-Za-z0-9_@%+=:,./-]*$/;

export function cwdProblem(cwd: unknown): string | null {
  if (typeof cwd !== "string") return "the working directory is not a string";
  if (!PLAIN_PATH.test(cwd))
    return `the working directory ${JSON.stringify(cwd.slice(0, 200))} is not a plain absolute path`;
  const normal = path.normalize(cwd);
  if (cwd.split("/").includes("..") || (normal !== cwd && normal !== cwd.replace(/\/+$/, "")))
    return `the working directory ${cwd} is not normalised`;
  if (/^\/(dev|proc|sys)(\/|$)/.test(normal)) return `the working directory ${cwd} is under /dev, /proc or /sys`;
  // From /, relative paths the classifier judges as harmless (`grep -r x .`) reach /proc, /sys and /dev.
  if (normal === "/") return "the working directory is /, from which relative paths reach /proc, /sys and /dev";
  return null;
}

/** Why this run_command call, apart from its command line, needs a person; null when nothing else is given. */
export function callProblem(input: Record<string, unknown>): string | null {
  const env = input.env;
  if (env !== undefined && env !== null) {
    const names = typeof env === "object" ? Object.keys(env) : ["?"];
    if (names.length)
      return `the command sets environment variables (${names.slice(0, 5).join(", ")}), which can change what any program does`;
  }
  if (input.stdin !== undefined && input.stdin !== null)
    return "the command is given standard input, which a program may run as a script";
  if (input.cwd !== undefined && input.cwd !== null) return cwdProblem(input.cwd);
  return null;
}

/** Inputs of the other instance tools that are free text: paths, a unit name, a pattern. */
function instanceInputProblem(call: ToolCall): string | null {
  for (const [key, value] of Object.entries(call.input)) {
    if (typeof value === "string" && CONTROL.test(value)) return `${call.tool}: ${key} contains a control character`;
    if (value !== null && typeof value === "object") return `${call.tool}: ${key} is not a plain value`;
  }
  const p = call.input.path;
  // Files whose content is read: opening a device (/dev/watchdog, a tty) or a process's descriptor can act.
  if ((call.tool === "read_remote_file" || call.tool === "tail_log") && typeof p === "string") {
    const problem = contentPathProblem(p);
    if (problem) return `${call.tool}: ${problem}`;
  }
  if (call.tool === "tail_log" && typeof call.input.unit === "string" && call.input.unit.startsWith("-"))
    return "tail_log: the unit name looks like an option";
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Rules on parsed words. A rule is a sequence of words separated by blanks (no quotes, no shell syntax).
//
// allow: matches a command line only if the line is ONE simple command of plain words (the classifier's safe
//   grammar: no operator, expansion, redirection, …) whose words equal the rule's words one for one. A word
//   `*` stands for exactly one word that does not start with `-`; a `*` inside a word stands for any
//   characters but `/` (as in a file glob). So `systemctl restart *` admits `systemctl restart nginx`, not
//   `systemctl restart nginx; rm -rf ~`, `systemctl restart --now x` or `systemctl restart a b`.
// deny: refuses a line if it matches ANY command in it — in a pipeline or list, inside $(…), after a wrapper
//   such as sudo (every word is tried as the start of a command) — or the line split on blanks and
//   operators. The rule's first word is the program (compared by base name: /bin/rm is rm); its short
//   options are compared as a set of letters that must all be present, wherever and however bundled
//   (`rm -rf` matches `rm -r -f x`, `rm -fr x`, `rm -v -r -f x`); its other words must appear in order
//   and adjacent; `*` alone stands for any number of words and a `*` inside a word for any characters.
//   `*rm -rf*` therefore means the same as `rm -rf`. Deny rules are a convenience, not a sandbox: a
//   program can be named in ways no rule foresees; in `ask` mode approval stays the protection.

const RULE_WORD = /^[A-Za-z0-9_@%+=:,./~*-]+$/;

/** Programs that run code given as arguments or wrap another command: never in an allow rule. */
const SHELLISH = new Set([
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "mksh",
  "fish",
  "csh",
  "tcsh",
  "ash",
  "busybox",
  "perl",
  "ruby",
  "node",
  "nodejs",
  "deno",
  "bun",
  "php",
  "lua",
  "luajit",
  "tclsh",
  "wish",
  "awk",
  "gawk",
  "mawk",
  "nawk",
  "sed",
  "eval",
  "exec",
  "source",
  ".",
  "command",
  "builtin",
  "env",
  "sudo",
  "doas",
  "su",
  "runuser",
  "pkexec",
  "xargs",
  "nohup",
  "nice",
  "ionice",
  "timeout",
  "setsid",
  "stdbuf",
  "chroot",
  "unshare",
  "nsenter",
  "watch",
  "strace",
  "ltrace",
  "gdb",
  "script",
  "expect",
  "ssh",
  "socat",
  "nc",
  "ncat",
  "tmux",
  "screen",
  "systemd-run",
  "at",
  "batch",
  "parallel",
  "flock",
  "time",
  "trap",
  // More wrappers that run the next word as a program, shells and interpreters by other names, editors and
  // database clients that run commands given as arguments, and package runners that fetch and run code.
  "taskset",
  "chrt",
  "numactl",
  "cgexec",
  "unbuffer",
  "firejail",
  "bwrap",
  "proot",
  "sg",
  "newgrp",
  "machinectl",
  "rbash",
  "yash",
  "posh",
  "pwsh",
  "elvish",
  "xonsh",
  "irb",
  "jshell",
  "julia",
  "Rscript",
  "vi",
  "vim",
  "nvim",
  "rvim",
  "ex",
  "ed",
  "emacs",
  "psql",
  "mysql",
  "mariadb",
  "sqlite3",
  "npx",
  "pnpx",
  "uvx",
  "pipx",
  "make",
]);
/**
 * Options whose value is code or a command for many programs (`git -c core.fsmonitor=…`, `psql -c`, `mysql -e`,
 * `nginx -g 'load_module …'`, `find -exec`, `tar --to-command`): a `*` in their value would let the model write it.
 */
const CODE_OPTIONS = new Set([
  "-c",
  "-e",
  "-g",
  "--eval",
  "--command",
  "--exec",
  "-exec",
  "-execdir",
  "-ok",
  "-okdir",
  "--to-command",
  "--checkpoint-action",
  "--use-compress-program",
  "-I",
]);
const isShellish = (word: string) => {
  const base = word.slice(word.lastIndexOf("/") + 1);
  return SHELLISH.has(base) || /^(python|pypy|perl|ruby|php|node|lua)[0-9.]*$/.test(base);
};

/** Why a rule is refused at creation (it could admit a shell, or is not plain words); null if it is fine. */
export function ruleProblem(rule: string, kind: "allow" | "deny"): string | null {
  const words = rule.trim().split(/ +/);
  if (!rule.trim()) return "a rule needs at least one word";
  if (CONTROL.test(rule)) return "a rule is one line of words separated by spaces";
  const bad = words.find((w) => !RULE_WORD.test(w));
  if (bad !== undefined)
    return `'${bad}' is not a plain word (rules are words separated by spaces, with * as the only wildcard; no quotes or shell syntax)`;
  if (kind === "deny") return null;
  const program = words[0] ?? ""; // split always gives one
  if (program.includes("*"))
    return "an allow rule must name its program: `*` in the program position would admit any program, a shell too";
  const shell = words.find(isShellish);
  if (shell)
    return `an allow rule may not name ${shell}: it runs code given as arguments (or wraps another command), which would admit a shell`;
  if (program.includes("=")) return "an allow rule may not start with a variable assignment";
  for (let i = 1; i < words.length; i++) {
    const w = words[i] ?? ""; // i < length
    const [name = "", value] = w.split("=", 2);
    const valued = value !== undefined ? value : (words[i + 1] ?? "");
    if (CODE_OPTIONS.has(name) && valued.includes("*"))
      return `an allow rule may not leave the value of ${name} open (\`*\`): for many programs it is code or a command to run`;
  }
  return null;
}

function globWord(pattern: string, word: string, star: string): boolean {
  const re = pattern
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(star);
  return new RegExp(`^${re}$`, "s").test(word);
}

function matchesAllow(rule: string, line: string): boolean {
  const parsed = parsePlain(line);
  if (!parsed.ok || parsed.commands.length !== 1) return false;
  const argv = parsed.commands[0] ?? [];
  const words = rule.trim().split(/ +/);
  if (words.length !== argv.length) return false;
  return words.every((w, i) => {
    const word = argv[i] ?? ""; // the lengths are equal
    if (w === "*") return !word.startsWith("-") && word.length > 0;
    if (word.startsWith("-") && !w.startsWith("-")) return false;
    return globWord(w, word, "[^/]*");
  });
}

interface DenyShape {
  program: string;
  flags: Set<string>;
  rest: string[];
}
const SHORT_BUNDLE = /^-[A-Za-z]+$/;

function shape(words: string[], pattern: boolean): DenyShape {
  const first = words[0] ?? "";
  const program = first.slice(first.lastIndexOf("/") + 1);
  const flags = new Set<string>();
  const rest: string[] = [];
  for (const w of words.slice(1)) {
    // In a pattern, `-rf*` (a trailing * on the flags) means the flags.
    const bundle = pattern ? w.replace(/\*$/, "") : w;
    if (SHORT_BUNDLE.test(bundle)) for (const c of bundle.slice(1)) flags.add(c);
    else rest.push(w);
  }
  return { program, flags, rest };
}

function matchesSequence(pattern: string[], words: string[]): boolean {
  const [p, ...more] = pattern;
  if (p === undefined) return true;
  const [word, ...after] = words;
  if (p === "*") return matchesSequence(more, words) || (word !== undefined && matchesSequence(pattern, after));
  return word !== undefined && globWord(p, word, ".*") && matchesSequence(more, after);
}

function matchesDeny(rule: string, commands: string[][]): boolean {
  const ruleWords = rule.trim().split(/ +/).filter(Boolean);
  if (!ruleWords.length) return false;
  const want = shape(ruleWords, true);
  for (const words of commands) {
    for (let start = 0; start < words.length; start++) {
      const have = shape(words.slice(start), false);
      if (want.program !== "*" && !globWord(want.program, have.program, ".*")) continue;
      if ([...want.flags].some((f) => !have.flags.has(f))) continue;
      // Unanchored: the rule's other words may appear anywhere in the command, in order and adjacent.
      for (let k = 0; k <= have.rest.length; k++) if (matchesSequence(want.rest, have.rest.slice(k))) return true;
    }
  }
  return false;
}

/** Whether a rule matches a command line (see the rule semantics above). */
export function matchesRule(rule: string, command: string, kind: "allow" | "deny"): boolean {
  return kind === "allow" ? matchesAllow(rule, command) : matchesDeny(rule, commandWords(command));
}

// ---------------------------------------------------------------------------------------------------------

export function decide(mode: AgentMode, call: ToolCall, rules: CommandRules = { allow: [], deny: [] }): Decision {
  if (call.tool === "run_command") {
    const command = typeof call.input.command === "string" ? call.input.command : null;
    if (command === null)
      return mode === "read_only"
        ? { action: "deny", reason: "run_command without a command line" }
        : { action: "ask", reason: "run_command without a command line" };
    const commands = rules.deny.length ? commandWords(command) : []; // parsed once for all the rules
    const denied = rules.deny.find((r) => matchesDeny(r, commands));
    if (denied) return { action: "deny", reason: `the instance's owner refuses commands matching '${denied}'` };
    const other = callProblem(call.input);
    const verdict = classifyCommand(command);
    if (!other && verdict.readOnly) return { action: "run", readOnly: true };
    const why = other ?? verdict.reason;
    if (mode === "read_only") return { action: "deny", reason: `this conversation is read-only and ${why}` };
    if (mode === "auto") {
      const hit = DENIED_IN_AUTO.find((re) => re.test(command));
      return hit ? { action: "deny", reason: "this command is on the deny list" } : { action: "run" };
    }
    // A rule saved before a check was added (stored rules are not re-validated) admits nothing the checks refuse.
    if (!other && rules.allow.some((r) => !ruleProblem(r, "allow") && matchesRule(r, command, "allow")))
      return { action: "run" };
    return { action: "ask", reason: `${why}: ${command.slice(0, 200)}` };
  }
  if (call.tags.includes("instances") && mode !== "auto") {
    const problem = instanceInputProblem(call);
    if (problem)
      return mode === "read_only"
        ? { action: "deny", reason: `this conversation is read-only and ${problem}` }
        : { action: "ask", reason: problem };
  }
  if (call.effect === "read") return { action: "run" };
  if (mode === "read_only") return { action: "deny", reason: "this conversation is read-only" };
  if (mode === "auto") return { action: "run" };
  const reason = needsApproval(call);
  return reason ? { action: "ask", reason } : { action: "run" };
}
