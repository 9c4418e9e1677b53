// The workers runtime: workerd processes Bosun supervises, and the loopback services they call back into.
//
// - A *generation* is one workerd process serving every deployed worker (a router, each worker, a tail worker per
//   worker). A deploy starts the next generation on a new port with the candidate code, and only when it answers
//   is it committed and switched to; the old one drains its in-flight requests and stops. A generation that
//   dies is restarted with backoff.
// - The *binding service* (one Node listener on loopback) is the only thing a worker's bindings, tail events and
//   outbound fetches reach. Each worker reaches it through workerd services that inject that worker's capability
//   token; the token says which worker, so which project's resources, it may use.
// - SQL databases live in a second workerd process (SQLite-backed Durable Objects) that deploys never restart.

import crypto from "node:crypto";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { sql } from "kysely";
import type { Logger } from "pino";
import { resolveEgress } from "../egress.ts";
import { BosunError, notFound, toBosunError } from "../kernel/errors.ts";
import type { DB } from "../kernel/operation.ts";
import type { Notifier } from "../notify.ts";
import { RESYNC_TOPIC } from "../notify.ts";
import type { SecretBox } from "../secrets.ts";
import type { ResourceBindings } from "./binding-port.ts";
import { CpuWindow } from "./cpu-window.ts";
import {
  bindingsModule,
  entryModule,
  INVOCATION_HEADER,
  invocationModule,
  LIMIT_HEADER,
  routerModule,
  sqlStorageModule,
  tailModule,
} from "./runtime-modules.ts";
import type { ScheduledInvocation, ScheduledResult } from "./runtime-port.ts";
import { SubrequestCounter } from "./subrequests.ts";
import { capnpString, freePort, WorkerdProcess } from "./workerd.ts";

export interface BundleModule {
  name: string;
  content: string;
}

export interface BundleBinding {
  name: string;
  type: "kv" | "bucket" | "sql";
  /** The resource's name in the project. */
  resource: string;
}

export interface Bundle {
  modules: BundleModule[];
  main_module: string;
  compatibility_date: string;
  compatibility_flags: string[];
  vars: Record<string, string>;
  bindings: BundleBinding[];
  routes: string[];
  /** Lower limits than the platform's for this worker (optional: older bundles have none). */
  limits?: { subrequests?: number; body_bytes?: number };
}

/** Everything the runtime needs to run one worker. */
export interface WorkerSpec {
  workerId: string;
  name: string;
  projectId: string;
  projectSlug: string;
  ownerAccountId: string;
  bundle: Bundle;
  vars: Record<string, string>;
  secrets: Record<string, string>;
}

interface BindingTarget {
  kind: "kv" | "bucket" | "sql";
  id: string;
}

interface Capability {
  workerId: string;
  projectId: string;
  ownerAccountId: string;
  bindings: Map<string, BindingTarget>;
}

interface Generation {
  proc: WorkerdProcess;
  /** `{projectSlug}/{name}` → index of the worker's service in this generation. */
  routes: Map<string, { index: number; spec: WorkerSpec }>;
  byWorker: Map<string, number>;
  caps: Map<string, Capability>;
}

export interface LogLine {
  level: string;
  message: unknown[];
  at: string;
}

export interface Invocation {
  workerId: string;
  at: Date;
  kind: "fetch" | "scheduled";
  outcome: string;
  status: number | null;
  method: string | null;
  url: string | null;
  wallMs: number;
  cpuMs: number;
  logs: LogLine[];
  exceptions: { name: string; message: string; stack?: string }[];
}

interface TailPart {
  logs: LogLine[];
  exceptions: Invocation["exceptions"];
  outcome: string;
}

export interface RuntimeOptions {
  db: DB;
  log: Logger;
  secrets: SecretBox;
  dataDir: string;
  allowPrivateEgress: boolean;
  /** A request's wall-time budget; past it the visitor gets 503 and, if workerd was busy on CPU, it is recycled. */
  requestTimeoutMs: number;
  /** Each isolate's V8 heap limit in MB (`--max-old-space-size`); default 128, as Cloudflare's. */
  memoryMb?: number;
  /** A generation's resident memory ceiling in MB (the watchdog recycles it past this); default 2048. */
  processMemoryMb?: number;
  /** Subrequests (outbound fetches and binding calls) per invocation; default 1000. */
  subrequests?: number;
  /** Invocations kept per worker (logs and the samples metrics are computed from). */
  logRetention: number;
  /** KV stores and buckets; unset, binding one fails the deploy with not_supported. */
  resources?: ResourceBindings;
  /** Most bytes a request body to a worker may have (default 100 MB); a worker's `limits.body_bytes` may lower it. */
  maxBodyBytes?: number;
  /** Whether the account may be served (the spend cap): false answers 402. */
  mayServe?: (accountId: string) => boolean;
  /**
   * Cross-process signals (core/notify.ts): each applied change is announced, and a change announced by another
   * Bosun process on the same database makes this one start a new generation from the database.
   */
  notifier?: Pick<Notifier, "on" | "off" | "publish">;
}

/** The notifier topic of a committed change to what runs (a deploy, rollback, var, secret or delete). */
export const WORKERS_CHANGED_TOPIC = "workers_changed";

const COMPAT_DATE_MAX = "2026-11-17";

function moduleEntry(m: BundleModule, file: string): string {
  const kind = m.name.endsWith(".json") ? "json" : m.name.endsWith(".txt") ? "text" : "esModule";
  return `(name = ${capnpString(m.name)}, ${kind} = embed ${capnpString(file)})`;
}

/** Cloudflare's default: a request body to a worker may have up to 100 MB. */
const DEFAULT_MAX_BODY = 100 * 1024 * 1024;
/** How often, at most, a request reads workerd's CPU counter (/proc) to share it among finished invocations. */
const CPU_SAMPLE_MS = 100;
const BODILESS = new Set(["GET", "HEAD"]);
const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);
/** Per connection, not forwarded (Node frames each side's body itself); `x-bosun-…` headers are dropped too. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "expect",
]);

export class WorkersRuntime {
  private current: Generation | null = null;
  private starting: Promise<Generation> | null = null;
  private switching: Promise<unknown> = Promise.resolve();
  private bindingServer: http.Server | null = null;
  private bindingPort = 0;
  private sqlProc: WorkerdProcess | null = null;
  private sqlStarting: Promise<WorkerdProcess> | null = null;
  private pending = new Map<string, { inv: Invocation; timer: NodeJS.Timeout }>();
  private early = new Map<string, { tail: TailPart; timer: NodeJS.Timeout }>();
  private toWrite: Invocation[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** Connections to workerd kept alive between requests (a new one per request costs more than the request). */
  private readonly agent = new http.Agent({ keepAlive: true, scheduling: "lifo" });
  private readonly cpuWindows = new Map<WorkerdProcess, CpuWindow>();
  private closed = false;
  private restartDelay = 250;
  private generationNo = 0;
  /** Subrequests of each open invocation, counted by the binding service. */
  private readonly subrequests = new SubrequestCounter();
  /** Live tails: `invocation:{workerId}` events. */
  readonly events = new EventEmitter();
  /** How long each generation switch took, newest last (bench, docs). */
  readonly switchTimes: number[] = [];

  /** Tells this process's own announcements from other processes' (a notification reaches its sender too). */
  private readonly origin = crypto.randomUUID();
  private reloadQueued = false;
  private readonly onChanged = (from: string) => {
    if (from !== this.origin) this.reload();
  };
  /** A lost LISTEN connection may have missed announcements: reload once to be sure. */
  private readonly onResync = () => this.reload();

  constructor(readonly opts: RuntimeOptions) {
    this.events.setMaxListeners(0);
    opts.notifier?.on(WORKERS_CHANGED_TOPIC, this.onChanged);
    opts.notifier?.on(RESYNC_TOPIC, this.onResync);
  }

  /**
   * Starts a new generation from the database (another process changed what runs), through the same atomic switch
   * as a local change. Reloads asked for while one waits are one reload; a process that serves nothing yet has
   * nothing to do (it reads the database when it first starts).
   */
  reload(): void {
    if (this.closed || this.reloadQueued || (!this.current && !this.starting)) return;
    this.reloadQueued = true;
    const run = async () => {
      this.reloadQueued = false;
      if (this.closed) return;
      const gen = await this.startGeneration(await this.loadSpecs());
      if (this.closed) return void (await gen.proc.stop(0));
      this.switchTo(gen);
    };
    const next = this.switching.then(run, run);
    this.switching = next.catch((err) => this.opts.log.error({ err }, "workers runtime reload failed"));
  }

  // ---- generations ------------------------------------------------------------------------------------------

  /** Every worker with an active version, as it should run now; `override` swaps one worker's spec. */
  async loadSpecs(override?: WorkerSpec | { workerId: string; remove: true }): Promise<WorkerSpec[]> {
    const rows = await this.opts.db
      .selectFrom("workers as w")
      .innerJoin("projects as p", "p.id", "w.project_id")
      .innerJoin("worker_versions as v", "v.id", "w.active_version_id")
      .select(["w.id", "w.name", "w.project_id", "p.slug", "p.owner_account_id", "v.bundle"])
      .execute();
    const vars = await this.opts.db.selectFrom("worker_vars").select(["worker_id", "name", "value"]).execute();
    const secrets = await this.opts.db
      .selectFrom("worker_secrets")
      .select(["worker_id", "name", "value_enc"])
      .execute();
    const specs = rows.map(
      (r): WorkerSpec => ({
        workerId: r.id,
        name: r.name,
        projectId: r.project_id,
        projectSlug: r.slug,
        ownerAccountId: r.owner_account_id,
        bundle: r.bundle as Bundle,
        vars: Object.fromEntries(vars.filter((v) => v.worker_id === r.id).map((v) => [v.name, v.value])),
        secrets: Object.fromEntries(
          secrets.filter((s) => s.worker_id === r.id).map((s) => [s.name, this.opts.secrets.decrypt(s.value_enc)]),
        ),
      }),
    );
    if (!override) return specs;
    const rest = specs.filter((s) => s.workerId !== override.workerId);
    return "remove" in override ? rest : [...rest, override];
  }

  private async resolveBindings(spec: WorkerSpec): Promise<Map<string, BindingTarget>> {
    const out = new Map<string, BindingTarget>();
    for (const b of spec.bundle.bindings) {
      if (b.type === "sql") {
        const row = await this.opts.db
          .selectFrom("sql_databases")
          .select("id")
          .where("project_id", "=", spec.projectId)
          .where("name", "=", b.resource)
          .executeTakeFirst();
        if (!row) throw notFound("sql database", b.resource);
        // Started before the worker serves, so its first query does not wait for a process start.
        await this.ensureSql();
        out.set(b.name, { kind: "sql", id: row.id });
      } else {
        const resources = this.opts.resources;
        if (!resources) throw new BosunError("not_supported", `${b.type} bindings are not available on this Bosun`);
        out.set(b.name, {
          kind: b.type,
          id: await resources.resolve(this.opts.db, spec.projectId, b.type, b.resource),
        });
      }
    }
    return out;
  }

  /** Starts (but does not switch to) a generation running exactly `specs`; throws if workerd refuses the code. */
  private async startGeneration(specs: WorkerSpec[]): Promise<Generation> {
    await this.ensureBindingServer();
    const no = ++this.generationNo;
    const port = await freePort();
    const admin = crypto.randomBytes(24).toString("base64url");
    const files: Record<string, string> = {
      "bosun-router.js": routerModule,
      "bosun-tail.js": tailModule,
      "bosun-bindings.js": bindingsModule,
      "bosun-invocation.js": invocationModule,
    };
    const caps = new Map<string, Capability>();
    const routes = new Map<string, { index: number; spec: WorkerSpec }>();
    const byWorker = new Map<string, number>();
    const services: string[] = [];
    const routerBindings = [`(name = "ADMIN", text = ${capnpString(admin)})`];
    const bindingAddr = capnpString(`127.0.0.1:${this.bindingPort}`);
    services.push(`(name = "bosun_nowhere", external = (address = ${bindingAddr}, http = ()))`);
    for (const [i, spec] of specs.entries()) {
      const targets = await this.resolveBindings(spec);
      const token = crypto.randomBytes(24).toString("base64url");
      caps.set(token, {
        workerId: spec.workerId,
        projectId: spec.projectId,
        ownerAccountId: spec.ownerAccountId,
        bindings: targets,
      });
      routes.set(`${spec.projectSlug}/${spec.name}`, { index: i, spec });
      byWorker.set(spec.workerId, i);
      const inject = `injectRequestHeaders = [(name = "x-bosun-cap", value = ${capnpString(token)})]`;
      services.push(`(name = "cap_${i}", external = (address = ${bindingAddr}, http = (${inject})))`);
      services.push(`(name = "egress_${i}", external = (address = ${bindingAddr}, http = (style = proxy, ${inject})))`);
      // workerd refuses `inherit` for tail workers, so each worker has a tail worker of its own (a tiny isolate).
      services.push(
        `(name = "tail_${i}", worker = (modules = [(name = "tail.js", esModule = embed "bosun-tail.js")], compatibilityDate = "2025-01-01", bindings = [(name = "SINK", service = "cap_${i}")]))`,
      );
      const b = spec.bundle;
      const main = b.modules.find((m) => m.name === b.main_module);
      const ordered = main ? [main, ...b.modules.filter((m) => m !== main)] : b.modules;
      const modules = ordered.map((m, j) => {
        const file = `w${i}-m${j}`;
        files[file] = m.content;
        return moduleEntry(m, file);
      });
      // The generated entry comes first (workerd's main module) and evaluates `bosun:invocation` before any of the
      // customer's modules; customers' module names cannot hold a colon, so neither name can be theirs.
      files[`w${i}-entry`] = entryModule(b.main_module);
      modules.unshift(
        `(name = "bosun:main", esModule = embed "w${i}-entry")`,
        `(name = "bosun:invocation", esModule = embed "bosun-invocation.js")`,
      );
      const bindings: string[] = [];
      for (const [name, value] of Object.entries({ ...b.vars, ...spec.vars }))
        bindings.push(`(name = ${capnpString(name)}, text = ${capnpString(value)})`);
      for (const [name, value] of Object.entries(spec.secrets))
        bindings.push(`(name = ${capnpString(name)}, text = ${capnpString(value)})`);
      for (const [name, t] of targets) {
        const entry = t.kind === "kv" ? "kv" : t.kind === "bucket" ? "bucket" : "sql";
        bindings.push(
          `(name = ${capnpString(name)}, wrapped = (moduleName = "bosun:bindings", entrypoint = "${entry}", innerBindings = [(name = "svc", service = "cap_${i}"), (name = "name", text = ${capnpString(name)})]))`,
        );
      }
      // AsyncLocalStorage (for the invocation id) needs nodejs_als, which nodejs_compat includes.
      const hasAls = b.compatibility_flags.some((f) => f === "nodejs_als" || f.startsWith("nodejs_compat"));
      const flags = [...b.compatibility_flags, ...(hasAls ? [] : ["nodejs_als"])].map(capnpString).join(", ");
      services.push(
        `(name = "w_${i}", worker = (modules = [${modules.join(", ")}], compatibilityDate = ${capnpString(b.compatibility_date > COMPAT_DATE_MAX ? COMPAT_DATE_MAX : b.compatibility_date)}, compatibilityFlags = [${flags}], bindings = [${bindings.join(", ")}], globalOutbound = "egress_${i}", tails = ["tail_${i}"]))`,
      );
      routerBindings.push(`(name = "w_${i}", service = "w_${i}")`);
    }
    services.push(
      `(name = "bosun_router", worker = (modules = [(name = "router.js", esModule = embed "bosun-router.js")], compatibilityDate = "2025-01-01", bindings = [${routerBindings.join(", ")}], globalOutbound = "bosun_nowhere"))`,
    );
    const config = [
      `using Workerd = import "/workerd/workerd.capnp";`,
      "const config :Workerd.Config = (",
      `  services = [\n    ${services.join(",\n    ")}\n  ],`,
      `  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "bosun_router")],`,
      `  extensions = [(modules = [(name = "bosun:bindings", internal = true, esModule = embed "bosun-bindings.js")])],`,
      // Per isolate (verified): each worker's heap has its own limit; passing it aborts the whole process.
      `  v8Flags = [${capnpString(`--max-old-space-size=${this.opts.memoryMb ?? 128}`)}],`,
      ");",
    ].join("\n");
    const proc = await WorkerdProcess.start({
      dir: path.join(this.opts.dataDir, "workers", "run", `gen-${process.pid}-${no}`),
      config,
      files,
      port,
      adminToken: admin,
    });
    return { proc, routes, byWorker, caps };
  }

  /** Makes `gen` the serving generation; the previous one drains (up to the request timeout) and stops. */
  private switchTo(gen: Generation): void {
    const old = this.current;
    this.current = gen;
    this.restartDelay = 250;
    void gen.proc.exit.then(() => this.onExit(gen));
    this.watchMemory(gen);
    if (old) void this.drain(old);
  }

  /**
   * The RSS watchdog: V8's heap limit does not count array buffers and other memory outside the JS heap, so the
   * process's resident memory is checked too; past the ceiling it is killed (and recycled, if it is serving).
   */
  private watchMemory(gen: Generation): void {
    const ceiling = this.opts.processMemoryMb ?? 2048;
    const timer = setInterval(() => {
      const rss = gen.proc.rssMb();
      if (rss <= ceiling || gen.proc.killedForMemory) return;
      gen.proc.killedForMemory = true;
      this.opts.log.warn({ rssMb: Math.round(rss), ceilingMb: ceiling }, "workers runtime over its memory ceiling");
      if (this.current === gen) this.recycle(gen, "the workers runtime went over its memory ceiling; recycling it");
      else void gen.proc.stop(0);
    }, 250);
    timer.unref();
    void gen.proc.exit.then(() => clearInterval(timer));
  }

  /**
   * Whether a request that failed did so because the process died of memory: its connection breaks before the exit
   * is seen, so this waits (briefly) for the process to be gone and its last output read.
   */
  private async diedOfMemory(proc: WorkerdProcess): Promise<boolean> {
    if (!proc.ranOutOfMemory) await Promise.race([proc.closed, new Promise((r) => setTimeout(r, 1000))]);
    return proc.ranOutOfMemory;
  }

  private memoryLimitHit(inv: Invocation, proc: WorkerdProcess): void {
    inv.outcome = "exceededMemory";
    inv.status = 503;
    inv.exceptions.push({
      name: "LimitExceeded",
      message: proc.killedForMemory
        ? `the workers runtime ran out of memory while this request ran: the process passed its ${this.opts.processMemoryMb ?? 2048} MB memory ceiling and was restarted`
        : `the workers runtime ran out of memory while this request ran: a worker passed its ${this.opts.memoryMb ?? 128} MB heap limit and the process was restarted`,
    });
  }

  private async drain(gen: Generation): Promise<void> {
    this.drainingCaps.push(gen.caps);
    const deadline = Date.now() + this.opts.requestTimeoutMs + 1000;
    while (gen.proc.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await gen.proc.stop();
    this.drainingCaps = this.drainingCaps.filter((c) => c !== gen.caps);
  }

  private onExit(gen: Generation): void {
    if (this.closed || this.current !== gen) return;
    this.opts.log.warn({ stderr: gen.proc.lastError.slice(-2000) }, "workers runtime exited; restarting");
    this.current = null;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, 10_000);
    setTimeout(() => {
      if (!this.closed && !this.current) void this.ensureStarted().catch(() => {});
    }, delay).unref();
  }

  /** The serving generation, started from the database if there is none. */
  async ensureStarted(): Promise<Generation> {
    if (this.current?.proc.alive) return this.current;
    this.starting ??= (async () => {
      try {
        const gen = await this.startGeneration(await this.loadSpecs());
        if (this.closed) {
          await gen.proc.stop(0);
          throw new BosunError("not_configured", "the workers runtime is closed");
        }
        this.switchTo(gen);
        return gen;
      } finally {
        this.starting = null;
      }
    })();
    return this.starting;
  }

  /**
   * Applies a change atomically: the next generation is started with it; only if workerd accepts the code does
   * `commit` (the database change) run, and then traffic switches. Changes are applied one at a time.
   */
  apply<T>(override: WorkerSpec | { workerId: string; remove: true } | null, commit: () => Promise<T>): Promise<T> {
    const run = async () => {
      const started = performance.now();
      const gen = await this.startGeneration(await this.loadSpecs(override ?? undefined));
      let result: T;
      try {
        result = await commit();
      } catch (err) {
        await gen.proc.stop(0);
        throw err;
      }
      this.switchTo(gen);
      // The other processes on this database start their own next generation (best effort: if the announcement
      // is lost, their LISTEN reconnect resyncs; the change itself is committed).
      void this.opts.notifier
        ?.publish(WORKERS_CHANGED_TOPIC, this.origin)
        .catch((err) => this.opts.log.warn({ err }, "could not announce a workers change"));
      this.switchTimes.push(performance.now() - started);
      if (this.switchTimes.length > 100) this.switchTimes.shift();
      return result;
    };
    const next = this.switching.then(run, run);
    this.switching = next.catch(() => {});
    return next;
  }

  // ---- serving ----------------------------------------------------------------------------------------------

  /** Whether some worker is deployed under this name (cheap: the serving generation's routes). */
  async has(projectSlug: string, name: string): Promise<boolean> {
    const gen = await this.ensureStarted();
    return gen.routes.has(`${projectSlug}/${name}`);
  }

  /**
   * Answers a visitor's request (a WHATWG Request) with the worker `name` of project `projectSlug`, the bodies
   * streamed both ways. `path` (percent-encoded, with the query) is the address the worker sees, if not the
   * request's own.
   */
  async serve(projectSlug: string, name: string, req: Request, path?: string): Promise<Response> {
    const rawHeaders: string[] = [];
    for (const [k, v] of req.headers) rawHeaders.push(k, v);
    const url = path === undefined ? new URL(req.url) : new URL(path, req.url);
    const exchange = await this.exchange(projectSlug, name, {
      method: req.method,
      url: url.href,
      path: url.pathname + url.search,
      rawHeaders,
      body: req.body && !BODILESS.has(req.method) ? Readable.fromWeb(req.body as WebReadableStream) : null,
    });
    const a = await exchange.answer;
    if (a.kind === "page") return new Response(pageHtml(a), { status: a.status, headers: pageHeaders(a, false) });
    const headers = new Headers();
    for (let i = 0; i + 1 < a.rawHeaders.length; i += 2)
      headers.append(a.rawHeaders[i] ?? "", a.rawHeaders[i + 1] ?? "");
    if (req.method === "HEAD" || NULL_BODY_STATUS.has(a.status)) {
      a.body.resume();
      return new Response(null, { status: a.status, headers });
    }
    return new Response(Readable.toWeb(a.body) as ReadableStream, { status: a.status, headers });
  }

  /**
   * The same on Node's own request and response (the sites listener): no WHATWG objects, the response piped with
   * backpressure, and a visitor who leaves cancels the worker's request. `url` is the visitor's URL as the worker
   * sees it, `path` what is forwarded if not the request's own.
   */
  async serveNode(
    projectSlug: string,
    name: string,
    url: string,
    incoming: http.IncomingMessage,
    outgoing: http.ServerResponse,
    path?: string,
  ): Promise<void> {
    const method = incoming.method ?? "GET";
    const exchange = await this.exchange(projectSlug, name, {
      method,
      url: path === undefined ? url : new URL(path, url).href,
      path: path ?? incoming.url ?? "/",
      rawHeaders: incoming.rawHeaders,
      body: BODILESS.has(method) ? null : incoming,
    });
    outgoing.once("close", () => {
      if (!outgoing.writableFinished) exchange.cancel();
    });
    const a = await exchange.answer;
    if (a.kind === "page") {
      outgoing.writeHead(a.status, pageHeaders(a, true));
      outgoing.end(pageHtml(a));
      return;
    }
    outgoing.writeHead(a.status, a.rawHeaders);
    a.body.pipe(outgoing);
  }

  /** How many bytes a request body to this worker may have. */
  private bodyLimit(spec: WorkerSpec): number {
    return Math.min(this.opts.maxBodyBytes ?? DEFAULT_MAX_BODY, spec.bundle.limits?.body_bytes ?? Infinity);
  }

  private cpuWindow(proc: WorkerdProcess): CpuWindow {
    let w = this.cpuWindows.get(proc);
    if (!w) this.cpuWindows.set(proc, (w = new CpuWindow(() => proc.cpuMs(), CPU_SAMPLE_MS)));
    return w;
  }

  /** Shares the CPU each process used among the invocations that finished (before they are written). */
  private sampleCpu(): void {
    for (const [proc, w] of this.cpuWindows) {
      w.sample();
      if (!proc.alive) this.cpuWindows.delete(proc);
    }
  }

  /**
   * One request to a worker: forwarded to workerd on a kept-alive connection, the body counted against the
   * worker's limit as it streams (413 past it), under the wall-time budget (503, and a recycle if workerd is stuck
   * on the CPU). The answer is Bosun's page or the worker's response, still streaming; the invocation is recorded
   * when that stream ends.
   */
  private async exchange(projectSlug: string, name: string, visit: Visit): Promise<Exchange> {
    const gen = this.current?.proc.alive ? this.current : await this.ensureStarted();
    const route = gen.routes.get(`${projectSlug}/${name}`);
    const early = (a: PageAnswer): Exchange => ({ answer: Promise.resolve(a), cancel: () => {} });
    if (!route) return early(pageOf(404, "Not found", "There is no worker here."));
    const spec = route.spec;
    if (this.opts.mayServe && !this.opts.mayServe(spec.ownerAccountId))
      return early(
        pageOf(402, "Payment required", "This worker is paused: its owner's spending limit has been reached."),
      );
    const limit = this.bodyLimit(spec);
    const tooLarge = () =>
      pageOf(413, "Too large", `A request to this worker may have a body of at most ${limit} bytes.`, true);
    // A declared length already over the limit: nothing reaches the worker. A chunked body is counted below.
    if (Number(headerOf(visit.rawHeaders, "content-length") ?? 0) > limit) return early(tooLarge());
    const headers = forwardable(visit.rawHeaders);
    const proc = gen.proc;
    const requestId = crypto.randomUUID();
    // HTTP/1.1 needs a Host (a WHATWG Request has none): the visitor's URL's.
    if (headerOf(headers, "host") === undefined) headers.push("host", new URL(visit.url).host);
    headers.push("x-bosun-admin", proc.adminToken, "x-bosun-target", String(route.index));
    headers.push("x-bosun-request-id", requestId, "x-bosun-url", visit.url);
    const inv: Invocation = {
      workerId: spec.workerId,
      at: new Date(),
      kind: "fetch",
      outcome: "ok",
      status: null,
      method: visit.method,
      url: visit.path,
      wallMs: 0,
      cpuMs: 0,
      logs: [],
      exceptions: [],
    };
    this.openInvocation(requestId, spec, inv);
    proc.inflight++;
    const started = performance.now();
    const body = visit.body;
    /** The visitor has an answer (the worker's response or a page). */
    let answered = false;
    /** The budget ran out: a health check decides how it ends. */
    let stopping = false;
    let ended = false;
    let out: http.ClientRequest | null = null;
    let res: http.IncomingMessage | null = null;
    let resolve!: (a: Answer) => void;
    const answer = new Promise<Answer>((r) => {
      resolve = r;
    });
    const finish = () => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      proc.inflight--;
      inv.wallMs = performance.now() - started;
      this.cpuWindow(proc).add(inv);
      this.expect(requestId, inv);
    };
    /** Ends it early: the visitor gets `page` if nothing was answered yet, else the worker's response is cut. */
    const fail = (page: PageAnswer, outcome: string, exception?: Invocation["exceptions"][number]) => {
      if (ended) return;
      inv.outcome = outcome;
      if (exception) inv.exceptions.push(exception);
      if (!answered) {
        answered = true;
        inv.status = page.status;
        resolve(page);
      }
      res?.destroy();
      out?.destroy();
      finish();
    };
    /** The process died of memory while this ran (a worker's heap limit or the process's ceiling). */
    const outOfMemory = () => {
      this.memoryLimitHit(inv, proc);
      fail(
        pageOf(503, "Worker stopped", "The worker went over its memory limit (memory limit exceeded)."),
        inv.outcome,
      );
    };
    const timer = setTimeout(() => {
      if (ended || stopping) return;
      stopping = true;
      out?.destroy();
      res?.destroy();
      if (proc.ranOutOfMemory) return outOfMemory();
      // workerd runs its isolates on one thread: if that thread no longer answers a health check, a loop is holding
      // it and every worker of the generation is stuck, so the process is recycled.
      void this.answers(proc).then((ok) => {
        if (!ok) this.recycle(gen, "a worker overran its CPU budget; recycling the workers runtime");
        const ms = this.opts.requestTimeoutMs;
        fail(
          pageOf(503, "Worker stopped", "The worker went over its time limit for this request."),
          ok ? "exceededWallTime" : "exceededCpu",
          {
            name: "LimitExceeded",
            message: ok
              ? `the request took longer than ${ms} ms`
              : `the request ran on the CPU past its ${ms} ms limit and was stopped`,
          },
        );
      });
    }, this.opts.requestTimeoutMs);

    const send = (retry: boolean) => {
      const req = http.request({
        host: "127.0.0.1",
        port: proc.port,
        method: visit.method,
        path: visit.path,
        headers,
        agent: this.agent,
        setHost: false,
      });
      out = req;
      req.on("response", (r) => {
        if (ended || stopping || answered) return void r.destroy();
        res = r;
        answered = true;
        inv.status = r.statusCode ?? 502;
        r.on("close", () => {
          if (ended || stopping) return;
          // Cut short: the worker failed mid-stream (or its process ran out of memory).
          if (!r.complete) {
            if (proc.ranOutOfMemory) this.memoryLimitHit(inv, proc);
            else inv.outcome = "exception";
          }
          finish();
        });
        resolve({ kind: "stream", status: inv.status, rawHeaders: forwardable(r.rawHeaders), body: r });
      });
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (ended || stopping || answered) return;
        // A kept-alive connection workerd closed as it was reused: a request without a body is safe to send again.
        if (retry && !body && req.reusedSocket && err.code === "ECONNRESET") return send(false);
        // A process that died of memory breaks its connections before its exit is seen.
        stopping = true;
        void this.diedOfMemory(proc).then((oom) =>
          oom
            ? outOfMemory()
            : fail(pageOf(502, "Worker unavailable", "The worker could not be reached."), "exception"),
        );
      });
      if (!body) return void req.end();
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          body.off("data", onData);
          body.pause();
          fail(tooLarge(), "canceled", {
            name: "LimitExceeded",
            message: `the request body was over the worker's limit of ${limit} bytes`,
          });
          return;
        }
        if (!req.write(chunk)) body.pause();
      };
      body.on("data", onData);
      req.on("drain", () => body.resume());
      body.once("end", () => req.end());
      // The visitor went away mid-body.
      body.once("error", () => fail(pageOf(400, "Bad request", "The request body was cut short."), "canceled"));
    };
    send(true);
    return {
      answer,
      cancel: () => {
        if (!stopping) fail(pageOf(499, "Canceled", "The visitor left."), "canceled");
      },
    };
  }

  private async answers(proc: WorkerdProcess): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${proc.port}/`, {
        headers: { "x-bosun-admin": proc.adminToken, "x-bosun-target": "_health" },
        signal: AbortSignal.timeout(500),
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Replaces a stuck generation with a fresh one running the same workers. */
  private recycle(gen: Generation, why: string): void {
    if (this.current !== gen) return;
    this.current = null;
    this.opts.log.warn(why);
    void gen.proc.stop(0);
    void this.ensureStarted().catch((err) => this.opts.log.error({ err }, "workers runtime restart failed"));
  }

  /** Runs the worker's `scheduled` handler (cron triggers). */
  async runScheduled(input: ScheduledInvocation): Promise<ScheduledResult> {
    const gen = await this.ensureStarted();
    const route = [...gen.routes.values()].find(
      (r) => r.spec.projectId === input.projectId && r.spec.name === input.workerName,
    );
    if (!route) return { ok: false, durationMs: 0, logs: [], error: `worker ${input.workerName} is not deployed` };
    // A scheduled run is usage like a request: a stopped account (its wallet could not pay) runs none either.
    if (this.opts.mayServe && !this.opts.mayServe(route.spec.ownerAccountId))
      return {
        ok: false,
        durationMs: 0,
        logs: [],
        error: "the worker is paused: its owner's spending limit has been reached",
      };
    const started = performance.now();
    const key = `sched:${route.spec.workerId}`;
    const waiter = new Promise<Invocation | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 3000);
      this.events.once(key, (inv: Invocation) => {
        clearTimeout(t);
        resolve(inv);
      });
    });
    const invocation = `sched-${crypto.randomUUID()}`;
    this.openInvocation(invocation, route.spec);
    gen.proc.inflight++;
    let outcome = "exception";
    let thrown: string | null = null;
    try {
      const res = await fetch(`http://127.0.0.1:${gen.proc.port}/`, {
        method: "POST",
        headers: {
          "x-bosun-admin": gen.proc.adminToken,
          "x-bosun-target": String(route.index),
          "x-bosun-op": "scheduled",
        },
        body: JSON.stringify({ cron: input.cron, scheduledTime: input.scheduledTime.getTime(), invocation }),
        signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      });
      const r = (await res.json()) as { outcome?: string; error?: string };
      outcome = r.outcome ?? "exception";
      if (r.error) thrown = r.error;
    } catch {
      outcome = (await this.diedOfMemory(gen.proc)) ? "exceededMemory" : "exceededWallTime";
    } finally {
      gen.proc.inflight--;
      this.subrequests.end(invocation);
    }
    const durationMs = performance.now() - started;
    const inv = await waiter;
    const error =
      outcome === "ok"
        ? null
        : (inv?.exceptions.map((e) => `${e.name}: ${e.message}`).join("\n") ?? "") ||
          thrown ||
          `the handler ended: ${outcome}`;
    // A console call's arguments, as one line of text the run history can show.
    const logs = (inv?.logs ?? []).map((l) => ({
      level: l.level,
      at: l.at,
      message: l.message.map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" "),
    }));
    return { ok: outcome === "ok", durationMs, logs, error };
  }

  // ---- invocations: timings from the proxy, console output from the tail worker, joined by request id --------

  /** Opens an invocation's subrequest count; the first call past the limit is logged on the invocation. */
  private openInvocation(id: string, spec: WorkerSpec, inv?: Invocation): void {
    const platform = this.opts.subrequests ?? 1000;
    const limit = Math.min(platform, spec.bundle.limits?.subrequests ?? platform);
    this.subrequests.start(id, spec.workerId, limit, () => {
      this.opts.log.info({ workerId: spec.workerId, limit }, "worker invocation over its subrequest limit");
      inv?.exceptions.push({
        name: "LimitExceeded",
        message: `Too many subrequests: past ${limit} in one invocation, further fetches and binding calls failed`,
      });
    });
  }

  private expect(requestId: string, inv: Invocation): void {
    // The tail event closes the invocation (its waitUntil work is over); this is in case it never comes.
    this.subrequests.endLater(requestId, this.opts.requestTimeoutMs);
    // The tail event can arrive before the proxy has finished with the response.
    const early = this.early.get(requestId);
    if (early) {
      this.early.delete(requestId);
      clearTimeout(early.timer);
      this.merge(inv, early.tail);
      return;
    }
    const timer = setTimeout(() => {
      this.pending.delete(requestId);
      this.record(inv);
    }, 5000);
    timer.unref();
    this.pending.set(requestId, { inv, timer });
  }

  private onTail(cap: Capability, events: unknown[]): void {
    for (const raw of events) {
      const e = raw as {
        outcome?: string;
        logs?: { level: string; message: unknown[]; timestamp: number }[];
        exceptions?: { name: string; message: string; stack?: string }[];
        eventTimestamp?: number;
        event?: {
          request?: { headers?: Record<string, string> };
          response?: { status: number };
          cron?: string;
          scheduledTime?: number;
        };
      };
      const logs = (e.logs ?? []).map((l) => ({
        level: l.level,
        message: l.message,
        at: new Date(l.timestamp).toISOString(),
      }));
      const exceptions = (e.exceptions ?? []).map((x) => ({ name: x.name, message: x.message, stack: x.stack }));
      const requestId = e.event?.request?.headers?.["x-bosun-request-id"];
      if (requestId) this.subrequests.end(requestId);
      const waiting = requestId ? this.pending.get(requestId) : undefined;
      const tail = { logs, exceptions, outcome: e.outcome ?? "ok" };
      if (waiting && requestId) {
        clearTimeout(waiting.timer);
        this.pending.delete(requestId);
        this.merge(waiting.inv, tail);
        continue;
      }
      if (requestId) {
        const timer = setTimeout(() => this.early.delete(requestId), 30_000);
        timer.unref();
        this.early.set(requestId, { tail, timer });
        continue;
      }
      // A scheduled run reaches the worker as the router's `scheduled()` call: its tail event says only that.
      const ev = e.event as { cron?: string; rpcMethod?: string } | undefined;
      if (ev?.cron !== undefined || ev?.rpcMethod === "scheduled") {
        const inv: Invocation = {
          workerId: cap.workerId,
          at: new Date(e.eventTimestamp ?? Date.now()),
          kind: "scheduled",
          outcome: e.outcome ?? "ok",
          status: null,
          method: null,
          // The cron line carries the invocation id before a newline (see entryModule): not for the log.
          url: ev.cron?.slice(ev.cron.indexOf("\n") + 1) ?? null,
          wallMs: 0,
          cpuMs: 0,
          logs,
          exceptions,
        };
        this.events.emit(`sched:${cap.workerId}`, inv);
        this.record(inv);
      }
    }
  }

  private merge(inv: Invocation, tail: TailPart): void {
    inv.logs = tail.logs;
    inv.exceptions = [...tail.exceptions, ...inv.exceptions];
    if (tail.outcome !== "ok") inv.outcome = tail.outcome;
    this.record(inv);
  }

  private record(inv: Invocation): void {
    this.events.emit(`invocation:${inv.workerId}`, inv);
    this.toWrite.push(inv);
    this.flushTimer ??= setTimeout(() => void this.flush(), 250);
  }

  /** Invocation rows written per worker since its rows were last pruned to the retention. */
  private unpruned = new Map<string, number>();

  /** Writes recorded invocations and keeps the last N per worker. */
  async flush(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.sampleCpu();
    const batch = this.toWrite.splice(0);
    if (!batch.length) return;
    const db = this.opts.db;
    try {
      const known = new Set(
        (
          await db
            .selectFrom("workers")
            .select("id")
            .where("id", "in", [...new Set(batch.map((b) => b.workerId))])
            .execute()
        ).map((r) => r.id),
      );
      const rows = batch.filter((b) => known.has(b.workerId));
      if (!rows.length) return;
      await db
        .insertInto("worker_invocations")
        .values(
          rows.map((b) => ({
            worker_id: b.workerId,
            at: b.at,
            kind: b.kind,
            outcome: b.outcome,
            status: b.status,
            method: b.method,
            url: b.url,
            wall_ms: b.wallMs,
            cpu_ms: b.cpuMs,
            logs: JSON.stringify(b.logs),
            exceptions: JSON.stringify(b.exceptions),
          })),
        )
        .execute();
      for (const r of rows) this.unpruned.set(r.workerId, (this.unpruned.get(r.workerId) ?? 0) + 1);
      // Pruning to the retention is a DELETE per worker: done once a tenth of the retention has been written since
      // the last one, not on every flush (at most 10 % more rows are kept in between).
      const pruneEvery = Math.max(1, Math.ceil(this.opts.logRetention / 10));
      for (const [workerId, written] of this.unpruned) {
        if (written < pruneEvery) continue;
        this.unpruned.delete(workerId);
        // Rows the meter has not charged yet stay (they are the usage's durable record; see metering.ts).
        await sql`delete from worker_invocations where worker_id = ${workerId} and charged and id <= (
          select id from worker_invocations where worker_id = ${workerId} order by id desc offset ${this.opts.logRetention} limit 1)`.execute(
          db,
        );
      }
    } catch (err) {
      this.opts.log.warn({ err }, "writing worker invocations failed");
    }
  }

  // ---- the binding service ---------------------------------------------------------------------------------

  private capOf(req: http.IncomingMessage): Capability | null {
    const token = req.headers["x-bosun-cap"];
    if (typeof token !== "string" || !token) return null;
    return this.current?.caps.get(token) ?? this.previousCaps(token);
  }

  /** A draining generation's workers still hold their tokens until it stops. */
  private drainingCaps: Map<string, Capability>[] = [];
  private previousCaps(token: string): Capability | null {
    for (const caps of this.drainingCaps) {
      const c = caps.get(token);
      if (c) return c;
    }
    return null;
  }

  private async ensureBindingServer(): Promise<void> {
    if (this.bindingServer) return;
    const server = http.createServer({ requireHostHeader: false }, (req, res) => {
      void this.onBindingRequest(req, res).catch((err) => {
        const e = toBosunError(err);
        if (!res.headersSent) res.writeHead(e.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: e.code, message: e.message } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    this.bindingPort = typeof address === "object" && address ? address.port : 0;
    this.bindingServer = server;
  }

  private async onBindingRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cap = this.capOf(req);
    if (!cap) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "unauthorized", message: "no capability" } }));
      return;
    }
    const target = req.url ?? "/";
    if (target !== "/tail") {
      // Every outbound fetch and binding call counts against the invocation it names (see subrequests.ts).
      const id = req.headers[INVOCATION_HEADER];
      const verdict = this.subrequests.take(typeof id === "string" ? id : undefined, cap.workerId);
      if (!verdict.ok) {
        res.writeHead(verdict.reason === "too_many" ? 429 : 403, {
          "content-type": "application/json",
          [LIMIT_HEADER]: verdict.reason,
        });
        res.end(JSON.stringify({ error: { code: verdict.reason, message: verdict.message } }));
        return;
      }
    }
    // Proxy-style request line: an outbound fetch of the worker.
    if (/^https?:\/\//i.test(target)) return this.egress(req, res, new URL(target));
    const body = await readBody(req, 64 * 1024 * 1024);
    if (target === "/tail") {
      this.onTail(cap, JSON.parse(body.toString("utf8")) as unknown[]);
      res.end();
      return;
    }
    const call = JSON.parse(body.toString("utf8")) as { binding: string; op: string; args: Record<string, unknown> };
    const binding = cap.bindings.get(call.binding);
    const kind = target.slice(1);
    if (!binding || binding.kind !== kind) throw notFound("binding", String(call.binding));
    const result =
      binding.kind === "sql"
        ? await this.sqlCall(binding.id, call.op, call.args)
        : binding.kind === "kv"
          ? await this.kvCall(cap, binding.id, call.op, call.args)
          : await this.bucketCall(cap, binding.id, call.op, call.args);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ result }));
  }

  private async kvCall(cap: Capability, storeId: string, op: string, a: Record<string, unknown>): Promise<unknown> {
    const kv = present(this.opts.resources).kv({ projectId: cap.projectId, storeId });
    const key = String(a.key ?? "");
    if (op === "get") {
      const r = await kv.getWithMetadata(key);
      return r.value === null ? null : { value: Buffer.from(r.value).toString("base64"), metadata: r.metadata };
    }
    if (op === "put") {
      const options = (a.options ?? {}) as { expirationTtl?: number; expiration?: number; metadata?: unknown };
      await kv.put(key, Buffer.from(String(a.value ?? ""), "base64"), options);
      return null;
    }
    if (op === "delete") return kv.delete(key).then(() => null);
    if (op === "list") return kv.list(a as { prefix?: string; limit?: number; cursor?: string });
    throw new BosunError("validation_error", `unknown KV operation ${op}`);
  }

  private async bucketCall(
    cap: Capability,
    bucketId: string,
    op: string,
    a: Record<string, unknown>,
  ): Promise<unknown> {
    const bucket = present(this.opts.resources).bucket({ projectId: cap.projectId, bucketId });
    const out = (o: Awaited<ReturnType<typeof bucket.get>>) =>
      o && {
        key: o.key,
        size: o.size,
        etag: o.etag,
        httpEtag: `"${o.etag}"`,
        uploaded: new Date(o.uploaded).toISOString(),
        httpMetadata: o.httpMetadata ?? {},
        customMetadata: o.customMetadata ?? {},
        ...(o.body ? { body: Buffer.from(o.body).toString("base64") } : {}),
      };
    const key = String(a.key ?? "");
    if (op === "head") return out(await bucket.head(key));
    if (op === "get") return out(await bucket.get(key, a.range ? { range: a.range as { offset?: number } } : {}));
    if (op === "put") {
      const r = await bucket.put(key, Buffer.from(String(a.value ?? ""), "base64"), {
        httpMetadata: a.httpMetadata as Record<string, string> | undefined,
        customMetadata: a.customMetadata as Record<string, string> | undefined,
      });
      return out(r);
    }
    if (op === "delete") return bucket.delete(a.keys as string | string[]).then(() => null);
    if (op === "list") {
      const r = await bucket.list(a as { prefix?: string });
      return { ...r, objects: r.objects.map((o) => out({ ...o, body: undefined })) };
    }
    throw new BosunError("validation_error", `unknown bucket operation ${op}`);
  }

  /** An outbound fetch of a worker, under the egress policy, connected to the address that was checked. */
  private async egress(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    let address: string;
    try {
      address = await resolveEgress(url.hostname.replace(/^\[|\]$/g, ""), {
        allowPrivate: this.opts.allowPrivateEgress,
      });
    } catch (err) {
      const e = toBosunError(err);
      res.writeHead(e.code === "egress_denied" ? 403 : 502, { "content-type": "text/plain", "x-bosun-egress": e.code });
      res.end(e.message);
      return;
    }
    const family = net.isIP(address);
    const lookup: net.LookupFunction = (_host, options, cb) => {
      if (options.all) cb(null, [{ address, family }]);
      else cb(null, address, family);
    };
    const headers = { ...req.headers };
    delete headers["x-bosun-cap"];
    delete headers[INVOCATION_HEADER];
    delete headers["proxy-connection"];
    headers.host = url.host;
    const mod = url.protocol === "https:" ? https : http;
    await new Promise<void>((resolve) => {
      const out = mod.request(url, { method: req.method, headers, lookup, agent: false }, (upstream) => {
        // The limit header is ours: an upstream's copy must not make the worker's fetch throw.
        const { [LIMIT_HEADER]: _ours, ...passed } = upstream.headers;
        res.writeHead(upstream.statusCode ?? 502, passed);
        upstream.pipe(res);
        upstream.on("end", resolve);
        upstream.on("error", () => resolve());
      });
      out.on("error", (err: NodeJS.ErrnoException) => {
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`cannot connect to ${url.host} (${err.code ?? err.message})`);
        resolve();
      });
      req.pipe(out);
    });
  }

  // ---- SQL databases ---------------------------------------------------------------------------------------

  private async ensureSql(): Promise<WorkerdProcess> {
    if (this.sqlProc?.alive) return this.sqlProc;
    this.sqlStarting ??= (async () => {
      try {
        const port = await freePort();
        const admin = crypto.randomBytes(24).toString("base64url");
        const store = path.join(this.opts.dataDir, "workers", "sql");
        fs.mkdirSync(store, { recursive: true, mode: 0o700 });
        const config = [
          `using Workerd = import "/workerd/workerd.capnp";`,
          "const config :Workerd.Config = (",
          "  services = [",
          `    (name = "sql", worker = (modules = [(name = "sql.js", esModule = embed "sql.js")], compatibilityDate = "2025-01-01", bindings = [(name = "ADMIN", text = ${capnpString(admin)}), (name = "DB", durableObjectNamespace = "SqlDb")], durableObjectNamespaces = [(className = "SqlDb", uniqueKey = "bosun-sql-databases", enableSql = true)], durableObjectStorage = (localDisk = "sqldisk"))),`,
          `    (name = "sqldisk", disk = (path = ${capnpString(store)}, writable = true)),`,
          "  ],",
          `  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "sql")],`,
          ");",
        ].join("\n");
        const proc = await WorkerdProcess.start({
          dir: path.join(this.opts.dataDir, "workers", "run", `sql-${process.pid}-${++this.generationNo}`),
          config,
          files: { "sql.js": sqlStorageModule },
          port,
          adminToken: admin,
        });
        this.sqlProc = proc;
        return proc;
      } finally {
        this.sqlStarting = null;
      }
    })();
    return this.sqlStarting;
  }

  /** One call on a SQL database's Durable Object: `query`, `exec`, `tables` or `drop`. */
  async sqlCall(databaseId: string, op: string, args: Record<string, unknown> = {}): Promise<unknown> {
    const proc = await this.ensureSql();
    const res = await fetch(`http://127.0.0.1:${proc.port}/`, {
      method: "POST",
      headers: { "x-bosun-admin": proc.adminToken, "content-type": "application/json" },
      body: JSON.stringify({ database: databaseId, op, args }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (!res.ok) throw new BosunError("validation_error", body.error?.message ?? `SQL failed (${res.status})`);
    return body.result;
  }

  // ---- lifecycle ---------------------------------------------------------------------------------------------

  /** The binding service's loopback port (tests show it refuses calls without a worker's capability). */
  get bindingServicePort(): number {
    return this.bindingPort;
  }

  /** How to reach a worker on workerd itself, past Bosun's proxy (the benchmark's baseline). */
  async direct(projectSlug: string, name: string): Promise<{ url: string; headers: Record<string, string> } | null> {
    const gen = await this.ensureStarted();
    const route = gen.routes.get(`${projectSlug}/${name}`);
    if (!route) return null;
    return {
      url: `http://127.0.0.1:${gen.proc.port}/`,
      headers: { "x-bosun-admin": gen.proc.adminToken, "x-bosun-target": String(route.index) },
    };
  }

  /** The serving generation's port (benchmarks compare against workerd directly). */
  get port(): number | null {
    return this.current?.proc.port ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.opts.notifier?.off(WORKERS_CHANGED_TOPIC, this.onChanged);
    this.opts.notifier?.off(RESYNC_TOPIC, this.onResync);
    await this.starting?.catch(() => {});
    await this.sqlStarting?.catch(() => {});
    await this.switching;
    await this.flush();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    for (const p of this.early.values()) clearTimeout(p.timer);
    await Promise.all([this.current?.proc.stop(500), this.sqlProc?.stop(500)]);
    this.current = null;
    this.agent.destroy();
    await new Promise<void>((resolve) => (this.bindingServer ? this.bindingServer.close(() => resolve()) : resolve()));
    this.bindingServer?.closeAllConnections();
  }
}

function present<T>(v: T | undefined): T {
  if (v === undefined) throw new BosunError("not_supported", "KV stores and buckets are not available on this Bosun");
  return v;
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new BosunError("payload_too_large", "binding call too large");
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** One of Bosun's own pages (404, 402, 413, 502, 503): `close` ends the connection (an unread body follows). */
interface PageAnswer {
  kind: "page";
  status: number;
  title: string;
  text: string;
  close: boolean;
}

type Answer = PageAnswer | { kind: "stream"; status: number; rawHeaders: string[]; body: http.IncomingMessage };

interface Exchange {
  answer: Promise<Answer>;
  /** The visitor left: the worker's request is cut. */
  cancel(): void;
}

/** A visitor's request as the proxy forwards it. */
interface Visit {
  method: string;
  /** The visitor's URL: the worker's `request.url`. */
  url: string;
  /** Forwarded path and query, percent-encoded. */
  path: string;
  /** Names and values alternating, as Node's `rawHeaders`. */
  rawHeaders: string[];
  body: Readable | null;
}

/** Header pairs (as `rawHeaders`) without the hop-by-hop ones and `x-bosun-…` (ours: a visitor's copies go). */
function forwardable(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? "";
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && !lower.startsWith("x-bosun-")) out.push(name, raw[i + 1] ?? "");
  }
  return out;
}

/** A header's value in `rawHeaders` pairs (`name` lowercase). */
function headerOf(raw: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]?.length === name.length && raw[i]?.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

const pageOf = (status: number, title: string, text: string, close = false): PageAnswer => ({
  kind: "page",
  status,
  title,
  text,
  close,
});

const pageHtml = (p: PageAnswer) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${p.title}</title></head><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto"><h1>${p.title}</h1><p>${p.text}</p></body></html>`;

function pageHeaders(p: PageAnswer, node: boolean): Record<string, string> {
  const h: Record<string, string> = { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" };
  if (p.close && node) h.connection = "close";
  return h;
}
