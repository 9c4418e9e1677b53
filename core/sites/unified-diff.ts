// A unified diff of two texts (the `diff -u` format people and models read), for reviewing proposals.
// Myers' O(ND) line diff: a proposal usually changes a few lines of a file, so D is small.

/** Past this many changed lines the diff is not worth its cost: the answer says so instead. */
const MAX_EDIT_DISTANCE = 4000;

type Op = { kind: " " | "-" | "+"; line: string };

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** The edit script turning a into b, or null when they differ in more than MAX_EDIT_DISTANCE lines. */
function editScript(a: string[], b: string[]): Op[] | null {
  const n = a.length;
  const m = b.length;
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  const offset = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    const next = v.slice();
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0))) x = v[offset + k + 1] ?? 0;
      else x = (v[offset + k - 1] ?? 0) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      next[offset + k] = x;
      if (x >= n && y >= m) return backtrack(a, b, [...trace, next], offset);
    }
    v = next;
  }
  return null;
}

function backtrack(a: string[], b: string[], trace: Int32Array[], offset: number): Op[] {
  const ops: Op[] = [];
  let x = a.length;
  let y = b.length;
  for (let d = trace.length - 2; d >= 0; d--) {
    const v = trace[d] ?? new Int32Array(0);
    const k = x - y;
    const prevK = k === -d || (k !== d && (v[offset + k - 1] ?? 0) < (v[offset + k + 1] ?? 0)) ? k + 1 : k - 1;
    const prevX = v[offset + prevK] ?? 0;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) ops.push({ kind: " ", line: a[--x] ?? "" }), y--;
    if (d > 0) {
      if (x === prevX) ops.push({ kind: "+", line: b[--y] ?? "" });
      else ops.push({ kind: "-", line: a[--x] ?? "" });
    }
  }
  while (x > 0 && y > 0) ops.push({ kind: " ", line: a[--x] ?? "" }), y--;
  return ops.reverse();
}

/**
 * `--- a/path` / `+++ b/path` and hunks with `context` lines around each change; "" when the texts are equal.
 * `before` null: the file is new; `after` null: it is deleted.
 */
export function unifiedDiff(path: string, before: string | null, after: string | null, context = 3): string {
  const a = splitLines(before ?? "");
  const b = splitLines(after ?? "");
  const header = `--- ${before === null ? "/dev/null" : `a/${path}`}\n+++ ${after === null ? "/dev/null" : `b/${path}`}\n`;
  const ops = editScript(a, b);
  if (!ops) return `${header}@@ too many changed lines to show (${a.length} → ${b.length} lines) @@\n`;
  if (!ops.some((o) => o.kind !== " ")) return "";
  const out: string[] = [];
  let i = 0;
  // Line numbers (1-based) of ops[i] in a and b.
  const posA: number[] = [];
  const posB: number[] = [];
  let la = 1;
  let lb = 1;
  for (const o of ops) {
    posA.push(la);
    posB.push(lb);
    if (o.kind !== "+") la++;
    if (o.kind !== "-") lb++;
  }
  while (i < ops.length) {
    while (i < ops.length && ops[i]?.kind === " ") i++;
    if (i >= ops.length) break;
    const start = Math.max(0, i - context);
    let end = i;
    // Extend over changes closer than 2 × context to each other: one hunk.
    for (;;) {
      while (end < ops.length && ops[end]?.kind !== " ") end++;
      let j = end;
      while (j < ops.length && ops[j]?.kind === " " && j - end < 2 * context) j++;
      if (j < ops.length && ops[j]?.kind !== " ") end = j;
      else break;
    }
    const stop = Math.min(ops.length, end + context);
    const hunk = ops.slice(start, stop);
    const countA = hunk.filter((o) => o.kind !== "+").length;
    const countB = hunk.filter((o) => o.kind !== "-").length;
    const startA = countA ? (posA[start] ?? 1) : (posA[start] ?? 1) - 1;
    const startB = countB ? (posB[start] ?? 1) : (posB[start] ?? 1) - 1;
    out.push(`@@ -${startA},${countA} +${startB},${countB} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
    i = stop;
  }
  return `${header}${out.join("\n")}\n`;
}
