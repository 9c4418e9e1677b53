// Reports of a run: results.json (every trial), report.md (a table per model) and report.html (the same tables
// and bar charts of pass rate and cost per scenario per model, as inline SVG: viewable offline, nothing
// fetched). Each result names its source — live, scripted or recorded — because a scripted replay only shows
// the harness and the verifiers work: it says nothing about any model.
import fs from "node:fs";
import path from "node:path";
import type { EvalRun } from "./run.ts";
import type { Summary } from "./scoring.ts";

export const SOURCE_NOTE =
  "Sources: **live** — a real model answered; **recorded** — a replay of a transcript recorded from a real model; " +
  "**scripted** — a replay of a hand-written transcript, which only shows that the harness and the verifiers work and says nothing about any model's quality. " +
  "Costs are the real meter's prices of the tokens each run reported.";

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const usd = (micros: number) => `$${(micros / 1e6).toFixed(4)}`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function ks(run: EvalRun): number[] {
  return run.trialsPerScenario > 1 ? [1, run.trialsPerScenario] : [1];
}

function row(s: Summary, k: number[], first: string): string[] {
  return [
    first,
    s.sources.join(", "),
    `${s.passes}/${s.trials}`,
    ...k.map((x) => (s.passHat[x] === undefined ? "–" : pct(s.passHat[x]!))),
    num(s.meanSteps),
    `${Math.round(s.meanInputTokens)} / ${Math.round(s.meanOutputTokens)}`,
    usd(s.meanCostMicros),
    secs(s.meanWallMs),
  ];
}

function header(k: number[], first: string): string[] {
  return [
    first,
    "source",
    "passed",
    ...k.map((x) => `pass^${x}`),
    "mean steps",
    "mean tokens in / out",
    "mean cost",
    "mean wall",
  ];
}

function mdTable(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, "\\|");
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

export function markdownReport(run: EvalRun): string {
  const k = ks(run);
  const out: string[] = [
    `# Bosun evals — ${run.startedAt}`,
    "",
    SOURCE_NOTE,
    "",
    `${run.trialsPerScenario} trial(s) per scenario and model.`,
    "",
    "## Models",
    "",
  ];
  out.push(
    mdTable(
      header(k, "model"),
      run.summary.models.map((s) => row(s, k, s.model)),
    ),
    "",
  );
  for (const m of run.summary.models) {
    out.push(`## ${m.model}`, "");
    out.push(
      mdTable(
        header(k, "scenario"),
        run.summary.scenarios.filter((s) => s.model === m.model).map((s) => row(s, k, s.scenario!)),
      ),
      "",
    );
  }
  const failed = run.results.filter((r) => !r.pass);
  if (failed.length) {
    out.push("## Failures", "");
    for (const r of failed) out.push(`- **${r.model}** ${r.scenario} #${r.trial} (${r.source}): ${r.reason}`);
    out.push("");
  }
  return out.join("\n");
}

const escHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function htmlTable(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${escHtml(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escHtml(c)}</td>`).join("")}</tr>`)
    .join("")}</tbody></table>`;
}

const PALETTE = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568"];

/** A grouped bar chart: one group per scenario, one bar per model. */
export function barChart(
  title: string,
  scenarios: string[],
  models: string[],
  value: (scenario: string, model: string) => number | null,
  label: (v: number) => string,
  max?: number,
): string {
  const values = scenarios.flatMap((s) => models.map((m) => value(s, m) ?? 0));
  const top = max ?? Math.max(...values, 1e-9);
  const bar = 14;
  const gap = 10;
  const left = 190;
  const width = 420;
  const groupH = models.length * bar + gap;
  const height = 40 + scenarios.length * groupH + 20 + models.length * 16;
  const parts: string[] = [`<text x="0" y="16" font-weight="bold">${escHtml(title)}</text>`];
  scenarios.forEach((s, i) => {
    const y0 = 30 + i * groupH;
    parts.push(
      `<text x="${left - 6}" y="${y0 + (models.length * bar) / 2 + 4}" text-anchor="end">${escHtml(s)}</text>`,
    );
    models.forEach((m, j) => {
      const v = value(s, m);
      const w = v === null ? 0 : Math.max(1, (v / top) * width);
      const y = y0 + j * bar;
      parts.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${PALETTE[j % PALETTE.length]}"><title>${escHtml(`${m} — ${s}: ${v === null ? "no data" : label(v)}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${left + w + 4}" y="${y + bar - 4}" font-size="10">${v === null ? "–" : escHtml(label(v))}</text>`,
      );
    });
  });
  const legendY = 40 + scenarios.length * groupH;
  models.forEach((m, j) => {
    parts.push(
      `<rect x="${left}" y="${legendY + j * 16}" width="10" height="10" fill="${PALETTE[j % PALETTE.length]}"/><text x="${left + 16}" y="${legendY + j * 16 + 9}" font-size="11">${escHtml(m)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 80}" height="${height}" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="${escHtml(title)}">${parts.join("")}</svg>`;
}

export function htmlReport(run: EvalRun): string {
  const k = ks(run);
  const models = run.summary.models.map((m) => m.model);
  const scenarios = [...new Set(run.results.map((r) => r.scenario))];
  const find = (s: string, m: string) => run.summary.scenarios.find((x) => x.scenario === s && x.model === m);
  const body: string[] = [
    `<h1>Bosun evals — ${escHtml(run.startedAt)}</h1>`,
    `<p class="note">${escHtml(SOURCE_NOTE.replace(/\*\*/g, ""))}</p>`,
    `<p>${run.trialsPerScenario} trial(s) per scenario and model.</p>`,
    "<h2>Models</h2>",
    htmlTable(
      header(k, "model"),
      run.summary.models.map((s) => row(s, k, s.model)),
    ),
    "<h2>Per scenario</h2>",
    barChart("Pass rate (pass^1) per scenario", scenarios, models, (s, m) => find(s, m)?.passAt1 ?? null, pct, 1),
    barChart("Mean cost per trial", scenarios, models, (s, m) => find(s, m)?.meanCostMicros ?? null, usd),
  ];
  for (const m of models) {
    body.push(
      `<h2>${escHtml(m)}</h2>`,
      htmlTable(
        header(k, "scenario"),
        run.summary.scenarios.filter((s) => s.model === m).map((s) => row(s, k, s.scenario!)),
      ),
    );
  }
  const failed = run.results.filter((r) => !r.pass);
  if (failed.length) {
    body.push(
      "<h2>Failures</h2><ul>",
      ...failed.map(
        (r) =>
          `<li><b>${escHtml(r.model)}</b> ${escHtml(r.scenario)} #${r.trial} (${r.source}): ${escHtml(r.reason ?? "")}</li>`,
      ),
      "</ul>",
    );
  }
  const css =
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#1a202c}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #cbd5e0;padding:.3rem .6rem;text-align:left}" +
    "th{background:#edf2f7}.note{background:#fefcbf;padding:.6rem;border-radius:4px;max-width:60rem}svg{display:block;margin:1rem 0}";
  return `<!doctype html><html><head><meta charset="utf-8"><title>Bosun evals ${escHtml(run.startedAt)}</title><style>${css}</style></head><body>${body.join("\n")}</body></html>\n`;
}

export function writeReports(run: EvalRun, dir: string): { json: string; md: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    json: path.join(dir, "results.json"),
    md: path.join(dir, "report.md"),
    html: path.join(dir, "report.html"),
  };
  fs.writeFileSync(files.json, `${JSON.stringify(run, null, 2)}\n`);
  fs.writeFileSync(files.md, markdownReport(run));
  fs.writeFileSync(files.html, htmlReport(run));
  return files;
}

export function readRun(fileOrDir: string): EvalRun {
  const file =
    fs.existsSync(fileOrDir) && fs.statSync(fileOrDir).isDirectory() ? path.join(fileOrDir, "results.json") : fileOrDir;
  return JSON.parse(fs.readFileSync(file, "utf8")) as EvalRun;
}
