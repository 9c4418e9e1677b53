// Exact-string replacement, the one edit primitive agents use on text (site draft files now, instance files
// later). Pure: no I/O, no Bosun types, so any domain can wrap it and map a refusal to its own error.

export type EditOutcome =
  | { ok: true; text: string /** 1-based line where the replacement starts */; line: number; snippet: string }
  | { ok: false; occurrences: number; reason: string };

/** Lines around the edit (in the new text), numbered, so a caller can check the result without re-reading. */
export function snippetAround(text: string, startLine: number, endLine: number, context = 3): string {
  const lines = text.split("\n");
  const from = Math.max(1, startLine - context);
  const to = Math.min(lines.length, endLine + context);
  const width = String(to).length;
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(`${String(n).padStart(width)}| ${lines[n - 1]}`);
  return out.join("\n");
}

/** Counts non-overlapping occurrences, stopping early past `stopAt` (only 0, 1 or "more" matter to callers). */
export function countOccurrences(text: string, needle: string, stopAt = Infinity): number {
  if (!needle) return 0;
  let count = 0;
  for (let i = text.indexOf(needle); i !== -1 && count < stopAt; i = text.indexOf(needle, i + needle.length)) count++;
  return count;
}

/**
 * Replaces `oldStr` with `newStr` when it occurs exactly once. Zero or several occurrences are refused with
 * the count, because guessing which one was meant is how an agent silently breaks a file.
 */
export function exactReplace(text: string, oldStr: string, newStr: string, context = 3): EditOutcome {
  if (oldStr === "") return { ok: false, occurrences: 0, reason: "old_str must not be empty" };
  const occurrences = countOccurrences(text, oldStr);
  if (occurrences !== 1) {
    return {
      ok: false,
      occurrences,
      reason:
        occurrences === 0
          ? "old_str was not found (it must match exactly, including whitespace and indentation)"
          : `old_str occurs ${occurrences} times; include more surrounding text so it occurs exactly once`,
    };
  }
  const at = text.indexOf(oldStr);
  const result = text.slice(0, at) + newStr + text.slice(at + oldStr.length);
  const line = text.slice(0, at).split("\n").length;
  const endLine = line + Math.max(0, newStr.split("\n").length - 1);
  return { ok: true, text: result, line, snippet: snippetAround(result, line, endLine, context) };
}
