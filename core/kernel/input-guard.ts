// Checks every input gets before its schema sees it, on every surface (the invoker runs it; the sites
// listener's form posts too): bounded nesting, field names without control characters, and strings Postgres
// can store. Iterative, so no input can exhaust the stack, however deep; each issue names its field.
import type { FieldIssue } from "./errors.ts";

/** Containers inside the input object, at most. No operation's input comes near; a JSON bomb does. */
export const MAX_INPUT_DEPTH = 32;
const MAX_ISSUES = 20;
// C0 controls (NUL included), DEL and C1 controls: no field name has them; a name with them would also be
// logged and audited as is.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// A high surrogate not followed by a low one, or a low one not preceded by a high one (no `u` flag: by code unit).
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);

/** A field name as an issue path shows it: control characters escaped, so the path is readable and safe. */
const shown = (key: string) => (CONTROL.test(key) || !wellFormed(key) ? JSON.stringify(key).slice(1, -1) : key);

export function inputIssues(value: unknown, maxDepth = MAX_INPUT_DEPTH): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  for (let top = stack.pop(); top && issues.length < MAX_ISSUES; top = stack.pop()) {
    const { value: v, path } = top;
    if (typeof v === "string") {
      // Postgres text and jsonb cannot hold U+0000, and jsonb refuses a lone surrogate: refuse them as the
      // caller's error naming the field, not as a database failure after part of the work is done.
      if (v.includes("\u0000")) issues.push({ path: path.join("."), message: "must not contain NUL characters" });
      else if (!wellFormed(v))
        issues.push({ path: path.join("."), message: "must be valid Unicode (it has a lone surrogate)" });
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (path.length >= maxDepth) {
      issues.push({ path: path.join("."), message: `is nested too deeply (at most ${maxDepth} levels)` });
      continue;
    }
    const entries = Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, child] = entries[i] ?? ["", undefined]; // i < length
      if (!Array.isArray(v) && (CONTROL.test(key) || !wellFormed(key))) {
        issues.push({
          path: [...path, shown(key)].join("."),
          message: "field names must not contain control characters",
        });
        continue;
      }
      stack.push({ value: child, path: [...path, key] });
    }
  }
  return issues.slice(0, MAX_ISSUES);
}
