// Shell command lines parsed by a maintained parser (tree-sitter-bash, through web-tree-sitter), never by a
// hand tokenizer. Two readings:
//
// - parsePlain: the strict "safe grammar" the read-only classifier accepts. The tree is walked with an
//   allowlist of node types; anything else (expansions, substitutions, globs, braces, heredocs, here-strings,
//   assignments, subshells, functions, `!`, `&`, comments, redirections other than to /dev/null or 2>&1, …)
//   is refused with a reason. What it returns is each simple command's argv after quote removal, exactly as
//   the shell would pass it.
// - commandWords: every command anywhere in the tree (inside substitutions too), best effort, for the
//   owner's deny rules, which must err towards matching.
//
// The grammar is loaded once at module initialisation (top-level await), so callers stay synchronous.
import { createRequire } from "node:module";
import { Language, type Node, Parser } from "web-tree-sitter";

const require = createRequire(import.meta.url);
await Parser.init();
const bash = await Language.load(require.resolve("tree-sitter-bash/tree-sitter-bash.wasm"));
const parser = new Parser();
parser.setLanguage(bash);

/** Longer lines are asked: diagnostic commands are short, and parse time grows with length. */
export const MAX_LINE = 4096;

export type PlainParse = { ok: true; commands: string[][] } | { ok: false; reason: string };

/** Characters an unquoted word may hold and still mean only itself (no glob, brace, tilde, escape, `#`, `!`). */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** `~` and `~/path` (the home directory) are allowed as operands: the expansion is a path, never an option. */
const TILDE_WORD = /^~(\/[A-Za-z0-9_@%+=:,./-]*)?$/;
/** A program named by its name, or by its path in the system's own directories (not ./ls or /tmp/ls). */
const PROGRAM = /^(\/(usr\/)?s?bin\/)?[a-z0-9][a-z0-9._+-]*$/;

/** Parsing time allowed per line: pathological input (thousands of `<` or `|`) is refused, not waited for. */
const PARSE_BUDGET_MS = 1000;

function parse(line: string) {
  const deadline = performance.now() + PARSE_BUDGET_MS;
  // The typings say void; web-tree-sitter cancels the parse when the callback returns true (a function
  // returning a value is assignable to one typed as returning void, so no cast is needed).
  const progressCallback: () => void = () => performance.now() > deadline;
  const tree = parser.parse(line, null, { progressCallback });
  if (!tree) parser.reset();
  return tree;
}

export function parsePlain(line: string): PlainParse {
  if (line.length > MAX_LINE) return no("the command line is too long to check");
  // Tabs, newlines, carriage returns and other control characters: separators and display tricks the
  // person approving may not see. Only spaces separate words in the safe grammar.
  if (/[\x00-\x1f\x7f]/.test(line)) return no("the command line contains a control character (tab, newline, CR, …)");
  // Unicode spaces, bidi overrides and other invisible characters: the parser and bash may split differently
  // around them, and they can make the line look different to the person reading it.
  if (/[\p{Z}\p{Cf}]/u.test(line.replace(/ /g, "")))
    return no("the command line contains an invisible or unusual space character");
  if (!line.trim()) return no("empty command");
  const tree = parse(line);
  if (!tree) return no("the command line is too complex to check");
  try {
    if (tree.rootNode.hasError) return no("the command line does not parse cleanly");
    const commands: string[][] = [];
    const reason = program(tree.rootNode, commands);
    if (reason) return no(reason);
    if (!commands.length) return no("empty command");
    return { ok: true, commands };
  } finally {
    tree.delete();
  }
}

const no = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

function program(node: Node, out: string[][]): string | null {
  for (const child of node.children) {
    if (!child) continue;
    if (child.isMissing) return "the command line is incomplete";
    if (!child.isNamed) {
      if (child.type === ";") continue;
      return `'${child.type}' is not allowed (only && || ; | join commands)`;
    }
    const r = statement(child, out);
    if (r) return r;
  }
  return null;
}

function statement(node: Node, out: string[][]): string | null {
  if (node.isMissing) return "the command line is incomplete";
  switch (node.type) {
    case "list":
      for (const child of node.children) {
        if (!child) continue;
        if (!child.isNamed) {
          if (child.type === "&&" || child.type === "||") continue;
          return `'${child.type}' is not allowed`;
        }
        const r = statement(child, out);
        if (r) return r;
      }
      return null;
    case "pipeline":
      for (const child of node.children) {
        if (!child) continue;
        if (!child.isNamed) {
          if (child.type === "|") continue;
          return `'${child.type}' is not allowed in a pipeline`;
        }
        const r = statement(child, out);
        if (r) return r;
      }
      return null;
    case "redirected_statement": {
      const body = node.childForFieldName("body");
      if (!body || body.type !== "command") return "only a simple command may be redirected";
      for (const child of node.children) {
        if (!child || child.id === body.id) continue;
        const r = child.type === "file_redirect" ? redirect(child) : `${child.type} is not allowed`;
        if (r) return r;
      }
      return command(body, out);
    }
    case "command":
      return command(node, out);
    case "comment":
      return "a comment may hide part of the command from the person reading it";
    default:
      return `${node.type.replace(/_/g, " ")} is not allowed in a read-only command`;
  }
}

/** Only `>/dev/null`, `2>/dev/null`, `1>/dev/null`, and duplicating stdout/stderr onto each other (`2>&1`, `>&2`). */
function redirect(node: Node): string | null {
  // `x 0>/dev/null`: the grammar may read `0` as an argument where bash reads a descriptor. A redirection
  // glued to the word before it is ambiguous, so it is refused rather than guessed.
  const before = node.previousSibling;
  if (before && before.endIndex === node.startIndex)
    return `the redirection ${node.text} is glued to the word before it (write a space before it)`;
  let fd: string | null = null;
  let op: string | null = null;
  let target: Node | null = null;
  for (const child of node.children) {
    if (!child) continue;
    if (child.type === "file_descriptor") fd = child.text;
    else if (!child.isNamed) op = child.type;
    // The grammar folds words after a redirection into it as further destinations (`2>&3 -n 1`): bash passes
    // them to the program, so they would escape the allowlist. Only one destination is accepted.
    else if (target) return `words after the redirection ${node.text} are not allowed (put redirections last)`;
    else target = child;
  }
  if (fd !== null && fd !== "1" && fd !== "2") return `redirecting descriptor ${fd} is not allowed`;
  if (op === ">" && target?.type === "word" && target.text === "/dev/null") return null;
  if (op === ">&" && target?.type === "number" && (target.text === "1" || target.text === "2")) return null;
  return `the redirection ${node.text} may write a file (only >/dev/null, 2>/dev/null and 2>&1 are allowed)`;
}

function command(node: Node, out: string[][]): string | null {
  const argv: string[] = [];
  for (const child of node.children) {
    if (!child) continue;
    if (child.isMissing) return "the command line is incomplete";
    if (child.type === "command_name") {
      const name = child.namedChildren[0];
      if (child.namedChildCount !== 1 || !name || name.type !== "word" || !PROGRAM.test(name.text)) {
        return `the program name ${child.text} is not a plain name`;
      }
      argv.push(name.text);
    } else if (child.type === "file_redirect") {
      const r = redirect(child);
      if (r) return r;
    } else if (child.isNamed) {
      if (!argv.length) return `${child.type.replace(/_/g, " ")} before the program is not allowed`;
      const value = wordValue(child);
      if (typeof value !== "string") return value.reason;
      argv.push(value);
    } else {
      return `'${child.type}' is not allowed`;
    }
  }
  if (!argv.length) return "a command without a program";
  out.push(argv);
  return null;
}

/** The literal value of an argument, or why it is not a literal. */
function wordValue(node: Node, inConcatenation = false): string | { reason: string } {
  switch (node.type) {
    case "word":
      if (PLAIN_WORD.test(node.text) || (!inConcatenation && TILDE_WORD.test(node.text))) return node.text;
      return {
        reason: `the word ${node.text} has shell meaning (glob, brace, escape, tilde or other special character)`,
      };
    case "number":
      if (/^-?[0-9]+$/.test(node.text)) return node.text;
      return { reason: `the number ${node.text} is not a plain number` };
    case "raw_string":
      return node.text.slice(1, -1);
    case "string": {
      let value = "";
      for (const child of node.children) {
        if (!child) continue;
        if (!child.isNamed && child.type === '"') continue;
        // Inside double quotes only plain text: no $, backtick or backslash (each can expand or escape).
        if (child.type !== "string_content" || /[$`\\]/.test(child.text))
          return { reason: `the quoted string ${node.text} expands or escapes something` };
        value += child.text;
      }
      return value;
    }
    case "concatenation": {
      let value = "";
      for (const child of node.children) {
        if (!child) continue;
        const v = wordValue(child, true);
        if (typeof v !== "string") return v;
        value += v;
      }
      return value;
    }
    default:
      return { reason: `${node.type.replace(/_/g, " ")} is not allowed in a read-only command` };
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Every simple command anywhere in the line (pipelines, lists, substitutions, subshells, function bodies),
 * as words with quotes and backslashes removed — best effort, for deny rules. The line split on blanks and
 * shell operators is added as one more candidate, so a line the grammar cannot read is still matched.
 */
export function commandWords(line: string): string[][] {
  const out: string[][] = [];
  const text = line.slice(0, 100_000);
  const tree = parse(text);
  if (tree) {
    try {
      const stack: Node[] = [tree.rootNode];
      for (let node = stack.pop(); node; node = stack.pop()) {
        if (node.type === "command") {
          const words: string[] = [];
          for (const child of node.namedChildren) {
            if (!child) continue;
            if (
              child.type === "command_name" ||
              /^(word|string|raw_string|concatenation|number|ansi_c_string)$/.test(child.type)
            )
              words.push(unquote(child.text));
          }
          if (words.length) out.push(words);
        }
        for (const child of node.namedChildren) if (child) stack.push(child);
      }
    } finally {
      tree.delete();
    }
  }
  for (const part of text.split(/[;&|\n\r()`]+|\$\(/)) {
    const words = part.split(/[\s]+/).filter(Boolean).map(unquote).filter(Boolean);
    if (words.length) out.push(words);
  }
  return out;
}

/** Quote and backslash removal, roughly as the shell does it (enough to see through `r''m` and `\rm`). */
function unquote(text: string): string {
  return text.replace(/^\$'/, "'").replace(/\\(.)/g, "$1").replace(/["']/g, "");
}
