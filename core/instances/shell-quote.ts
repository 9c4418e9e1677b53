// The one way a value we were given becomes part of a remote shell command: every argument is single-quoted,
// so a path, unit name or grep pattern is always one argument and never shell text. (run_command's own
// `command` is shell text by design; it too is passed quoted, as the single argument of `sh -c`.)

/** POSIX single-quoting: safe for any string without NUL (the invoker refuses NUL in every input). */
export function shq(value: string): string {
  if (value.includes("\u0000")) throw new Error("a shell argument cannot contain NUL");
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A command line from an argv, each word quoted. */
export const shellArgs = (argv: readonly string[]) => argv.map(shq).join(" ");
