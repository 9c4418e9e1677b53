// `bosun workers deploy [dir] | tail | rollback`: a worker folder with a `bosun.json` (name, project, main,
// compatibility_date, vars, bindings, crons) is bundled with esbuild into one ES module and sent to deploy_worker
// over REST (BOSUN_URL, BOSUN_TOKEN), then the worker's cron triggers are made to match `crons`; tail follows
// tail_worker_logs; rollback calls rollback_worker.
import fs from "node:fs";
import path from "node:path";
import { build } from "esbuild";

export interface WorkerConfig {
  name: string;
  project: string;
  main: string;
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars?: Record<string, string>;
  bindings?: { name: string; type: "kv" | "bucket" | "sql"; resource: string }[];
  routes?: string[];
  /** Limits lower than the platform's, e.g. `{ "subrequests": 50 }`. */
  limits?: { subrequests?: number };
  /** Cron triggers: an expression (UTC) or `{ cron, timezone }`. The deploy makes the worker's triggers these. */
  crons?: (string | { cron: string; timezone?: string })[];
}

export interface Api {
  base: string;
  token: string | undefined;
  /** How requests are sent: the global fetch, or a test's app in process. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

const apiOf = (): Api => ({
  base: (process.env.BOSUN_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, ""),
  token: process.env.BOSUN_TOKEN,
});

async function call(api: Api, method: string, route: string, body?: unknown): Promise<any> {
  let res: Response;
  try {
    res = await (api.fetch ?? fetch)(`${api.base}/v1${route}`, {
      method,
      headers: {
        ...(api.token ? { authorization: `Bearer ${api.token}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new Error(`cannot reach Bosun at ${api.base} (${(err as Error).message}); is BOSUN_URL right?`);
  }
  const json = (await res.json().catch(() => ({}))) as { error?: { message: string } };
  if (!res.ok) throw new Error(json.error?.message ?? `${method} ${route}: ${res.status}`);
  return json;
}

export function readWorkerConfig(dir: string): WorkerConfig {
  const file = path.join(dir, "bosun.json");
  if (!fs.existsSync(file)) throw new Error(`${file} not found: a worker folder needs a bosun.json`);
  const config = JSON.parse(fs.readFileSync(file, "utf8")) as WorkerConfig;
  for (const field of ["name", "project", "main"] as const)
    if (!config[field]) throw new Error(`bosun.json: "${field}" is required`);
  return config;
}

/** One ES module from the folder's entry point (imports inlined), as deploy_worker takes it. */
export async function bundleWorker(dir: string, config: WorkerConfig): Promise<string> {
  const out = await build({
    entryPoints: [path.join(dir, config.main)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    logLevel: "silent",
    external: ["cloudflare:*", "node:*"],
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error("esbuild produced nothing");
  return file.text;
}

export async function deployWorkerDir(
  dir = ".",
  log: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
  api: Api = apiOf(),
) {
  const config = readWorkerConfig(dir);
  log(`bundling ${config.main}…`);
  const code = await bundleWorker(dir, config);
  log(`bundled ${Buffer.byteLength(code)} bytes; deploying ${config.name} to ${config.project}…`);
  const result = await call(api, "POST", `/projects/${config.project}/workers/${config.name}/deployments`, {
    modules: [{ name: "worker.js", content: code }],
    main_module: "worker.js",
    compatibility_date: config.compatibility_date ?? "2025-01-01",
    compatibility_flags: config.compatibility_flags ?? [],
    vars: config.vars ?? {},
    bindings: config.bindings ?? [],
    routes: config.routes ?? [],
    ...(config.limits ? { limits: config.limits } : {}),
  });
  log(
    `${result.created ? "deployed" : "already deployed"} version ${String(result.version.hash).slice(0, 12)} in ${result.deploy_ms} ms`,
  );
  log(`live at ${result.worker.url}`);
  await syncCrons(api, config, log);
  return result;
}

/** Makes the worker's cron triggers those of bosun.json: adds the missing ones, deletes the ones no longer listed. */
async function syncCrons(api: Api, config: WorkerConfig, log: (s: string) => void) {
  if (!config.crons) return;
  const want = config.crons.map((c) =>
    typeof c === "string" ? { cron: c, timezone: "UTC" } : { timezone: "UTC", ...c },
  );
  const key = (c: { cron: string; timezone: string }) => `${c.cron} (${c.timezone})`;
  const base = `/projects/${config.project}/cron-triggers`;
  const have: { triggers: { id: string; cron: string; timezone: string }[] } = await call(
    api,
    "GET",
    `${base}?worker=${encodeURIComponent(config.name)}`,
  );
  const wanted = new Set(want.map(key));
  for (const t of have.triggers.filter((t) => !wanted.has(key(t)))) {
    await call(api, "DELETE", `${base}/${t.id}`);
    log(`cron ${key(t)} removed`);
  }
  const existing = new Set(have.triggers.map(key));
  for (const c of want.filter((c) => !existing.has(key(c)))) {
    await call(api, "POST", base, { worker: config.name, ...c });
    log(`cron ${key(c)} added`);
  }
}

export async function tailWorker(opts: { project: string; worker: string; once?: boolean }) {
  const api = apiOf();
  let cursor: string | null = null;
  for (;;) {
    const q: string = `wait_seconds=${opts.once ? 0 : 20}${cursor ? `&cursor=${cursor}` : ""}`;
    const r: { items: any[]; cursor: string | null } = await call(
      api,
      "GET",
      `/projects/${opts.project}/workers/${opts.worker}/logs/tail?${q}`,
    );
    for (const inv of r.items) {
      process.stdout.write(`${inv.at} ${inv.method ?? "cron"} ${inv.url ?? ""} ${inv.status ?? ""} ${inv.outcome}\n`);
      for (const l of inv.logs) process.stdout.write(`  [${l.level}] ${l.message.map(String).join(" ")}\n`);
      for (const e of inv.exceptions) process.stdout.write(`  ! ${e.name}: ${e.message}\n`);
    }
    cursor = r.cursor;
    if (opts.once) return;
  }
}

export async function rollbackWorkerCli(opts: { project: string; worker: string; version?: string }) {
  const r = await call(apiOf(), "POST", `/projects/${opts.project}/workers/${opts.worker}/rollback`, {
    ...(opts.version ? { version: opts.version } : {}),
  });
  process.stderr.write(`rolled back to ${String(r.version.hash).slice(0, 12)}\n`);
}
