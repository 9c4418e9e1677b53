// Pure helpers the agent runner applies to tool calls and tool output (no I/O):
//
// - classifyCommand: whether a shell command line is provably read-only, for the approval policy. The line is
//   parsed by tree-sitter-bash (shell.ts) into the strict safe grammar — plain words joined by && || ; |, no
//   expansion of any kind, no redirection but to /dev/null — and then EVERY simple command must match an
//   entry of the allowlist below, which enumerates each program's allowed options (exact spellings: GNU
//   long-option abbreviations and unknown options mean "ask") and checks its operands. Programs with any mode
//   that writes or runs something are allowed only in enumerated forms (`systemctl status …`, `docker ps …`
//   with the verb first). Anything else is "not read-only", which only means a person is asked.
// - redact: Bosun's own secrets and operator patterns out of text before a model or transcript sees it.
// - capOutput: long tool output cut in the middle, saying how much was cut.

import path from "node:path/posix";
import { parsePlain } from "./shell.ts";

export interface CommandVerdict {
  readOnly: boolean;
  /** Why not (or that every part is allowlisted): shown to the person asked to approve. */
  reason: string;
}

export function isReadOnlyCommand(line: string): boolean {
  return classifyCommand(line).readOnly;
}

export function classifyCommand(line: string): CommandVerdict {
  const parsed = parsePlain(line);
  if (!parsed.ok) return no(parsed.reason);
  for (const argv of parsed.commands) {
    const reason = checkCommand(argv);
    if (reason) return no(reason);
  }
  return { readOnly: true, reason: "every part of the command is on the read-only allowlist" };
}

const no = (reason: string): CommandVerdict => ({ readOnly: false, reason });

function checkCommand(argv: string[]): string | null {
  const name = path.basename(argv[0] ?? "");
  const check = Object.hasOwn(ALLOWLIST, name) ? ALLOWLIST[name] : undefined;
  if (!check) return `${name} is not on the read-only allowlist`;
  return check(argv.slice(1), name);
}

// ---------------------------------------------------------------------------------------------------------
// Option parsing, the way getopt_long reads argv, but strict: options are matched exactly (getopt_long would
// accept `--out` for `--output`, which is how the old classifier was beaten), bundles of short options are
// taken apart letter by letter, `--name=value` and `-xVALUE` are read as the option's value, and `--` ends
// options. GNU tools permute, so an option after an operand is still an option: it is checked wherever it is.

type Value = RegExp | ((v: string) => boolean);
interface OptionSpec {
  /** Short options without a value, e.g. "alh". */
  flags?: string;
  /** Short options with a value, and what the value may be. */
  valued?: Record<string, Value>;
  /** Long options (without `--`): null takes no value; a Value requires one; `{ optional }` may have `=value`. */
  long?: Record<string, Value | null | { optional: Value }>;
  /** `head -5`, `tail -20`: the old count syntax. */
  numeric?: boolean;
}
interface Parsed {
  opts: { name: string; value?: string }[];
  operands: string[];
}

const accepts = (v: Value, value: string) => (typeof v === "function" ? v(value) : v.test(value));

function getopt(prog: string, args: string[], spec: OptionSpec): Parsed | string {
  const opts: Parsed["opts"] = [];
  const operands: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? ""; // i < length
    if (a === "--") {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const kind = spec.long && Object.hasOwn(spec.long, name) ? spec.long[name] : undefined;
      if (kind === undefined)
        return `${prog} --${name} is not an allowed option (options are matched exactly; abbreviations are not accepted)`;
      if (kind === null) {
        if (eq >= 0) return `${prog} --${name} takes no value`;
        opts.push({ name: `--${name}` });
      } else if ("optional" in kind) {
        if (eq >= 0 && !accepts(kind.optional, a.slice(eq + 1))) return `${prog} ${a}: this value is not allowed`;
        opts.push({ name: `--${name}`, ...(eq >= 0 ? { value: a.slice(eq + 1) } : {}) });
      } else {
        const value = eq >= 0 ? a.slice(eq + 1) : args[++i];
        if (value === undefined) return `${prog} --${name} needs a value`;
        if (!accepts(kind, value)) return `${prog} --${name} ${value}: this value is not allowed`;
        opts.push({ name: `--${name}`, value });
      }
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      if (spec.numeric && /^-[0-9]+$/.test(a)) {
        opts.push({ name: "-#", value: a.slice(1) });
        continue;
      }
      for (let k = 1; k < a.length; k++) {
        const c = a.charAt(k);
        if (/^[A-Za-z0-9]$/.test(c) && spec.flags?.includes(c)) {
          opts.push({ name: `-${c}` });
          continue;
        }
        const v = /^[A-Za-z0-9]$/.test(c) && spec.valued && Object.hasOwn(spec.valued, c) ? spec.valued[c] : undefined;
        if (!v) return `${prog} -${c} is not an allowed option`;
        const value = k + 1 < a.length ? a.slice(k + 1) : args[++i];
        if (value === undefined) return `${prog} -${c} needs a value`;
        if (!accepts(v, value)) return `${prog} -${c} ${value}: this value is not allowed`;
        opts.push({ name: `-${c}`, value });
        break;
      }
      continue;
    }
    operands.push(a);
  }
  return { opts, operands };
}

type Check = (args: string[], prog: string) => string | null;
type OperandCheck = (operands: string[], parsed: Parsed, prog: string) => string | null;

const ANY: Value = () => true;
const NUM = /^[0-9]+$/;
const COLOR = /^(auto|never|always)$/;
/**
 * A date or time as `date -d`, `journalctl --since` and `docker logs --since` read it. Never `TZ="…"` (GNU date
 * then loads that file as a time zone: `TZ="/dev/watchdog"` opens a device), nor `..` or `=`.
 */
const TIME: Value = (v) => /^[A-Za-z0-9 :+.,@_/-]{1,64}$/.test(v) && !v.includes("..");
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A systemd unit name or pattern: never option-like. */
const UNIT = /^[A-Za-z0-9@_.:*?[\]][A-Za-z0-9@_.:*?[\]-]*$/;

/** A program whose only checks are its options and its operands. */
const opts =
  (spec: OptionSpec, operands: OperandCheck = () => null): Check =>
  (args, prog) => {
    const parsed = getopt(prog, args, spec);
    return typeof parsed === "string" ? parsed : operands(parsed.operands, parsed, prog);
  };

const none: OperandCheck = (ops, _p, prog) =>
  ops.length ? `${prog} takes no operands here (${ops[0]} would be read as one)` : null;
const atMost =
  (n: number, each: OperandCheck = () => null): OperandCheck =>
  (ops, p, prog) =>
    ops.length > n ? `${prog} with more than ${n} operand(s) is not read-only (${ops[n]})` : each(ops, p, prog);
const allMatch =
  (re: RegExp, what: string): OperandCheck =>
  (ops, _p, prog) => {
    const bad = ops.find((o) => !re.test(o));
    return bad === undefined ? null : `${prog}: ${bad} is not ${what}`;
  };

/**
 * Files whose contents are read: not devices (reading /dev/watchdog can reboot a machine, a tty or serial
 * device can hang or act), nor a process's open descriptors under /proc, nor a path that climbs with `..`.
 */
export function contentPathProblem(p: string): string | null {
  if (p.split("/").includes("..")) return `${p} climbs out of its directory with ..`;
  const n = path.normalize(p).replace(/^\/+/, "");
  if (p !== "/dev/null" && /^dev(\/|$)/.test(n)) return `${p} is a device`;
  // /proc/<pid>/fd/N, /proc/<pid>/root/dev/…, /proc/<pid>/task/<tid>/cwd/…: links into a process's view.
  if (/^proc\/(.+\/)?(fd|map_files|root|cwd|exe)(\/|$)/.test(n))
    return `${p} reaches through a process's open files or root`;
  // Files whose reading consumes what it reads (the kernel log through /proc/kmsg, a trace pipe) or, under
  // debugfs and tracefs, may make a driver act.
  if (/^proc\/kmsg$/.test(n) || /^sys\/kernel\/(debug|tracing)(\/|$)/.test(n))
    return `${p} is a kernel interface that may change state when read`;
  return null;
}
/**
 * Where a recursive read may not start: the root and /proc and /sys reach the files above (a recursion does not
 * stop at them), /dev the devices. Relative paths are judged as if from / (the working directory is checked on
 * its own: policy.ts cwdProblem refuses / itself).
 */
export function recursionRootProblem(p: string): string | null {
  const n = path.normalize(p).replace(/^\/+/, "").replace(/\/+$/, "");
  if (n === "" || /^(proc|sys|dev)(\/|$)/.test(n))
    return `a recursive read from ${p} reaches /proc, /sys or /dev, whose files may act when read`;
  return null;
}
const contentPaths: OperandCheck = (ops, _p, prog) => {
  for (const o of ops) {
    const problem = contentPathProblem(o);
    if (problem) return `${prog}: ${problem}`;
  }
  return null;
};

/** Programs with subcommands: the verb must come first (an option's value is never taken for the verb). */
const verbs =
  (table: Record<string, Check>, bare: boolean): Check =>
  (args, prog) => {
    if (!args.length) return bare ? null : `${prog} needs a subcommand`;
    const [verb = ""] = args; // not empty
    const check = Object.hasOwn(table, verb) ? table[verb] : undefined;
    if (!check) {
      return verb.startsWith("-")
        ? `${prog} ${verb}: options before the subcommand are not read-only (the subcommand must come first)`
        : `${prog} ${verb} is not a read-only subcommand`;
    }
    return check(args.slice(1), `${prog} ${verb}`);
  };

const RECURSIVE = new Set(["-r", "--recursive"]);
const grepOperands: OperandCheck = (ops, p, prog) => {
  const explicit = p.opts.some((o) => o.name === "-e" || o.name === "--regexp");
  if (!explicit && !ops.length) return `${prog} needs a pattern`;
  const files = explicit ? ops : ops.slice(1);
  if (p.opts.some((o) => RECURSIVE.has(o.name))) {
    for (const f of files) {
      const problem = recursionRootProblem(f);
      if (problem) return `${prog}: ${problem}`;
    }
  }
  return contentPaths(files, p, prog);
};

const findCheck: Check = (args, prog) => {
  const noArg = new Set([
    "-print",
    "-print0",
    "-ls",
    "-empty",
    "-xdev",
    "-mount",
    "-readable",
    "-writable",
    "-executable",
    "-true",
    "-false",
    "-daystart",
    "-depth",
    "-nouser",
    "-nogroup",
    "-prune",
    "-quit",
    "(",
    ")",
    "!",
    "-not",
    "-a",
    "-and",
    "-o",
    "-or",
  ]);
  const withArg: Record<string, Value> = {
    "-name": ANY,
    "-iname": ANY,
    "-path": ANY,
    "-ipath": ANY,
    "-wholename": ANY,
    "-iwholename": ANY,
    "-regex": ANY,
    "-iregex": ANY,
    "-lname": ANY,
    "-ilname": ANY,
    "-printf": ANY,
    "-newer": ANY,
    "-samefile": ANY,
    "-regextype": /^[a-z-]+$/,
    "-type": /^[bcdpflsD](,[bcdpflsD])*$/,
    "-xtype": /^[bcdpflsD](,[bcdpflsD])*$/,
    "-maxdepth": NUM,
    "-mindepth": NUM,
    "-links": /^[+-]?[0-9]+$/,
    "-inum": /^[+-]?[0-9]+$/,
    "-mtime": /^[+-]?[0-9]+$/,
    "-mmin": /^[+-]?[0-9]+$/,
    "-atime": /^[+-]?[0-9]+$/,
    "-amin": /^[+-]?[0-9]+$/,
    "-ctime": /^[+-]?[0-9]+$/,
    "-cmin": /^[+-]?[0-9]+$/,
    "-size": /^[+-]?[0-9]+[cwbkMG]?$/,
    "-user": NAME,
    "-group": NAME,
    "-uid": /^[+-]?[0-9]+$/,
    "-gid": /^[+-]?[0-9]+$/,
    "-perm": /^[-/+]?[0-7ugoarwxXst=+,-]+$/,
  };
  let i = 0;
  while (args[i] === "-H" || args[i] === "-L" || args[i] === "-P") i++;
  // Starting points, up to the first expression token.
  const at = (k: number) => args[k] ?? ""; // only read below args.length
  while (i < args.length && !at(i).startsWith("-") && !["(", ")", "!", ","].includes(at(i))) i++;
  for (; i < args.length; i++) {
    const a = at(i);
    if (noArg.has(a)) continue;
    const v = Object.hasOwn(withArg, a) ? withArg[a] : undefined;
    if (!v)
      return `${prog} ${a} is not an allowed expression (only tests and printing; -exec, -delete, -fprint… and -ok change files or run commands)`;
    const value = args[++i];
    if (value === undefined) return `${prog} ${a} needs a value`;
    if (!accepts(v, value)) return `${prog} ${a} ${value}: this value is not allowed`;
  }
  return null;
};

/** `top` only in batch mode for a bounded number of iterations: interactively it takes commands. */
const topCheck: Check = (args, prog) => {
  const p = getopt(prog, args, {
    flags: "bcHiSs",
    valued: { n: NUM, d: /^[0-9]+(\.[0-9]+)?$/, p: /^[0-9,]+$/, u: NAME, U: NAME, o: /^[-+%A-Za-z]+$/, w: NUM },
  });
  if (typeof p === "string") return p;
  if (p.operands.length) return none(p.operands, p, prog);
  const has = (n: string) => p.opts.some((o) => o.name === n);
  return has("-b") && has("-n") ? null : "top needs -b and -n (e.g. top -bn1) to run once and take no commands";
};

/** `ip [options] addr|route|link|neigh [show|list [dev IFACE]]`: objects and options spelled exactly (`ip -b` is batch mode). */
const ipCheck: Check = (args, prog) => {
  const globals = new Set([
    "-4",
    "-6",
    "-br",
    "-brief",
    "-s",
    "-stats",
    "-d",
    "-details",
    "-j",
    "-json",
    "-p",
    "-pretty",
    "-o",
    "-oneline",
  ]);
  let i = 0;
  for (let a = args[i]; a?.startsWith("-"); a = args[++i]) {
    if (!globals.has(a)) return `${prog} ${a} is not an allowed option`;
  }
  const object = args[i];
  if (object === undefined) return `${prog} needs an object (addr, route, link, neigh)`;
  if (!["a", "addr", "address", "r", "route", "l", "link", "n", "neigh"].includes(object))
    return `${prog} ${object} is not a read-only object`;
  const rest = args.slice(i + 1);
  if (rest.length && rest[0] !== "show" && rest[0] !== "list")
    return `${prog} ${object} ${rest[0]} may change the network (only show and list are read-only)`;
  const tail = rest.slice(1);
  if (
    !tail.length ||
    (tail.length === 2 && tail[0] === "dev" && /^[A-Za-z0-9_.:@][A-Za-z0-9_.:@-]*$/.test(tail[1] ?? ""))
  )
    return null;
  return `${prog} ${object} ${rest.join(" ")}: only \`show [dev IFACE]\` is read-only`;
};

const LINES = /^[+-]?[0-9]+$/;
const SYSTEMCTL_OUTPUT =
  /^(short|short-iso|short-iso-precise|short-precise|short-monotonic|short-unix|short-full|verbose|cat|json|json-pretty|with-unit)$/;
const unitOperands = allMatch(UNIT, "a unit name");
const listing = opts(
  {
    flags: "a",
    valued: { t: /^[a-z,]+$/ },
    long: {
      all: null,
      type: /^[a-z,]+$/,
      state: /^[a-z,-]+$/,
      failed: null,
      "no-pager": null,
      "no-legend": null,
      plain: null,
      full: null,
    },
  },
  unitOperands,
);

/**
 * The read-only allowlist: program → check of its arguments. Deliberately short. Left to approval on purpose:
 * sudo, env, xargs, nice, timeout and other wrappers; awk, sed (w/e commands), perl, python, shells; tee; sort
 * (-o, --compress-program); network clients (curl, wget, dig, host, nslookup, nc); nginx -t (opens and creates
 * log files, loads modules as root); anything that follows forever (tail -f, journalctl -f, dmesg -w).
 * Deliberately allowed: `grep -r` (while recursing, GNU grep skips devices, FIFOs and sockets by default, and
 * -D/--devices is not allowed; never from /, /proc, /sys or /dev; -R, which follows symlinks wherever they lead,
 * is asked), `ls -R`, `find` with tests and printing only, `ps` without `e` (environments).
 * Every program is looked up by name on the login's PATH: a writable directory early on PATH is the OS's
 * problem to prevent (the observer login), since putting a file there already needs an approved write.
 */
const ALLOWLIST: Record<string, Check> = {
  ls: opts({
    flags: "aAlhdRtrSinF1gGopucvxXQ",
    long: {
      all: null,
      "almost-all": null,
      "human-readable": null,
      directory: null,
      recursive: null,
      reverse: null,
      inode: null,
      "numeric-uid-gid": null,
      size: null,
      "full-time": null,
      classify: null,
      color: { optional: COLOR },
      sort: /^(none|size|time|version|extension|name|width)$/,
      "group-directories-first": null,
    },
  }),
  cat: opts(
    {
      flags: "AbeEnstTuv",
      long: {
        number: null,
        "number-nonblank": null,
        "show-all": null,
        "show-ends": null,
        "show-tabs": null,
        "show-nonprinting": null,
        "squeeze-blank": null,
      },
    },
    contentPaths,
  ),
  head: opts(
    {
      flags: "qv",
      valued: { n: /^-?[0-9]+$/, c: /^-?[0-9]+$/ },
      long: { lines: /^-?[0-9]+$/, bytes: /^-?[0-9]+$/, quiet: null, silent: null, verbose: null },
      numeric: true,
    },
    contentPaths,
  ),
  tail: opts(
    {
      flags: "qv",
      valued: { n: LINES, c: LINES },
      long: { lines: LINES, bytes: LINES, quiet: null, silent: null, verbose: null },
      numeric: true,
    },
    contentPaths,
  ),
  grep: opts(
    {
      flags: "ivnclLHhwxFEGPosqarIz",
      valued: { e: ANY, m: NUM, A: NUM, B: NUM, C: NUM },
      long: {
        "ignore-case": null,
        "invert-match": null,
        "line-number": null,
        count: null,
        "files-with-matches": null,
        "files-without-match": null,
        "with-filename": null,
        "no-filename": null,
        "word-regexp": null,
        "line-regexp": null,
        "fixed-strings": null,
        "extended-regexp": null,
        "basic-regexp": null,
        "perl-regexp": null,
        "only-matching": null,
        "no-messages": null,
        quiet: null,
        silent: null,
        text: null,
        recursive: null,
        regexp: ANY,
        "max-count": NUM,
        "after-context": NUM,
        "before-context": NUM,
        context: NUM,
        include: ANY,
        exclude: ANY,
        "exclude-dir": ANY,
        color: { optional: COLOR },
        colour: { optional: COLOR },
      },
    },
    grepOperands,
  ),
  wc: opts(
    { flags: "lwcmL", long: { lines: null, words: null, bytes: null, chars: null, "max-line-length": null } },
    contentPaths,
  ),
  stat: opts({
    flags: "LftT",
    valued: { c: ANY },
    long: { dereference: null, "file-system": null, terse: null, format: ANY, printf: ANY },
  }),
  // file reads the start of every regular file it is given (/proc/kmsg too): the same paths as cat.
  file: opts(
    {
      flags: "bLhikN",
      long: {
        brief: null,
        mime: null,
        "mime-type": null,
        "mime-encoding": null,
        dereference: null,
        "no-dereference": null,
        "keep-going": null,
      },
    },
    contentPaths,
  ),
  du: opts({
    flags: "sahcxkmLb",
    valued: { d: NUM },
    long: {
      summarize: null,
      "human-readable": null,
      all: null,
      total: null,
      "one-file-system": null,
      "max-depth": NUM,
      "apparent-size": null,
      bytes: null,
      si: null,
      dereference: null,
      exclude: ANY,
    },
  }),
  df: opts({
    flags: "hHTiklaP",
    valued: { t: /^[a-z0-9.]+$/, x: /^[a-z0-9.]+$/ },
    long: {
      "human-readable": null,
      si: null,
      "print-type": null,
      inodes: null,
      local: null,
      all: null,
      portability: null,
      total: null,
      type: /^[a-z0-9.]+$/,
      "exclude-type": /^[a-z0-9.]+$/,
    },
  }),
  free: opts(
    {
      flags: "bkmghlwt",
      long: {
        bytes: null,
        kilo: null,
        mega: null,
        giga: null,
        kibi: null,
        mebi: null,
        gibi: null,
        human: null,
        wide: null,
        total: null,
        si: null,
        lohi: null,
      },
    },
    none,
  ),
  uptime: opts({ flags: "ps", long: { pretty: null, since: null } }, none),
  ps: opts(
    {
      flags: "eAfFlaHLTwjMycx",
      valued: { o: ANY, O: ANY, p: /^[0-9, ]+$/, u: ANY, U: ANY, C: ANY, g: ANY, G: ANY, q: /^[0-9, ]+$/ },
      long: {
        sort: ANY,
        forest: null,
        "no-headers": null,
        headers: null,
        format: ANY,
        pid: /^[0-9,]+$/,
        ppid: /^[0-9,]+$/,
        user: ANY,
        cols: NUM,
        columns: NUM,
        width: NUM,
      },
    },
    // BSD-style option words (aux, axjf, auxww); `e` (show environments) is left out: it prints secrets.
    allMatch(/^[auxfwjlvrhcSTmnHL]+$/, "an allowed BSD-style option word"),
  ),
  top: topCheck,
  uname: opts(
    {
      flags: "asnrvmpio",
      long: {
        all: null,
        "kernel-name": null,
        nodename: null,
        "kernel-release": null,
        "kernel-version": null,
        machine: null,
        processor: null,
        "hardware-platform": null,
        "operating-system": null,
      },
    },
    none,
  ),
  whoami: opts({}, none),
  id: opts(
    { flags: "ugGnrz", long: { user: null, group: null, groups: null, name: null, real: null, zero: null } },
    atMost(1, allMatch(NAME, "a user name")),
  ),
  pwd: opts({ flags: "LP" }, none),
  // With an operand, -F or -b, hostname sets the host name.
  hostname: opts(
    {
      flags: "fsiIdA",
      long: {
        fqdn: null,
        long: null,
        short: null,
        "ip-address": null,
        "all-ip-addresses": null,
        domain: null,
        "all-fqdns": null,
      },
    },
    none,
  ),
  // With an operand other than +FORMAT, or -s, date sets the clock.
  date: opts(
    {
      flags: "uRI",
      valued: { d: TIME },
      long: {
        utc: null,
        universal: null,
        "rfc-email": null,
        date: TIME,
        "iso-8601": { optional: /^(date|hours|minutes|seconds|ns)$/ },
      },
    },
    atMost(1, allMatch(/^\+/, "a +FORMAT")),
  ),
  // -c/-C clear the ring buffer, -D/-E/-n change console logging, -w follows forever.
  dmesg: opts(
    {
      flags: "Tktxdreu",
      valued: { l: /^[a-z,]+$/, f: /^[a-z,]+$/ },
      long: {
        ctime: null,
        kernel: null,
        userspace: null,
        decode: null,
        raw: null,
        notime: null,
        reltime: null,
        "show-delta": null,
        level: /^[a-z,]+$/,
        facility: /^[a-z,]+$/,
        "time-format": /^(delta|reltime|ctime|notime|iso|raw)$/,
        nopager: null,
      },
    },
    none,
  ),
  // Reads only: --vacuum-*, --rotate, --flush, --sync, --relinquish-var, --setup-keys, --update-catalog and
  // --cursor-file write; -f follows forever; file/directory options read other journals.
  journalctl: opts(
    {
      flags: "kqrxmabe",
      valued: {
        u: UNIT,
        n: /^(\+?[0-9]+|all)$/,
        p: /^[a-z0-9.]+$/,
        o: SYSTEMCTL_OUTPUT,
        S: TIME,
        U: TIME,
        g: ANY,
        t: UNIT,
      },
      long: {
        unit: UNIT,
        lines: /^(\+?[0-9]+|all)$/,
        priority: /^[a-z0-9.]+$/,
        output: SYSTEMCTL_OUTPUT,
        since: TIME,
        until: TIME,
        grep: ANY,
        identifier: UNIT,
        "no-pager": null,
        "no-hostname": null,
        utc: null,
        reverse: null,
        quiet: null,
        dmesg: null,
        boot: null,
        all: null,
        catalog: null,
        merge: null,
        "pager-end": null,
        "list-boots": null,
      },
    },
    none,
  ),
  systemctl: verbs(
    {
      status: opts(
        {
          flags: "la",
          valued: { n: NUM, o: SYSTEMCTL_OUTPUT },
          long: { "no-pager": null, full: null, all: null, lines: NUM, output: SYSTEMCTL_OUTPUT },
        },
        unitOperands,
      ),
      "is-active": opts({ flags: "q", long: { quiet: null } }, unitOperands),
      "is-enabled": opts({ flags: "q", long: { quiet: null } }, unitOperands),
      "is-failed": opts({ flags: "q", long: { quiet: null } }, unitOperands),
      "list-units": listing,
      "list-unit-files": listing,
      "list-timers": listing,
      "list-sockets": listing,
      show: opts(
        {
          flags: "a",
          valued: { p: /^[A-Za-z,]+$/ },
          long: { property: /^[A-Za-z,]+$/, value: null, all: null, "no-pager": null },
        },
        unitOperands,
      ),
      cat: opts({ long: { "no-pager": null } }, unitOperands),
    },
    true,
  ),
  docker: verbs(
    {
      ps: opts(
        {
          flags: "aqls",
          valued: { n: NUM, f: ANY },
          long: {
            all: null,
            quiet: null,
            latest: null,
            size: null,
            "no-trunc": null,
            last: NUM,
            filter: ANY,
            format: ANY,
          },
        },
        none,
      ),
      logs: opts(
        {
          flags: "t",
          valued: { n: /^([0-9]+|all)$/ },
          long: { tail: /^([0-9]+|all)$/, since: TIME, until: TIME, timestamps: null, details: null },
        },
        (ops, _p, prog) =>
          ops.length === 1 && NAME.test(ops[0] ?? "") ? null : `${prog} takes exactly one container name`,
      ),
      inspect: opts(
        {
          flags: "s",
          valued: { f: ANY },
          long: { format: ANY, size: null, type: /^(container|image|network|volume)$/ },
        },
        allMatch(/^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$/, "a container or image name"),
      ),
      images: opts(
        { flags: "aq", long: { all: null, quiet: null, "no-trunc": null, digests: null, filter: ANY, format: ANY } },
        atMost(1, allMatch(/^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$/, "an image name")),
      ),
      version: opts({ long: { format: ANY } }, none),
      info: opts({ long: { format: ANY } }, none),
    },
    false,
  ),
  ip: ipCheck,
  // -K/--kill closes sockets, -D/--diag writes a file, -F reads one, -N enters a namespace, -E waits forever.
  ss: opts(
    {
      flags: "tulnpaxs46eimoHrwO",
      long: {
        tcp: null,
        udp: null,
        listening: null,
        numeric: null,
        processes: null,
        all: null,
        unix: null,
        summary: null,
        ipv4: null,
        ipv6: null,
        extended: null,
        info: null,
        memory: null,
        options: null,
        "no-header": null,
        resolve: null,
        raw: null,
        oneline: null,
      },
    },
    none,
  ),
  find: findCheck,
  // With a second operand, uniq writes its output there.
  uniq: opts(
    {
      flags: "cdiuD",
      valued: { f: NUM, s: NUM, w: NUM },
      long: {
        count: null,
        repeated: null,
        "ignore-case": null,
        unique: null,
        "skip-fields": NUM,
        "skip-chars": NUM,
        "check-chars": NUM,
      },
    },
    atMost(1, contentPaths),
  ),
  cut: opts(
    {
      flags: "s",
      valued: { d: ANY, f: /^[0-9,-]+$/, c: /^[0-9,-]+$/, b: /^[0-9,-]+$/ },
      long: {
        delimiter: ANY,
        fields: /^[0-9,-]+$/,
        characters: /^[0-9,-]+$/,
        bytes: /^[0-9,-]+$/,
        "only-delimited": null,
        complement: null,
        "output-delimiter": ANY,
      },
    },
    contentPaths,
  ),
  echo: () => null,
  which: opts({ flags: "a" }, allMatch(NAME, "a program name")),
  readlink: opts({
    flags: "fenmqsvz",
    long: {
      canonicalize: null,
      "canonicalize-existing": null,
      "canonicalize-missing": null,
      "no-newline": null,
      quiet: null,
      silent: null,
      verbose: null,
      zero: null,
    },
  }),
  realpath: opts({
    flags: "emsqLPz",
    long: {
      "canonicalize-existing": null,
      "canonicalize-missing": null,
      "no-symlinks": null,
      strip: null,
      quiet: null,
      logical: null,
      physical: null,
      zero: null,
    },
  }),
  lsblk: opts(
    {
      flags: "afmplbdnrJ",
      valued: { o: /^[A-Za-z,:-]+$/ },
      long: {
        all: null,
        fs: null,
        perms: null,
        paths: null,
        list: null,
        bytes: null,
        nodeps: null,
        noheadings: null,
        raw: null,
        json: null,
        output: /^[A-Za-z,:-]+$/,
      },
    },
    none,
  ),
  nproc: opts({ long: { all: null } }, none),
  who: opts({ flags: "abHqu", long: { all: null, boot: null, heading: null, count: null, users: null } }, none),
  w: opts(
    { flags: "hsuif", long: { "no-header": null, short: null, "ip-addr": null, from: null } },
    atMost(1, allMatch(NAME, "a user name")),
  ),
  // Only listing: with a file operand crontab installs it, -e edits, -r removes.
  crontab: (args, prog) => (args.length === 1 && args[0] === "-l" ? null : `only \`${prog} -l\` is read-only`),
};

/** The allowlisted program names (documentation and tests). */
export const READ_ONLY_PROGRAMS = Object.keys(ALLOWLIST).sort();

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
  if (headEnd > 0 && /[\uD800-\uDBFF]/.test(text.charAt(headEnd - 1))) headEnd--;
  if (tailStart < text.length && /[\uDC00-\uDFFF]/.test(text.charAt(tailStart))) tailStart++;
  return text.slice(0, headEnd) + marker(tailStart - headEnd) + text.slice(tailStart);
}
