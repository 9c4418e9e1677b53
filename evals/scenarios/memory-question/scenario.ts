// A question about the server: its total and available memory. The one scenario whose verifier reads the
// agent's answer — and judges it against /proc/meminfo, which the verifier reads from the server itself
// through Bosun. Any unit is accepted (kB, MiB, GB, …, binary or decimal).
import { approveAll, checks, type Scenario } from "../../scenario.ts";

const UNITS: Record<string, [number, number]> = {
  // [binary, decimal] bytes per unit: "MB" is ambiguous in practice, so either reading may match.
  k: [1024, 1000],
  m: [1024 ** 2, 1e6],
  g: [1024 ** 3, 1e9],
};

/** Every quantity with a memory unit in the text, in bytes (both readings). */
export function quantities(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/(\d[\d,]*(?:\.\d+)?)\s*(k|m|g)(?:i?b)?\b/gi)) {
    const n = Number(m[1]!.replace(/,/g, ""));
    const [bin, dec] = UNITS[m[2]!.toLowerCase()]!;
    out.push(n * bin, n * dec);
  }
  return out;
}

const scenario: Scenario = {
  name: "memory-question",
  kind: "instance_operator",
  instruction: "How much memory does this server have in total, and how much of it is available right now?",
  budget: { steps: 6, costUsd: 0.3, wallSeconds: 120 },
  approvals: approveAll,
  async setup() {},
  async verify(w, facts) {
    const c = checks();
    const meminfo = (await w.exec("cat /proc/meminfo")).stdout;
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1]) * 1024;
    const total = kb("MemTotal");
    const available = kb("MemAvailable");
    const said = quantities(facts.finalText);
    c.check(
      said.some((q) => Math.abs(q - total) <= total * 0.02),
      `the answer states the total memory (${Math.round(total / 2 ** 20)} MiB, within 2%)`,
    );
    // Available memory moves while the trial runs; allow a swing of 15% of the total.
    c.check(
      said.some((q) => Math.abs(q - available) <= total * 0.15),
      `the answer states the available memory (${Math.round(available / 2 ** 20)} MiB now, within 15% of the total)`,
    );
    return c.verdict();
  },
};
export default scenario;
