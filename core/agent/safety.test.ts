import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { capOutput, classifyCommand, isReadOnlyCommand, READ_ONLY_PROGRAMS, redact } from "./safety.ts";
import { DANGEROUS, SAFE } from "./safety-corpus.ts";

describe("classifyCommand: the corpus", () => {
  it("holds at least 300 lines, safe and dangerous", () => {
    const dangerous = Object.values(DANGEROUS).flat();
    expect(SAFE.length + dangerous.length).toBeGreaterThanOrEqual(300);
    expect(SAFE.length).toBeGreaterThanOrEqual(100);
  });

  it.each(SAFE)("auto-approved: %j", (line) => {
    expect(classifyCommand(line)).toEqual({
      readOnly: true,
      reason: "every part of the command is on the read-only allowlist",
    });
  });

  const dangerous = Object.entries(DANGEROUS).flatMap(([cls, lines]) => lines.map((line) => [cls, line] as const));
  it.each(dangerous)("asked (%s): %j", (_cls, line) => {
    const verdict = classifyCommand(line);
    expect(verdict.readOnly).toBe(false);
    expect(verdict.reason.length).toBeGreaterThan(0);
    expect(isReadOnlyCommand(line)).toBe(false);
  });
});

describe("classifyCommand: reasons a person can act on", () => {
  it.each([
    ["sort --out=x", /sort is not on the read-only allowlist/],
    ["ls --colo=always", /--colo is not an allowed option.*abbreviations/],
    ["journalctl --vacuum-time=1s", /--vacuum-time is not an allowed option/],
    ["ss -K dst 1.2.3.4", /ss -K is not an allowed option/],
    ["systemctl --now restart nginx", /options before the subcommand/],
    ["systemctl restart nginx", /systemctl restart is not a read-only subcommand/],
    ["docker -H x run y", /options before the subcommand/],
    ["uniq a b", /more than 1 operand/],
    ["hostname evil", /takes no operands/],
    ["date 010100002020", /not a \+FORMAT/],
    ["find / -delete", /-delete is not an allowed expression/],
    ["cat <<EOF\nrm -rf /\nEOF", /control character/],
    ["cat <<EOF", /heredoc|parse/],
    ["cat <<< x", /herestring|redirect|parse/],
    ["FOO=bar ls", /variable assignment/],
    ["ls > x", /redirection > x may write a file/],
    ["ls *.log", /shell meaning/],
    ["echo $(id)", /command substitution/],
    ["cat <(id)", /process substitution/],
    ["ls # x", /comment/],
    ["cat /dev/watchdog", /device/],
    ["/tmp/ls", /not a plain name/],
  ])("%j", (line, why) => {
    expect(classifyCommand(line).reason).toMatch(why);
  });

  it("lists a short allowlist without wrappers, interpreters, writers or network clients", () => {
    for (const never of [
      "sudo",
      "env",
      "xargs",
      "nice",
      "timeout",
      "awk",
      "sed",
      "tee",
      "sort",
      "curl",
      "wget",
      "dig",
      "host",
      "nslookup",
      "nc",
      "sh",
      "bash",
      "nginx",
    ]) {
      expect(READ_ONLY_PROGRAMS).not.toContain(never);
    }
    expect(READ_ONLY_PROGRAMS.length).toBeLessThan(50);
  });

  it("finishes quickly on hostile input", () => {
    const started = Date.now();
    expect(classifyCommand("ls " + "a".repeat(5_000)).reason).toMatch(/too long/);
    for (const line of [
      "$".repeat(4_000),
      "'".repeat(4_001),
      "${".repeat(2_000),
      "<".repeat(4_000),
      "a|".repeat(2_000),
      "(".repeat(4_000),
      "ls " + "x| ".repeat(1_300),
    ]) {
      expect(isReadOnlyCommand(line)).toBe(false);
    }
    // Lines are short and parsing has a time budget: pathological input is refused, not waited for.
    expect(Date.now() - started).toBeLessThan(7_000);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Property: safe commands are built by construction from templates (a program, a subset of its allowed option
// units, its fixed operands), joined by safe operators. Then options and operands that program must not take,
// and shell syntax, are inserted at word boundaries. The oracle is the construction itself: a line is in the
// safe grammar exactly when nothing was inserted, and the verdict must say read-only exactly then.

interface Template {
  head: string[];
  options: string[][];
  /** Fixed units at the end (an option with its value is one unit). */
  tail?: string[][];
  /** Options/operands that take this program out of its read-only forms, wherever they go after the program. */
  bad: string[][];
}

const TEMPLATES: Template[] = [
  {
    head: ["ls"],
    options: [["-l"], ["-a"], ["-h"], ["--all"], ["-t"]],
    tail: [["/var/log"]],
    bad: [["--colo=always"], ["-Z"], ["--hyperlink"], ["--al"]],
  },
  {
    head: ["cat"],
    options: [["-n"], ["-A"]],
    tail: [["/etc/hosts"]],
    bad: [
      ["/dev/watchdog"],
      ["/proc/1/fd/3"],
      ["--number-non"],
      ["-z"],
      ["/proc/kmsg"],
      ["/sys/kernel/tracing/trace_pipe"],
    ],
  },
  {
    head: ["head"],
    options: [["-n", "5"], ["-q"]],
    tail: [["/var/log/syslog"]],
    bad: [["--line=5"], ["/dev/sda"], ["-f"]],
  },
  {
    head: ["tail"],
    options: [["-n", "20"], ["-q"]],
    tail: [["/var/log/syslog"]],
    bad: [["-f"], ["-F"], ["--follow"], ["--pid=1"], ["/dev/ttyS0"]],
  },
  {
    head: ["grep"],
    options: [["-i"], ["-n"], ["-v"], ["-e", "error"]],
    tail: [["-e", "x"], ["/var/log/syslog"]],
    bad: [["--devices=read"], ["-D", "read"], ["-f", "/tmp/p"], ["--reg=x"], ["-R"], ["--dereference-recursive"]],
  },
  { head: ["uniq"], options: [["-c"], ["-d"]], tail: [["/var/log/x"]], bad: [["/tmp/out"], ["--coun"], ["-o"]] },
  {
    head: ["systemctl", "status"],
    options: [["--no-pager"], ["-l"], ["-n", "20"]],
    tail: [["nginx"]],
    bad: [["--now"], ["-H", "evil"], ["--host=x"], ["--user"], ["-M", "c"], ["--force"]],
  },
  {
    head: ["systemctl", "is-active"],
    options: [["--quiet"]],
    tail: [["nginx"]],
    bad: [["--now"], ["-H", "evil"], ["--runtime"]],
  },
  {
    head: ["journalctl"],
    options: [["-u", "nginx"], ["-n", "100"], ["--no-pager"], ["-p", "err"]],
    bad: [
      ["--vacuum-time=1s"],
      ["--rotate"],
      ["--flush"],
      ["--vac=1s"],
      ["-f"],
      ["--cursor-file=/tmp/x"],
      ["-D", "/tmp"],
      ["_PID=1"],
      ["--sync"],
    ],
  },
  {
    head: ["docker", "ps"],
    options: [["-a"], ["-q"], ["--no-trunc"]],
    bad: [["-H", "x"], ["--context", "c"], ["--output=x"], ["run"], ["--follow"]],
  },
  {
    head: ["docker", "logs"],
    options: [["--tail", "50"], ["-t"]],
    tail: [["web"]],
    bad: [["-f"], ["--follow"], ["db"], ["-H", "x"]],
  },
  {
    head: ["ss"],
    options: [["-t"], ["-l"], ["-n"], ["-p"], ["-tlnp"]],
    bad: [["-K"], ["--kill"], ["-D", "/tmp/x"], ["--diag=/tmp/x"], ["-E"], ["dst", "1.2.3.4"]],
  },
  { head: ["hostname"], options: [["-f"], ["-I"]], bad: [["newname"], ["-F", "/tmp/x"], ["-b"], ["--file=x"]] },
  {
    head: ["dmesg"],
    options: [["-T"], ["--level=err"]],
    bad: [["-C"], ["-c"], ["--clear"], ["-D"], ["-n", "1"], ["-w"]],
  },
  {
    head: ["date"],
    options: [["-u"], ["-d", "yesterday"]],
    tail: [["+%s"]],
    bad: [["-s", "2020-01-01"], ["010100002020"], ["--set=x"], ["-d", `'TZ="/dev/watchdog" now'`], ["-r", "/etc/x"]],
  },
  {
    head: ["find", "/var/log"],
    options: [
      ["-type", "f"],
      ["-mtime", "-1"],
      ["-name", "x.log"],
    ],
    bad: [["-delete"], ["-exec", "rm", "{}", "+"], ["-fprint", "/tmp/x"], ["-ok", "rm", ";"], ["-execdir", "id", ";"]],
  },
  { head: ["top"], options: [["-c"]], tail: [["-b"], ["-n", "1"]], bad: [["-E"], ["-O"]] },
  {
    head: ["ip"],
    options: [["-br"], ["-4"], ["-s"]],
    tail: [["addr"], ["show"]],
    bad: [["-b", "/tmp/x"], ["-batch", "x"], ["-n", "ns"], ["-force"], ["add", "1.2.3.4/24"]],
  },
  { head: ["df"], options: [["-h"], ["-T"], ["-i"]], bad: [["--outp=x"], ["--output=x"]] },
  { head: ["ps"], options: [["aux"], ["-ef"]], bad: [["e"], ["auxe"], ["--format=x", "-K"]] },
];

interface Syntax {
  text: string;
  /** Only before the program (elsewhere it would be a plain operand word). */
  prefixOnly?: boolean;
}
const SYNTAX: Syntax[] = [
  { text: "$(id)" },
  { text: "`id`" },
  { text: '"$HOME"' },
  { text: "$HOME" },
  { text: "${X:--delete}" },
  { text: "*" },
  { text: "x*" },
  { text: "{a,b}" },
  { text: "~root" },
  { text: "$'x'" },
  { text: "\\-la" },
  { text: "<(id)" },
  { text: ">(id)" },
  { text: "> /tmp/x" },
  { text: ">> /dev/null" },
  { text: "&> /dev/null" },
  { text: "< /etc/passwd" },
  { text: "<<EOF" },
  { text: "<<< x" },
  { text: "; rm -rf ~" },
  { text: "&& sh" },
  { text: "| sh" },
  { text: "&" },
  { text: "|&" },
  { text: "#c" },
  { text: "\n" },
  { text: "\t" },
  { text: "\r" },
  { text: "!" },
  { text: "(" },
  { text: ")" },
  { text: "2>&3" },
  { text: "FOO=1", prefixOnly: true },
  { text: "LD_PRELOAD=/tmp/x.so", prefixOnly: true },
  { text: "sudo", prefixOnly: true },
  { text: "env", prefixOnly: true },
  { text: "xargs", prefixOnly: true },
  { text: "timeout 5", prefixOnly: true },
];
const unescapeControl = (s: string) => s.replace(/^\\([ntr])$/, (_m, c: string) => ({ n: "\n", t: "\t", r: "\r" })[c]!);

type Insert = { at: number; words: string[]; prefixOnly?: boolean };
const commandArb = fc.constantFrom(...TEMPLATES).chain((t) =>
  fc.record({
    template: fc.constant(t),
    options: fc.shuffledSubarray(t.options),
    inserts: fc.array(
      fc.record({
        at: fc.nat(),
        item: fc.oneof(
          fc.constantFrom(...t.bad).map((words): Omit<Insert, "at"> => ({ words })),
          fc
            .constantFrom(...SYNTAX)
            .map((s): Omit<Insert, "at"> => ({ words: [unescapeControl(s.text)], prefixOnly: s.prefixOnly })),
        ),
      }),
      { maxLength: 2 },
    ),
  }),
);

function build(c: { template: Template; options: string[][]; inserts: { at: number; item: Omit<Insert, "at"> }[] }): {
  line: string;
  inserted: number;
} {
  const units: string[][] = [...c.template.head.map((w) => [w]), ...c.options, ...(c.template.tail ?? [])];
  for (const { at, item } of c.inserts) {
    const where = item.prefixOnly ? 0 : 1 + (at % units.length); // bad options go after the program; syntax anywhere after it
    units.splice(where, 0, item.words);
  }
  return { line: units.flat().join(" "), inserted: c.inserts.length };
}

describe("classifyCommand: property", () => {
  it("safe-by-construction lines are read-only; any inserted option, operand or syntax makes them asked", () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { minLength: 1, maxLength: 3 }),
        fc.array(fc.constantFrom("&&", "||", ";", "|"), { minLength: 2, maxLength: 2 }),
        (commands, ops) => {
          const parts = commands.map(build);
          const line = parts.map((p, i) => (i ? `${ops[i - 1]} ${p.line}` : p.line)).join(" ");
          const inSafeGrammar = parts.every((p) => p.inserted === 0);
          expect(isReadOnlyCommand(line), line).toBe(inSafeGrammar);
        },
      ),
      { numRuns: 5_000 },
    );
  });
});

describe("redact", () => {
  it("removes secrets and pattern matches, longest secret first", () => {
    const text = "key=sk-ant-abcdef123456 token bsn_live_0123456789abcdefghij and sk-ant-abcdef123456-extended";
    const out = redact(text, ["sk-ant-abcdef123456", "sk-ant-abcdef123456-extended"], [/bsn_[a-z]+_[A-Za-z0-9]{20}/]);
    expect(out).toBe("key=[REDACTED] token [REDACTED] and [REDACTED]");
  });

  it("treats non-global patterns as global and ignores empty matches and trivial secrets", () => {
    expect(redact("a1 b2 a1", [], [/a1/])).toBe("[REDACTED] b2 [REDACTED]");
    expect(redact("abc", [], [/x*/g])).toBe("abc");
    expect(redact("abc abc", ["", "abc"], [])).toBe("abc abc");
  });

  it("redacts a private key block", () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    expect(
      redact(
        `before\n${key}\nafter`,
        [],
        [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g],
      ),
    ).toBe("before\n[REDACTED]\nafter");
  });
});

describe("capOutput", () => {
  it("leaves short output alone", () => {
    expect(capOutput("short", 100)).toBe("short");
    expect(capOutput("x".repeat(100), 100)).toBe("x".repeat(100));
  });

  it("keeps head and tail, says how much was cut, and stays within the cap", () => {
    const text = "HEAD" + "m".repeat(100_000) + "TAIL";
    const out = capOutput(text);
    expect(out.length).toBeLessThanOrEqual(30_000);
    expect(out.startsWith("HEAD")).toBe(true);
    expect(out.endsWith("TAIL")).toBe(true);
    const cut = Number(/\[… ([\d,]+) characters elided …\]/.exec(out)![1]!.replace(/,/g, ""));
    // What is kept plus the marker is the output: the count in the marker is exact.
    expect(text.length - cut + /\n\n\[…[^\]]*\]\n\n/.exec(out)![0].length).toBe(out.length);
  });

  it("does not split a surrogate pair", () => {
    const out = capOutput("😀".repeat(1_000), 101);
    expect(out.length).toBeLessThanOrEqual(101);
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});
