// `npm run bench [-- suite ...]`: Bosun's benchmarks, each a ratio against a baseline measured in the same run.
// With no suite named, all of them run, one after another. Each suite reads DATABASE_URL: on a Postgres URL it
// works in a fresh database of that server (dropped afterwards), otherwise on embedded PGlite.
const suites: Record<string, () => Promise<{ default: () => Promise<void> }>> = {
  api: () => import("./api.ts"), // list_projects over REST and MCP vs a bare Hono + pg route
  billing: () => import("./billing.ts"), // holds + settles vs plain single-row UPDATEs
  agent: () => import("./agent.ts"), // the runner's overhead per step vs the raw model round trip
  sites: () => import("./sites.ts"), // publish 5,000 vs 50 files; serving a 10 KB page vs bare node:http
  instances: () => import("./instances.ts"), // run_command("true") pooled vs ssh -S ControlMaster vs fresh ssh
  workers: () => import("./workers.ts"), // hello world via Bosun vs workerd direct; deploy-to-live; 50 workers vs 1
  events: () => import("./events.ts"), // webhook deliveries to 100 endpoints vs bare signed POSTs; p99 event → delivery
  audit: () => import("./audit.ts"), // list_audit_events at 5M (or BENCH_AUDIT_ROWS) rows vs 10k; DROP of a month vs DELETE
};

const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in suites));
if (unknown.length) {
  process.stderr.write(`unknown bench suite: ${unknown.join(", ")} (have: ${Object.keys(suites).join(", ")})\n`);
  process.exit(2);
}
for (const name of asked.length ? asked : Object.keys(suites)) {
  process.stdout.write(`\n== ${name}\n`);
  await (await suites[name]!()).default();
}
