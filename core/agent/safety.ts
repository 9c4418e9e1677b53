// Pure helpers the agent runner applies to tool calls and tool output (no I/O):
//
// - classifyCommand: whether a shell command line is provably read-only, for the approval policy. It is an
//   allowlist, never a deny list: the line is tokenised the way a POSIX shell would (quotes, escapes,
//   operators, redirections), and it counts as read-only only if EVERY simple command in it is allowlisted with
//   its arguments and no part writes (output redirection other than /dev/null), substitutes a command
//   ($(...), backticks, <(...)), or could smuggle in a flag through an expansion. Anything the tokenizer is not
//   sure about is "not read-only", which only means a person is asked.
// - redact: Bosun's own secrets and operator patterns out of text before a model or transcript sees it.
// - capOutput: long tool output cut in the middle, saying how much was cut.

export interface CommandVerdict {
  readOnly: boolean;
  /** Why not (or that every part is allowlisted): shown to the person asked to approve. */
  reason: string;
}

export function isReadOnlyCommand(line: string): boolean {
  return classifyCommand(line).readOnly;
}

const MAX_LINE = 10_000;

export function classifyCommand(line: string): CommandVerdict {
  if (line.length > MAX_LINE) return no("the command line is too long to check");
  const parsed = tokenize(line);
  if ("error" in parsed) return no(parsed.error);
  const commands = parsed.commands.filter((c) => c.words.length || c.redirects.length);
  if (!commands.length) return no("empty command");
  for (const command of commands) {
    for (const r of command.redirects) {
      if (r.op === "<" || r.op === "<<" || r.op === "<<<" || r.op === "<&" || r.op === ">&fd") continue;
      if (r.target !== "/dev/null" && r.target !== "/dev/stdout" && r.target !== "/dev/stderr") {
        return no(`output redirection to ${r.target || "a file"} writes a file`);
      }
    }
    const verdict = classifySimple(command.words);
    if (verdict) return no(verdict);
  }
  return { readOnly: true, reason: "every part of the command is on the read-only allowlist" };
}

const no = (reason: string): CommandVerdict => ({ readOnly: false, reason });

// ---------------------------------------------------------------------------------------------------------
// Tokenizer: words (with quote removal), control operators and redirections. Linear, one pass, no recursion.

interface Word {
  value: string;
  /** Unquoted glob/brace characters or any parameter expansion: its final value (even its flags) is unknown. */
  expands: boolean;
}
interface Redirect {
  op: string;
  target: string;
}
interface SimpleCommand {
  words: Word[];
  redirects: Redirect[];
}

function tokenize(line: string): { commands: SimpleCommand[] } | { error: string } {
  const commands: SimpleCommand[] = [{ words: [], redirects: [] }];
  let word: Word | null = null;
  let pendingRedirect: string | null = null;
  const current = () => commands[commands.length - 1]!;

  const endWord = () => {
    if (!word) return;
    if (pendingRedirect) {
      current().redirects.push({ op: pendingRedirect, target: word.expands ? "" : word.value });
      pendingRedirect = null;
    } else current().words.push(word);
    word = null;
  };
  const startWord = () => (word ??= { value: "", expands: false });
  const operator = () => {
    endWord();
    if (pendingRedirect) return "a redirection has no target";
    commands.push({ words: [], redirects: [] });
    return null;
  };

  let i = 0;
  let quote: "'" | '"' | null = null;
  // Parses `$...` at i (the `$`); returns an error for forms that run code or may hide what they do.
  const dollar = (): string | null => {
    const next = line[i + 1];
    if (next === "(" || next === "[") return "command or arithmetic substitution ($(...)) runs a command";
    if (next === "'" || next === '"') return "$'...' quoting is not checked";
    const w = startWord();
    if (next === "{") {
      const close = line.indexOf("}", i + 2);
      const name = close < 0 ? "" : line.slice(i + 2, close);
      // ${X:-...}, ${X:=...} and friends can produce any text, including a flag such as -delete.
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return "only plain ${NAME} expansions are checked";
      w.value += "${" + name + "}";
      w.expands = true;
      i = close + 1;
      return null;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*|[0-9?$!#*@-])/.exec(line.slice(i + 1, i + 65));
    if (m) {
      w.value += "$" + m[1];
      w.expands = true;
      i += 1 + m[1]!.length;
    } else {
      w.value += "$";
      i++;
    }
    return null;
  };

  while (i < line.length) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word!.value += c;
      i++;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "`") return { error: "backtick substitution runs a command" };
      else if (c === "$") {
        const err = dollar();
        if (err) return { error: err };
        continue;
      } else if (c === "\\" && i + 1 < line.length && '$`"\\\n'.includes(line[i + 1]!)) {
        if (line[i + 1] !== "\n") word!.value += line[i + 1];
        i += 2;
        continue;
      } else word!.value += c;
      i++;
      continue;
    }
    // Unquoted.
    if (c === " " || c === "\t") {
      endWord();
      i++;
    } else if (c === "\n" || c === ";") {
      const err = operator();
      if (err) return { error: err };
      i++;
    } else if (c === "#" && !word) {
      const nl = line.indexOf("\n", i);
      i = nl < 0 ? line.length : nl;
    } else if (c === "'" || c === '"') {
      startWord();
      quote = c;
      i++;
    } else if (c === "\\") {
      if (line[i + 1] === "\n") i += 2; // line continuation
      else {
        startWord().value += line[i + 1] ?? "";
        i += 2;
      }
    } else if (c === "$") {
      const err = dollar();
      if (err) return { error: err };
    } else if (c === "`") {
      return { error: "backtick substitution runs a command" };
    } else if (c === "|" || c === "&" || c === "(" || c === ")") {
      if (c === "&" && line[i + 1] === ">") {
        // &> and &>> send stdout and stderr to a file.
        endWord();
        const append = line[i + 2] === ">";
        pendingRedirect = append ? ">>" : ">";
        i += append ? 3 : 2;
        continue;
      }
      const err = operator();
      if (err) return { error: err };
      i += (c === "|" || c === "&") && (line[i + 1] === c || (c === "|" && line[i + 1] === "&")) ? 2 : 1;
    } else if (c === "<" || c === ">") {
      // A word of digits right before the operator is the file descriptor (2>/dev/null), not an argument.
      const before = word as Word | null; // (assigned in closures, which narrowing does not follow)
      if (before && /^\d+$/.test(before.value) && !before.expands && line[i - 1] !== '"' && line[i - 1] !== "'") word = null;
      else endWord();
      if (pendingRedirect) return { error: "a redirection has no target" };
      const rest = line.slice(i, i + 3);
      if (rest.startsWith("<(") || rest.startsWith(">(")) return { error: "process substitution runs a command" };
      let op: string;
      if (rest.startsWith("<<<")) op = "<<<";
      else if (rest.startsWith("<<")) op = "<<";
      else if (rest.startsWith("<>")) op = "<>";
      else if (rest.startsWith(">>")) op = ">>";
      else if (rest.startsWith(">|")) op = ">|";
      else if (rest.startsWith(">&") || rest.startsWith("<&")) {
        // Duplicating a descriptor (2>&1, >&2, <&0, >&-) writes no file; `>& file` does.
        const m = /^[<>]&\s*(\d+|-)(?=$|[\s;|&<>)])/.exec(line.slice(i));
        if (m) {
          current().redirects.push({ op: c === ">" ? ">&fd" : "<&", target: m[1]! });
          i += m[0].length;
          continue;
        }
        op = c === ">" ? ">" : "<";
        i += 2;
        pendingRedirect = op;
        continue;
      } else op = c;
      i += op.length;
      pendingRedirect = op;
    } else {
      const w = startWord();
      if ("*?[]{}~".includes(c)) w.expands = true;
      w.value += c;
      i++;
    }
  }
  if (quote) return { error: "unterminated quote" };
  endWord();
  if (pendingRedirect) return { error: "a redirection has no target" };
  return { commands };
}

// ---------------------------------------------------------------------------------------------------------
// The allowlist. Each entry judges one simple command's arguments; returning a string says why it is not
// read-only. `flagSensitive` commands also refuse arguments whose value is unknown until the shell expands
// them (globs, braces, $VAR): `find . $X` or `find / -{delete,print}` could become `find / -delete`.

type Rule = { flagSensitive?: boolean; check?: (args: string[]) => string | null };

const any: Rule = {};
const sensitive = (check: (args: string[]) => string | null): Rule => ({ flagSensitive: true, check });
const operands = (args: string[]) => args.filter((a) => !a.startsWith("-"));
/** Whether a short-option cluster (-bn1) or a long option contains `flag`. */
const hasFlag = (args: string[], short: string, long?: string) =>
  args.some((a) => (long && (a === long || a.startsWith(long + "="))) || (/^-[A-Za-z0-9]/.test(a) && !a.startsWith("--") && a.slice(1).includes(short)));

const RULES: Record<string, Rule> = {
  // Files and text.
  ls: any, cat: any, head: any, tail: any, grep: any, egrep: any, fgrep: any, zgrep: any, zcat: any, wc: any,
  stat: any, which: any, readlink: any, realpath: any, basename: any, dirname: any, nl: any, tac: any,
  rev: any, cut: any, tr: any, column: any, diff: any, cmp: any, md5sum: any, sha1sum: any, sha256sum: any,
  sha512sum: any, jq: any, echo: any, printf: any, pwd: any, true: any, false: any, test: any, "[": any, cd: any,
  du: any, df: any, lsblk: any, findmnt: any,
  // System state.
  free: any, uptime: any, ps: any, pgrep: any, netstat: any, lsof: any, uname: any, whoami: any,
  id: any, groups: any, who: any, w: any, last: any, nproc: any, arch: any, lscpu: any, vmstat: any,
  iostat: any, getent: any, dig: any, nslookup: any, host: any,
  sort: sensitive((a) =>
    hasFlag(a, "o", "--output") ? "sort -o writes a file" : a.some((x) => x.startsWith("--compress-program")) ? "sort --compress-program runs a program" : null,
  ),
  ss: sensitive((a) => (hasFlag(a, "K", "--kill") ? "ss -K closes connections" : null)),
  file: sensitive((a) => (hasFlag(a, "C", "--compile") ? "file -C writes a magic file" : null)),
  uniq: sensitive((a) => (operands(a).length > 1 ? "uniq with an output file writes it" : null)),
  find: sensitive((a) => {
    const bad = a.find((x) => /^-(delete|exec|execdir|ok|okdir|fprint|fprint0|fprintf|fls)$/.test(x));
    return bad ? `find ${bad} changes files or runs commands` : null;
  }),
  sed: sensitive((a) => {
    // Only printing scripts (`sed -n '1,20p' f`): sed can also write files (-i, the w command) and run
    // commands (the e command), and telling those apart in arbitrary scripts is not worth the risk.
    if (hasFlag(a, "i", "--in-place")) return "sed -i edits files in place";
    if (a.length === 1 && a[0] === "--version") return null;
    const scripts: string[] = [];
    let quiet = false;
    let explicit = false;
    for (let k = 0; k < a.length; k++) {
      const x = a[k]!;
      if (x === "-n" || x === "--quiet" || x === "--silent") quiet = true;
      else if (x === "-E" || x === "-r" || x === "--regexp-extended") continue;
      else if (x === "-e") {
        explicit = true;
        scripts.push(a[++k] ?? "");
      } else if (x.startsWith("-")) return `sed ${x} is not checked`;
      else if (!explicit && !scripts.length) scripts.push(x);
    }
    const printing = /^(\d+|\$|\/[^/]*\/)?(,(\d+|\$|\/[^/]*\/))?p$/;
    return quiet && scripts.length && scripts.every((x) => printing.test(x)) ? null : "only `sed -n '<range>p'` is known to be read-only";
  }),
  date: sensitive((a) => {
    for (let k = 0; k < a.length; k++) {
      const x = a[k]!;
      if (/^(-d|-r|-f|--date|--reference|--file)$/.test(x)) k++; // takes a value: a date to show, not to set
      else if (x.startsWith("--set") || (/^-[A-Za-z]*s/.test(x) && !/^-[dIrf]/.test(x))) return "date -s sets the clock";
      else if (!x.startsWith("-") && !x.startsWith("+")) return "date with an operand sets the clock";
    }
    return null;
  }),
  hostname: sensitive((a) => (operands(a).length || hasFlag(a, "F", "--file") || a.includes("-b") ? "hostname with an argument sets the host name" : null)),
  dmesg: sensitive((a) =>
    hasFlag(a, "c", "--read-clear") || hasFlag(a, "C", "--clear") || hasFlag(a, "D", "--console-off") || hasFlag(a, "E", "--console-on") || hasFlag(a, "n", "--console-level")
      ? "these dmesg options change the kernel log"
      : null,
  ),
  top: sensitive((a) => (hasFlag(a, "b") && hasFlag(a, "n") ? null : "top needs -b and -n (e.g. top -bn1) to run once")),
  mount: sensitive((a) => (a.length === 0 ? null : "mount with arguments mounts")),
  ip: sensitive((a) => {
    const rest = [...a];
    while (rest[0]?.startsWith("-")) rest.shift(); // -br, -4, -s, -j, -c …
    const [object, action, ...more] = rest;
    if (!object || !/^(a|ad|addr|address|r|ro|route|l|li|link|n|ne|neigh|neighbour|rule|maddr|-)$/.test(object)) return "only `ip addr|route|link|neigh [show]` is read-only";
    if (action === undefined || /^(show|s|list|ls|lst|get)$/.test(action) || (action === "dev" && more.length <= 1)) return null;
    return `ip ${object} ${action} may change the network`;
  }),
  systemctl: sensitive((a) => {
    const sub = a.find((x) => !x.startsWith("-"));
    if (sub === undefined) return null; // bare systemctl lists units
    return /^(status|is-active|is-enabled|is-failed|is-system-running|list-units|list-unit-files|list-timers|list-sockets|list-dependencies|show|cat)$/.test(sub)
      ? null
      : `systemctl ${sub} changes the system`;
  }),
  journalctl: sensitive((a) => {
    const bad = a.find((x) => /^--(vacuum-size|vacuum-time|vacuum-files|rotate|flush|sync|relinquish-var|smart-relinquish-var|setup-keys|update-catalog)/.test(x));
    return bad ? `journalctl ${bad} changes the journal` : null;
  }),
  nginx: sensitive((a) => (a.length > 0 && a.every((x) => /^-[tTvV]+$/.test(x) || x === "-q") ? null : "only `nginx -t`, `-T` and `-v` are read-only")),
  apachectl: sensitive((a) => (a.length === 1 && /^(-t|-S|-M|-v|-V|configtest)$/.test(a[0]!) ? null : "only apachectl -t / configtest is read-only")),
  docker: sensitive((a) => {
    const sub = a.find((x) => !x.startsWith("-"));
    if (sub && /^(ps|images|inspect|logs|version|info|top|port)$/.test(sub)) return null;
    if (sub === "stats" && a.includes("--no-stream")) return null;
    return `docker ${sub ?? ""} may change containers`.trim();
  }),
  crontab: sensitive((a) => (a.length === 1 && a[0] === "-l" ? null : "only crontab -l is read-only")),
};

/** Prefixes that only set locale or terminal width: they cannot make a read-only command do anything else. */
const HARMLESS_ENV = /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|COLUMNS|LINES|TERM|NO_COLOR|SYSTEMD_COLORS|SYSTEMD_PAGER|PAGER)=/;
/** Where an allowlisted command may be named by path: the system's own directories, not ./ls or /tmp/ls. */
const SYSTEM_PATH = /^\/(usr\/)?(local\/)?s?bin\/[a-z0-9[][a-z0-9._-]*$/;

function classifySimple(input: Word[]): string | null {
  let words = input;
  // Environment assignments: only harmless ones (LD_PRELOAD=…, PATH=… can make `ls` run anything).
  while (words[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0].value)) {
    if (!HARMLESS_ENV.test(words[0].value) || words[0].expands) return `the environment assignment ${words[0].value.split("=")[0]}= may change what the command does`;
    words = words.slice(1);
  }
  if (!words.length) return input.length ? "a variable assignment changes the shell's state" : null;
  // sudo runs the rest as root: read-only stays read-only, but options that run something else do not.
  if (words[0]!.value === "sudo") {
    let k = 1;
    while (words[k]?.value.startsWith("-")) {
      const opt = words[k]!.value;
      if (opt === "--") {
        k++;
        break;
      }
      if (/^-[nHPS]+$/.test(opt)) k++;
      else if (opt === "-u" || opt === "-g") k += 2;
      else return `sudo ${opt} is not checked`;
    }
    words = words.slice(k);
    if (!words.length) return "sudo with no command";
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!.value)) return "sudo with environment assignments is not checked";
  }
  const head = words[0]!;
  if (head.expands) return "the command name comes from an expansion";
  let name = head.value;
  if (name.includes("/")) {
    if (!SYSTEM_PATH.test(name)) return `${name} is not a system command`;
    name = name.slice(name.lastIndexOf("/") + 1);
  }
  const rule = Object.hasOwn(RULES, name) ? RULES[name]! : undefined;
  if (!rule) return `${name} is not on the read-only allowlist`;
  const args = words.slice(1);
  const refused = rule.check?.(args.map((w) => w.value));
  if (refused) return refused;
  if (rule.flagSensitive && args.some((w) => w.expands)) return `an argument of ${name} is only known after expansion`;
  return null;
}

// ---------------------------------------------------------------------------------------------------------

const REDACTED = "[REDACTED]";

/**
 * Replaces every occurrence of the given secrets (exact text) and pattern matches with [REDACTED]. Longer
 * secrets go first, so a secret containing another is removed whole. Very short "secrets" are ignored: blanking
 * every "ab" would destroy the text and protect nothing.
 */
export function redact(text: string, secrets: readonly string[], patterns: readonly RegExp[] = []): string {
  let out = text;
  for (const secret of [...new Set(secrets)].filter((s) => s && s.length >= 6).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(REDACTED);
  }
  for (const pattern of patterns) {
    const global = pattern.global ? pattern : new RegExp(pattern.source, pattern.flags + "g");
    // A pattern that can match the empty string must not sprinkle markers between every character.
    out = out.replace(global, (m) => (m.length ? REDACTED : m));
  }
  return out;
}

/** Keeps the start and the end of long output (where errors and summaries are), eliding the middle. */
export function capOutput(text: string, max = 30_000): string {
  if (text.length <= max) return text;
  const marker = (n: number) => `\n\n[… ${n.toLocaleString("en-US")} characters elided …]\n\n`;
  const keep = Math.max(0, max - marker(text.length).length);
  let headEnd = Math.ceil(keep / 2);
  let tailStart = text.length - (keep - headEnd);
  // Never split a surrogate pair.
  if (headEnd > 0 && /[\uD800-\uDBFF]/.test(text[headEnd - 1]!)) headEnd--;
  if (tailStart < text.length && /[\uDC00-\uDFFF]/.test(text[tailStart]!)) tailStart++;
  return text.slice(0, headEnd) + marker(tailStart - headEnd) + text.slice(tailStart);
}
