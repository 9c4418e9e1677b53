// `bosun sites push|pull|deploy DIR --project P`: a folder kept in sync with a site's draft over REST (BOSUN_URL,
// BOSUN_TOKEN). The draft is content-addressed, so the folder's SHA-256s against the draft's manifest (list_files)
// say exactly what changed: push sends only that, as one tar.gz (deploy_site_archive, merge) plus one
// delete_files for what is gone; pull fetches only what differs. `.bosunignore` (gitignore syntax, `ignore`)
// names paths neither side touches. The diff goes to stdout (what --dry-run shows); progress to stderr.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import ignore, { type Ignore } from "ignore";
import { create as tarCreate } from "tar";
import { blockedReason, normalisePath } from "../core/sites/paths.ts";

/** Never synced, whatever .bosunignore says. */
const ALWAYS_IGNORED = [".git/", ".bosunignore", ".DS_Store", "Thumbs.db"];
const DOWNLOADS_AT_ONCE = 8;

export interface LocalFile {
  path: string;
  sha256: string;
  bytes: number;
}

interface RemoteFile extends LocalFile {}

export interface SyncPlan {
  added: string[];
  modified: string[];
  deleted: string[];
  unchanged: number;
}

export interface SyncResult extends SyncPlan {
  /** Request-body bytes sent (push) or file bytes received (pull). */
  bytes: number;
  dry_run: boolean;
}

export interface SyncOptions {
  project: string;
  dryRun?: boolean;
  base?: string;
  token?: string;
  /** Where the diff lines go (stdout); progress and notes go to `progress`. */
  out?: (line: string) => void;
  progress?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
}

/** A progress bar on a terminal; on anything else a short line when a step starts and when it ends. */
class Progress {
  private total = 0;
  private done = 0;
  private label = "";
  private last = 0;
  constructor(private readonly stream: NonNullable<SyncOptions["progress"]>) {}

  start(label: string, total: number) {
    Object.assign(this, { label, total, done: 0, last: 0 });
    if (!this.stream.isTTY) this.stream.write(`${label}…\n`);
    else this.draw();
  }

  tick(n: number) {
    this.done += n;
    const now = Date.now();
    if (this.stream.isTTY && now - this.last > 100) {
      this.last = now;
      this.draw();
    }
  }

  end(note: string) {
    if (this.stream.isTTY) {
      this.done = this.total;
      this.draw();
      this.stream.write("\n");
    }
    this.stream.write(`${note}\n`);
  }

  note(line: string) {
    this.stream.write(`${line}\n`);
  }

  private draw() {
    const share = this.total ? Math.min(1, this.done / this.total) : 1;
    const width = 30;
    const bar = "#".repeat(Math.round(share * width)).padEnd(width, "-");
    this.stream.write(`\r${this.label} [${bar}] ${Math.round(share * 100)}% ${this.done}/${this.total}\u001b[K`);
  }
}

async function loadIgnore(dir: string): Promise<Ignore> {
  const ig = ignore().add(ALWAYS_IGNORED);
  const file = path.join(dir, ".bosunignore");
  if (fs.existsSync(file)) ig.add(await fs.promises.readFile(file, "utf8"));
  return ig;
}

// Synchronous on purpose: a one-shot command reading small files from the page cache, where an fs.promises call
// per file is a thread-pool round trip that costs more than the read (a third of a 1,000-file push's time).
const sha256File = (file: string) => {
  const data = fs.readFileSync(file);
  return { sha256: crypto.createHash("sha256").update(data).digest("hex"), bytes: data.length };
};

/** The folder's files (not ignored), '/'-separated and hashed. Symbolic links are skipped: they could point anywhere. */
export async function scanFolder(dir: string, ig: Ignore, warn: (line: string) => void = () => {}) {
  const files: LocalFile[] = [];
  const walk = (rel: string) => {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!ig.ignores(`${relPath}/`)) walk(relPath);
      } else if (e.isFile()) {
        if (!ig.ignores(relPath)) files.push({ path: relPath, ...sha256File(path.join(dir, relPath)) });
      } else if (e.isSymbolicLink() && !ig.ignores(relPath)) warn(`skipped symbolic link ${relPath}`);
    }
  };
  walk("");
  return files;
}

export function diffFiles(from: LocalFile[], to: LocalFile[]): SyncPlan {
  const before = new Map(from.map((f) => [f.path, f.sha256]));
  const after = new Set(to.map((f) => f.path));
  const plan: SyncPlan = { added: [], modified: [], deleted: [], unchanged: 0 };
  for (const f of to) {
    const old = before.get(f.path);
    if (old === undefined) plan.added.push(f.path);
    else if (old !== f.sha256) plan.modified.push(f.path);
    else plan.unchanged++;
  }
  for (const f of from) if (!after.has(f.path)) plan.deleted.push(f.path);
  return plan;
}

class Api {
  constructor(
    readonly base: string,
    readonly token: string | undefined,
    readonly project: string,
  ) {}

  url(p: string) {
    return new URL(`/v1/projects/${encodeURIComponent(this.project)}${p}`, this.base);
  }

  async call(method: string, p: string, init: { json?: unknown; body?: RequestInit["body"]; type?: string } = {}) {
    const headers: Record<string, string> = { "X-Bosun-Client": "cli" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let body = init.body;
    if (init.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(init.json);
    } else if (init.type) headers["Content-Type"] = init.type;
    // A streamed body needs half-duplex (undici); the DOM typings do not know the option.
    const request = { method, headers, body, duplex: "half" } as RequestInit;
    const res = await fetch(this.url(p), request).catch((err: Error & { cause?: { code?: string } }) => {
      throw new Error(`cannot reach Bosun at ${this.base} (${err.cause?.code ?? err.message}); is BOSUN_URL right?`);
    });
    const text = await res.text();
    // biome-ignore lint/suspicious/noExplicitAny: a REST answer, read by the few fields each caller needs
    let parsed: any = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    if (!res.ok) {
      const error = parsed?.error;
      const err = new Error(error ? `${error.code}: ${error.message}` : `HTTP ${res.status}: ${text.slice(0, 200)}`);
      (err as Error & { code?: string }).code = error?.code;
      throw err;
    }
    return parsed;
  }

  async manifest(): Promise<RemoteFile[]> {
    return (await this.call("GET", "/files")).files;
  }
}

function apiOf(opts: SyncOptions) {
  return new Api(
    opts.base ?? process.env.BOSUN_URL ?? "http://127.0.0.1:8787",
    opts.token ?? process.env.BOSUN_TOKEN,
    opts.project,
  );
}

/** The diff, one line per path: `+` added, `~` modified, `-` deleted (on the side being written). */
function printPlan(plan: SyncPlan, out: (line: string) => void) {
  for (const p of plan.added) out(`+ ${p}`);
  for (const p of plan.modified) out(`~ ${p}`);
  for (const p of plan.deleted) out(`- ${p}`);
}

/** Sends what changed in `dir` to the draft: one tar.gz of the new and modified files, one delete of what is gone. */
export async function pushFolder(dir: string, opts: SyncOptions): Promise<SyncResult> {
  const api = apiOf(opts);
  const out = opts.out ?? ((line) => process.stdout.write(`${line}\n`));
  const progress = new Progress(opts.progress ?? process.stderr);
  const ig = await loadIgnore(dir);
  const local = await scanFolder(dir, ig, (l) => progress.note(l));
  // The server would refuse the whole archive for one of these; say which, before sending anything.
  const refused = local.flatMap((f) => {
    try {
      normalisePath(f.path);
      const why = blockedReason(f.path);
      return why ? [`${f.path}: ${why}`] : [];
    } catch (err) {
      return [`${f.path}: ${(err as Error).message.replace(/^path: /, "")}`];
    }
  });
  if (refused.length)
    throw new Error(`these files cannot be part of a site (add them to .bosunignore):\n  ${refused.join("\n  ")}`);
  // Paths the ignore rules cover are left alone on the server too: ignoring is not deleting.
  const remote = (await api.manifest()).filter((f) => !ig.ignores(f.path));
  const plan = diffFiles(remote, local);
  printPlan(plan, out);
  const result: SyncResult = { ...plan, bytes: 0, dry_run: !!opts.dryRun };
  if (opts.dryRun) return result;

  const send = [...plan.added, ...plan.modified];
  if (send.length) {
    const sending = new Set(send);
    const total = local.filter((f) => sending.has(f.path)).reduce((s, f) => s + f.bytes, 0);
    progress.start(`uploading ${send.length} file(s)`, total);
    // `./` first: tar reads a name starting with `@` as another archive to copy from.
    const tar = tarCreate(
      { gzip: true, cwd: dir, portable: true, noDirRecurse: true },
      send.map((p) => `./${p}`),
    );
    let sent = 0;
    async function* counted() {
      for await (const chunk of tar as AsyncIterable<Buffer>) {
        sent += chunk.length;
        progress.tick(chunk.length * 3); // unpacked bytes tick the bar; gzip output is a fraction of them
        yield chunk;
      }
    }
    const done = await api.call("POST", "/draft/archive?mode=merge", {
      body: counted() as unknown as RequestInit["body"],
      type: "application/gzip",
    });
    result.bytes += sent;
    progress.end(`uploaded ${done.files} file(s), ${sent} bytes`);
  }
  for (let i = 0; i < plan.deleted.length; i += 10_000) {
    const paths = plan.deleted.slice(i, i + 10_000);
    const body = JSON.stringify({ paths });
    await api.call("POST", "/files/delete", { json: { paths } });
    result.bytes += Buffer.byteLength(body);
  }
  if (plan.deleted.length) progress.note(`deleted ${plan.deleted.length} file(s)`);
  progress.note(
    `${opts.project}: ${plan.added.length} added, ${plan.modified.length} modified, ${plan.deleted.length} deleted, ${plan.unchanged} unchanged`,
  );
  return result;
}

/** Where a draft path lands in `dir`, or null when it would land outside (a hostile server's path). */
function localPath(dir: string, p: string): string | null {
  try {
    if (normalisePath(p) !== p) return null;
  } catch {
    return null;
  }
  const abs = path.resolve(dir, ...p.split("/"));
  return abs.startsWith(path.resolve(dir) + path.sep) ? abs : null;
}

/** Fetches what differs from the draft into `dir` and deletes local files the draft lacks (ignored ones stay). */
export async function pullFolder(dir: string, opts: SyncOptions): Promise<SyncResult> {
  const api = apiOf(opts);
  const out = opts.out ?? ((line) => process.stdout.write(`${line}\n`));
  const progress = new Progress(opts.progress ?? process.stderr);
  await fs.promises.mkdir(dir, { recursive: true });
  const ig = await loadIgnore(dir);
  const local = await scanFolder(dir, ig, (l) => progress.note(l));
  const remote = (await api.manifest()).filter((f) => {
    if (ig.ignores(f.path)) return false;
    if (localPath(dir, f.path)) return true;
    progress.note(`skipped unsafe path ${JSON.stringify(f.path)}`);
    return false;
  });
  const plan = diffFiles(local, remote);
  printPlan(plan, out);
  const result: SyncResult = { ...plan, bytes: 0, dry_run: !!opts.dryRun };
  if (opts.dryRun) return result;

  const wanted = new Set([...plan.added, ...plan.modified]);
  const fetchList = remote.filter((f) => wanted.has(f.path));
  if (fetchList.length) {
    progress.start(`downloading ${fetchList.length} file(s)`, fetchList.length);
    const queue = [...fetchList];
    const worker = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const file = await api.call("GET", `/files/content?path=${encodeURIComponent(f.path)}`);
        const data = Buffer.from(file.content, file.encoding === "base64" ? "base64" : "utf8");
        const target = localPath(dir, f.path)!;
        await fs.promises.mkdir(path.dirname(target), { recursive: true });
        await fs.promises.writeFile(target, data);
        result.bytes += data.length;
        progress.tick(1);
      }
    };
    await Promise.all(Array.from({ length: DOWNLOADS_AT_ONCE }, worker));
    progress.end(`downloaded ${fetchList.length} file(s), ${result.bytes} bytes`);
  }
  for (const p of plan.deleted) await fs.promises.rm(path.join(dir, ...p.split("/")), { force: true });
  progress.note(
    `${opts.project}: ${plan.added.length} added, ${plan.modified.length} modified, ${plan.deleted.length} deleted, ${plan.unchanged} unchanged`,
  );
  return result;
}

/** push, then publish_site (a push that changed nothing still publishes a draft that differs from the live site). */
export async function deployFolder(dir: string, opts: SyncOptions): Promise<SyncResult & { release: number | null }> {
  const pushed = await pushFolder(dir, opts);
  if (opts.dryRun) return { ...pushed, release: null };
  const progress = new Progress(opts.progress ?? process.stderr);
  try {
    const published = await apiOf(opts).call("POST", "/releases");
    progress.note(`published release ${published.release}`);
    return { ...pushed, release: published.release };
  } catch (err) {
    if ((err as Error & { code?: string }).code !== "nothing_to_publish") throw err;
    progress.note("nothing to publish: the live site already matches");
    return { ...pushed, release: null };
  }
}
