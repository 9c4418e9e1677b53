// The pooled SSH client: one connection per instance per process, opened lazily through the egress policy,
// closed when idle, and opened again transparently after a drop. Commands share it as channels, at most
// MAX_CHANNELS at a time (OpenSSH's MaxSessions defaults to 10; one more is kept for the SFTP session), the
// rest queue. Host keys are checked against the pinned fingerprint before authenticating.
// Commands run with runRemote (run_command, logs, metrics, power) go through the connection's command server
// instead when it can run (serve(), command-server.ts): one more session, held while the connection lives, but
// the commands on it take slots and no channels and need no kill channel, so the sessions stay within 10.
// An instance may have two logins (the operator, and an unprivileged observer: core/instances/observer.ts):
// each has its own pooled connection, keyed by instance and login, with the same host-key check and pin.
import crypto from "node:crypto";
import type { ClientChannel, SFTPWrapper } from "ssh2";
import ssh2 from "ssh2";
import { connectEgress, type EgressPolicy } from "../egress.ts";
import { BosunError, present } from "../kernel/errors.ts";
import { CommandServer, NotStarted, type ServedHandle, type ServedIo, type ServedRequest } from "./command-server.ts";

const { Client } = ssh2;
type SshClient = InstanceType<typeof Client>;

export const MAX_CHANNELS = 8;

/** Everything needed to reach one instance; `version` changes when any of it does (a new connection then). */
export interface SshTarget {
  id: string;
  host: string;
  port: number;
  username: string;
  privateKey: string;
  /** The pinned SHA256 fingerprint, or null: the first successful connection pins what it sees. */
  hostKeyFingerprint: string | null;
  version: string;
  /** Which of the instance's logins this is; unset means the operator. */
  login?: "operator" | "observer";
}

export type Login = NonNullable<SshTarget["login"]>;
const LOGINS: readonly Login[] = ["operator", "observer"];
/** The pool key of a target's connection: one per instance and login. */
const keyOf = (id: string, login: Login = "operator") => (login === "operator" ? id : `${id}#${login}`);

export interface PoolOptions {
  policy: EgressPolicy;
  connectTimeoutMs: number;
  idleMs: number;
  /**
   * Called once a connection to an unpinned instance has authenticated; returns the fingerprint now pinned
   * (another process may have pinned first: then that one is what counts).
   */
  pin(target: SshTarget, fingerprint: string): Promise<string>;
  /** Told of each connection outcome, to keep the instance's last_connected_at / last_error (awaited, so a
   *  caller reading the instance right after sees it). */
  onOutcome?(target: SshTarget, error: BosunError | null): Promise<void>;
}

/** OpenSSH's fingerprint format: SHA256 of the key blob, base64 without padding. */
export const fingerprintOf = (keyBlob: Buffer) =>
  `SHA256:${crypto.createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;

export const hostKeyMismatch = (target: SshTarget, presented: string) =>
  new BosunError(
    "host_key_mismatch",
    `the host key of ${target.host}:${target.port} changed: pinned ${target.hostKeyFingerprint}, presented ${presented}. ` +
      "If the server was reinstalled on purpose, call reset_instance_host_key; otherwise someone may be intercepting the connection.",
    { pinned: target.hostKeyFingerprint, presented },
  );

interface Waiter {
  urgent: boolean;
  go(): void;
}

const limitFor = (urgent: boolean) => (urgent ? MAX_CHANNELS + 1 : MAX_CHANNELS);

class Connection {
  active = 0;
  private waiting: Waiter[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  closed = false;
  fingerprint: string | null = null;
  private sftpSession: Promise<SFTPWrapper> | null = null;
  /** The connection's command server (command-server.ts), started by the first command that asks; null inside
   *  when it could not start (commands then take a channel each for the connection's life). */
  server: Promise<CommandServer | null> | null = null;
  /** What was learnt about the server over this connection (SshPool.once). */
  readonly memos = new Map<string, Promise<unknown>>();
  readonly ready: Promise<void>;
  private closeListeners = new Set<() => void>();

  constructor(
    readonly target: SshTarget,
    readonly client: SshClient,
    connect: (c: Connection) => Promise<void>,
    private readonly idleMs: number,
    private readonly onGone: (c: Connection) => void,
  ) {
    client.on("close", () => this.markClosed());
    client.on("error", () => this.markClosed());
    this.ready = connect(this);
    this.ready.then(
      () => this.active === 0 && this.scheduleIdle(),
      () => this.close(),
    );
  }

  private scheduleIdle() {
    if (this.closed) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  private markClosed() {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.onGone(this);
    for (const l of this.closeListeners) l();
  }

  /** Runs fn when the connection goes away; returns the unsubscribe. */
  onClose(fn: () => void): () => void {
    if (this.closed) {
      fn();
      return () => {};
    }
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  get waitingCount() {
    return this.waiting.length;
  }

  /**
   * A channel slot. `urgent` (killing a timed-out command) goes to the front of the queue and may use one slot
   * past the limit, so a kill does not wait behind the commands it would free (8 + 1 + the SFTP session stays
   * within OpenSSH's default MaxSessions of 10).
   */
  async acquire(signal?: AbortSignal, urgent = false): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.active < limitFor(urgent)) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        urgent,
        go: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(new BosunError("timeout", "cancelled while waiting for a free SSH channel"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      if (urgent) this.waiting.unshift(waiter);
      else this.waiting.push(waiter);
    });
  }

  release() {
    this.active--;
    for (let next = this.waiting[0]; next && this.active < limitFor(next.urgent); next = this.waiting[0]) {
      this.active++;
      this.waiting.shift();
      next.go();
    }
    if (this.active === 0) this.scheduleIdle();
  }

  sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) return reject(err);
        sftp.on("close", () => (this.sftpSession = null));
        resolve(sftp);
      });
    });
    this.sftpSession.catch(() => (this.sftpSession = null));
    return this.sftpSession;
  }

  close() {
    this.markClosed();
    this.client.end();
  }
}

/** What a channel reported: an exit code, or the signal that ended the process. */
export interface ChannelExit {
  code: number | null;
  signal: string | null;
}

export interface ExecHandle {
  done: Promise<ChannelExit>;
  /** Sends a signal over the channel (best effort) and closes it. */
  abort(): void;
}

export class SshPool {
  private conns = new Map<string, Connection>();

  constructor(private readonly opts: PoolOptions) {}

  /** Commands running and waiting on the instance's connection (for tests and diagnostics). */
  load(id: string, login: Login = "operator"): { active: number; waiting: number } {
    const c = this.conns.get(keyOf(id, login));
    return { active: c?.active ?? 0, waiting: c?.waitingCount ?? 0 };
  }

  /** "connected" while this process holds an open, authenticated connection to the instance. */
  state(id: string, login: Login = "operator"): "connected" | "connecting" | "disconnected" {
    const c = this.conns.get(keyOf(id, login));
    if (!c || c.closed) return "disconnected";
    return c.fingerprint ? "connected" : "connecting";
  }

  /** Drops the instance's connections, every login's (its settings changed, or it was deleted); running channels end. */
  evict(id: string) {
    for (const login of LOGINS) this.dropKey(keyOf(id, login));
  }

  private dropKey(key: string) {
    this.conns.get(key)?.close();
    this.conns.delete(key);
  }

  async close() {
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }

  /** An authenticated connection to the target, opened if needed. */
  async connection(target: SshTarget): Promise<Connection> {
    const key = keyOf(target.id, target.login);
    let conn = this.conns.get(key);
    if (conn && (conn.closed || conn.target.version !== target.version)) {
      this.dropKey(key);
      conn = undefined;
    }
    if (!conn) {
      conn = new Connection(
        target,
        new Client(),
        (c) => this.open(c),
        this.opts.idleMs,
        (gone) => {
          if (this.conns.get(key) === gone) this.conns.delete(key);
        },
      );
      this.conns.set(key, conn);
    }
    await conn.ready;
    return conn;
  }

  /**
   * fn's answer, asked once per connection and kept while it lives (a new connection asks again): what a
   * command learns about the server, such as its login shell, need not cost a round trip on every command.
   */
  async once<T>(target: SshTarget, key: string, fn: () => Promise<T>): Promise<T> {
    const conn = await this.connection(target);
    let memo = conn.memos.get(key) as Promise<T> | undefined;
    if (!memo) {
      memo = fn();
      conn.memos.set(key, memo);
      memo.catch(() => conn.memos.delete(key));
    }
    return memo;
  }

  /** Connects, verifies the host key, authenticates and pins on first success. */
  private async open(conn: Connection): Promise<void> {
    const { target } = conn;
    try {
      const sock = await connectEgress(target.host, target.port, this.opts.policy, {
        timeoutMs: this.opts.connectTimeoutMs,
      });
      let presented: string | null = null;
      await new Promise<void>((resolve, reject) => {
        const client = conn.client;
        const onError = (err: Error & { level?: string }) => {
          client.off("ready", onReady);
          reject(this.mapConnectError(target, err, presented));
        };
        const onReady = () => {
          client.off("error", onError);
          resolve();
        };
        client.once("error", onError);
        client.once("ready", onReady);
        client.connect({
          sock,
          username: target.username,
          privateKey: target.privateKey,
          readyTimeout: this.opts.connectTimeoutMs,
          keepaliveInterval: 15_000,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            presented = fingerprintOf(key);
            return !target.hostKeyFingerprint || target.hostKeyFingerprint === presented;
          },
        });
      });
      // Set by hostVerifier before any connection is ready.
      const seen = present<string>(presented, "the host key the server presented");
      if (!target.hostKeyFingerprint) {
        const pinned = await this.opts.pin(target, seen);
        if (pinned !== seen) throw hostKeyMismatch({ ...target, hostKeyFingerprint: pinned }, seen);
      }
      conn.fingerprint = seen;
      await this.opts.onOutcome?.(target, null);
    } catch (err) {
      const error =
        err instanceof BosunError
          ? err
          : new BosunError(
              "unreachable",
              `SSH connection to ${target.host}:${target.port} failed: ${(err as Error).message}`,
            );
      await this.opts.onOutcome?.(target, error);
      throw error;
    }
  }

  private mapConnectError(target: SshTarget, err: Error & { level?: string }, presented: string | null): BosunError {
    const where = `${target.host}:${target.port}`;
    if (presented && target.hostKeyFingerprint && presented !== target.hostKeyFingerprint)
      return hostKeyMismatch(target, presented);
    if (err.level === "client-authentication") {
      return new BosunError(
        "auth_failed",
        `${where} refused the key for user '${target.username}' (is the instance's public key in that user's ~/.ssh/authorized_keys?)`,
        {
          host: target.host,
          port: target.port,
          username: target.username,
        },
      );
    }
    if (err.level === "client-timeout")
      return new BosunError("timeout", `the SSH handshake with ${where} timed out`, {
        host: target.host,
        port: target.port,
      });
    return new BosunError("unreachable", `SSH connection to ${where} failed: ${err.message}`, {
      host: target.host,
      port: target.port,
    });
  }

  /**
   * Runs a command through the connection's command server (command-server.ts), holding a slot as a channel
   * would, so the limit on concurrent commands and the idle close stay as they are. `start` is the exec request
   * that starts the server; it is started once per connection, and again if it ended (a command killed it).
   * Null when the server cannot run on this connection: the caller then uses exec().
   */
  async serve(
    target: SshTarget,
    start: string,
    request: ServedRequest,
    io: ServedIo & { signal?: AbortSignal },
  ): Promise<ServedHandle | null> {
    const first = await this.serveOnce(target, start, request, io);
    if (!first) return null;
    let current = first;
    let killed = false;
    // Sent to a server (or over a connection) that ended before it read the request: sent again, once, as a
    // channel would be opened again on a new connection.
    const done = first.done.catch(async (err) => {
      if (!(err instanceof NotStarted) || killed) throw this.notStarted(target, err);
      const again = await this.serveOnce(target, start, request, io);
      if (!again) throw this.notStarted(target, err);
      current = again;
      return again.done.catch((e) => {
        throw this.notStarted(target, e);
      });
    });
    return {
      done,
      kill: () => {
        killed = true;
        current.kill();
      },
    };
  }

  private notStarted(target: SshTarget, err: unknown) {
    return err instanceof NotStarted
      ? new BosunError("unreachable", `could not run the command on ${target.host}: ${err.message}`)
      : err;
  }

  private async serveOnce(
    target: SshTarget,
    start: string,
    request: ServedRequest,
    io: ServedIo & { signal?: AbortSignal },
  ): Promise<ServedHandle | null> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(target);
      conn.server ??= this.startServer(conn, start);
      const starting = conn.server;
      const server = await starting;
      if (!server) return null;
      if (server.closed) {
        if (conn.server === starting) conn.server = null;
        if (attempt < 2) continue;
        return null;
      }
      await conn.acquire(io.signal);
      return server.run(request, io, () => conn.release());
    }
  }

  /** Opens the server's channel (outside the slot count: it lives as long as the connection). */
  private async startServer(conn: Connection, start: string): Promise<CommandServer | null> {
    const channel = await new Promise<ClientChannel | null>((resolve) => {
      try {
        conn.client.exec(start, (err, ch) => resolve(err ? null : ch));
      } catch {
        resolve(null);
      }
    });
    if (!channel) return null;
    const server = await CommandServer.start(channel, conn.target.host, this.opts.connectTimeoutMs);
    conn.onClose(() => server?.close());
    return server;
  }

  /**
   * Runs `command` on a channel of the pooled connection. A connection found dead before the channel opened
   * is replaced once, transparently (the command has not started, so it cannot run twice).
   */
  async exec(
    target: SshTarget,
    command: string,
    io: {
      onStdout(chunk: Buffer): void;
      onStderr(chunk: Buffer): void;
      stdin?: Buffer | string;
      signal?: AbortSignal;
      urgent?: boolean;
    },
  ): Promise<ExecHandle> {
    let reconnected = false;
    let busyRetries = 0;
    for (;;) {
      const conn = await this.connection(target);
      await conn.acquire(io.signal, io.urgent);
      try {
        return await new Promise<ExecHandle>((resolve, reject) => {
          const off = conn.onClose(() => reject(new Error("connection closed")));
          try {
            conn.client.exec(command, (err, ch) => {
              off();
              if (err) return reject(err);
              // Listeners go on now, synchronously: a fast command's exit-status can arrive in the same
              // packet batch as the exec reply, and an 'exit' emitted before we listen is lost.
              resolve(this.watch(conn, ch, io));
            });
          } catch (err) {
            off();
            reject(err); // ssh2 throws "Not connected" synchronously on a dead socket
          }
        });
      } catch (err) {
        conn.release();
        const message = (err as Error).message;
        if (!reconnected && (conn.closed || /not connected|no response|connection closed/i.test(message))) {
          reconnected = true;
          this.dropKey(keyOf(target.id, target.login));
          continue;
        }
        // The server refused a session it still counts as open (its MaxSessions lags our channel closes): brief retry.
        if (!conn.closed && /open failure/i.test(message) && busyRetries < 5) {
          busyRetries++;
          await new Promise((r) => setTimeout(r, 50 * busyRetries));
          continue;
        }
        throw new BosunError("unreachable", `could not open an SSH channel to ${target.host}: ${message}`);
      }
    }
  }

  private watch(
    conn: Connection,
    channel: ClientChannel,
    io: { onStdout(chunk: Buffer): void; onStderr(chunk: Buffer): void; stdin?: Buffer | string },
  ): ExecHandle {
    let exit: ChannelExit | null = null;
    const done = new Promise<ChannelExit>((resolve, reject) => {
      let settled = false;
      const finish = (err: BosunError | null) => {
        if (settled) return;
        settled = true;
        off();
        conn.release();
        if (err) reject(err);
        else resolve(exit ?? { code: null, signal: null });
      };
      const off = conn.onClose(() =>
        finish(
          exit
            ? null
            : new BosunError(
                "unreachable",
                `the connection to ${conn.target.host} was lost while the command ran; it may or may not have completed`,
              ),
        ),
      );
      channel.on("data", (d: Buffer) => io.onStdout(d));
      channel.stderr.on("data", (d: Buffer) => io.onStderr(d));
      channel.on("exit", (code: number | null, signal?: string) => {
        exit = { code: typeof code === "number" ? code : null, signal: signal ?? null };
      });
      channel.on("close", () => finish(null));
    });
    if (io.stdin !== undefined) channel.end(io.stdin);
    else channel.end();
    return {
      done,
      abort: () => {
        try {
          channel.signal("KILL");
        } catch {
          /* the channel may already be gone */
        }
        channel.close();
      },
    };
  }

  /**
   * Runs fn with the connection's SFTP session (one per connection, kept while it lives), holding a channel
   * slot meanwhile so an idle close cannot cut it off.
   */
  async withSftp<T>(target: SshTarget, fn: (sftp: SFTPWrapper) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection(target);
      await conn.acquire(signal);
      let sftp: SFTPWrapper;
      try {
        sftp = await conn.sftp();
      } catch (err) {
        conn.release();
        if (attempt === 0 && conn.closed) {
          this.dropKey(keyOf(target.id, target.login));
          continue;
        }
        throw new BosunError("unreachable", `could not open SFTP on ${target.host}: ${(err as Error).message}`);
      }
      try {
        return await fn(sftp);
      } finally {
        conn.release();
      }
    }
  }
}
