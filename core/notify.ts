// Cross-process signals (token revocations now; run events later). In-process listeners always hear a
// publish at once; on Postgres, LISTEN/NOTIFY carries it to every other Bosun process on the same database.
import { EventEmitter } from "node:events";
import { type Expression, type RawBuilder, sql } from "kysely";
import type pg from "pg";
import type { DatabaseKind } from "../schema/open-database.ts";

const CHANNEL = "bosun_events";
/** Emitted locally after a lost LISTEN connection is back: what was published meanwhile was missed. */
export const RESYNC_TOPIC = "resync";

export class Notifier {
  private local = new EventEmitter();
  private client: pg.PoolClient | null = null;
  private closed = false;
  private listenedBefore = false;

  private constructor(private readonly pool: pg.Pool | null) {
    this.local.setMaxListeners(0);
  }

  static async start(kind: DatabaseKind, pool: pg.Pool): Promise<Notifier> {
    if (kind !== "postgres") return new Notifier(null);
    const n = new Notifier(pool);
    await n.listen();
    return n;
  }

  private async listen(): Promise<void> {
    if (!this.pool) return; // PGlite: one process, local events only
    const client = await this.pool.connect();
    client.on("notification", (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      try {
        const { topic, data } = JSON.parse(msg.payload);
        this.local.emit(topic, data);
      } catch {
        /* not ours */
      }
    });
    // The connection can be cut (a Postgres restart, pg_terminate_backend). Unhandled, that error would crash
    // the process; instead drop the connection and listen again on a new one.
    client.on("error", () => {
      if (this.client !== client) return;
      this.client = null;
      client.release(true);
      this.relisten();
    });
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      client.release(true);
      throw err;
    }
    if (this.closed) client.release();
    else {
      const relistened = this.listenedBefore;
      this.client = client;
      this.listenedBefore = true;
      if (relistened) this.local.emit(RESYNC_TOPIC, "");
    }
  }

  private relisten(delayMs = 250): void {
    if (this.closed) return;
    setTimeout(() => {
      this.listen().catch(() => this.relisten(Math.min(delayMs * 2, 10_000)));
    }, delayMs).unref();
  }

  /**
   * The publish of `topic` as a SQL expression, to put in the statement whose commit it announces (Postgres
   * delivers a NOTIFY at commit, to every process): no round trip of its own. Null on PGlite (one process).
   * Listeners in this process hear it through LISTEN too; `emitLocal` after the commit tells them at once.
   */
  notifySql(topic: string, data: Expression<string>): RawBuilder<string> | null {
    if (!this.pool) return null;
    return sql<string>`pg_notify(${CHANNEL}, json_build_object('topic', ${topic}::text, 'data', ${data})::text)`;
  }

  /** Tells this process's listeners only: the other processes were told by `notifySql` in SQL. */
  emitLocal(topic: string, data: string): void {
    this.local.emit(topic, data);
  }

  on(topic: string, fn: (data: string) => void): void {
    this.local.on(topic, fn);
  }

  off(topic: string, fn: (data: string) => void): void {
    this.local.off(topic, fn);
  }

  async publish(topic: string, data: string): Promise<void> {
    this.local.emit(topic, data);
    if (this.pool) await this.pool.query("SELECT pg_notify($1, $2)", [CHANNEL, JSON.stringify({ topic, data })]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client?.release();
    this.client = null;
  }
}
