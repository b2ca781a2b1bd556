import { hostname } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../store/sqlite.js';
import type { Cursor } from '../store/types.js';
import { alive } from '../util/process.js';

/**
 * The outbox's own state, in `<dataDir>/sinks.db`: each sink's delivery cursor into the event
 * store (the last event delivered or dead-lettered) and its dead letters. The cursor moves only
 * after a delivery is acknowledged, so a crash redelivers at most the event in flight (at least
 * once; receivers drop duplicates by event id and revision).
 */
const migrations = [
  `CREATE TABLE sink_cursor (
     sink TEXT PRIMARY KEY,
     cursor TEXT,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE dead_letter (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     sink TEXT NOT NULL,
     event_id TEXT NOT NULL,
     revision INTEGER,
     kind TEXT NOT NULL,
     camera TEXT,
     cursor TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     first_try_at TEXT NOT NULL,
     dead_at TEXT NOT NULL,
     last_error TEXT NOT NULL,
     payload TEXT NOT NULL
   );
   CREATE INDEX dead_letter_sink ON dead_letter (sink, seq);`,
  // Dead letters an operator asked to send again (POST /api/sinks/:id/dead-letters/retry).
  `ALTER TABLE dead_letter ADD COLUMN requeued INTEGER NOT NULL DEFAULT 0;`,
  // Which process delivers a sink (one at a time: two would share its cursor and send everything twice).
  `CREATE TABLE sink_owner (
     sink TEXT PRIMARY KEY,
     host TEXT NOT NULL,
     pid INTEGER NOT NULL,
     heartbeat_ms INTEGER NOT NULL
   );`,
] as const;

export interface DeadLetter {
  readonly seq: number;
  readonly sink: string;
  readonly eventId: string;
  readonly revision: number | null;
  readonly kind: string;
  readonly camera: string | null;
  readonly cursor: Cursor;
  readonly attempts: number;
  readonly firstTryAt: string;
  readonly deadAt: string;
  /** Why the last try failed (no secrets: sinks never put them in errors). */
  readonly lastError: string;
  /** The JSON that could not be delivered. */
  readonly payload: string;
}

interface DeadRow {
  seq: number;
  sink: string;
  event_id: string;
  revision: number | null;
  kind: string;
  camera: string | null;
  cursor: string;
  attempts: number;
  first_try_at: string;
  dead_at: string;
  last_error: string;
  payload: string;
}

const fromRow = (r: DeadRow): DeadLetter => ({
  seq: r.seq,
  sink: r.sink,
  eventId: r.event_id,
  revision: r.revision,
  kind: r.kind,
  camera: r.camera,
  cursor: r.cursor,
  attempts: r.attempts,
  firstTryAt: r.first_try_at,
  deadAt: r.dead_at,
  lastError: r.last_error,
  payload: r.payload,
});

export const sinksDbPath = (dataDir: string): string => join(dataDir, 'sinks.db');

export class SinkState {
  readonly #db: Db;

  constructor(path: string) {
    this.#db = openDatabase(path, { migrations });
  }

  /** The sink's cursor: undefined when the sink has none yet (first start), null for "before the first event". */
  cursor(sink: string): Cursor | null | undefined {
    const row = this.#db.prepare('SELECT cursor FROM sink_cursor WHERE sink = ?').get(sink) as { cursor: string | null } | undefined;
    return row === undefined ? undefined : row.cursor;
  }

  advance(sink: string, cursor: Cursor | null): void {
    this.#db
      .prepare('INSERT INTO sink_cursor (sink, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (sink) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at')
      .run(sink, cursor, new Date().toISOString());
  }

  /** Records a dead letter and moves the cursor past it, in one transaction. */
  deadLetter(d: Omit<DeadLetter, 'seq' | 'sink' | 'deadAt'>, sink: string): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO dead_letter (sink, event_id, revision, kind, camera, cursor, attempts, first_try_at, dead_at, last_error, payload)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(sink, d.eventId, d.revision, d.kind, d.camera, d.cursor, d.attempts, d.firstTryAt, new Date().toISOString(), d.lastError, d.payload);
      this.advance(sink, d.cursor);
    })();
  }

  deadLetters(sink: string, limit = 50): DeadLetter[] {
    return (this.#db.prepare('SELECT * FROM dead_letter WHERE sink = ? ORDER BY seq DESC LIMIT ?').all(sink, limit) as DeadRow[]).map(fromRow);
  }

  /** Marks every dead letter of the sink for one more try; returns how many. */
  requeue(sink: string): number {
    return this.#db.prepare('UPDATE dead_letter SET requeued = 1 WHERE sink = ? AND requeued = 0').run(sink).changes;
  }

  requeued(sink: string, limit = 100): DeadLetter[] {
    return (this.#db.prepare('SELECT * FROM dead_letter WHERE sink = ? AND requeued = 1 ORDER BY seq LIMIT ?').all(sink, limit) as DeadRow[]).map(fromRow);
  }

  /** A requeued dead letter was delivered: gone. */
  resolve(seq: number): void {
    this.#db.prepare('DELETE FROM dead_letter WHERE seq = ?').run(seq);
  }

  /** A requeued dead letter failed again: stays dead, with the new error. */
  failedAgain(seq: number, error: string): void {
    this.#db.prepare('UPDATE dead_letter SET requeued = 0, attempts = attempts + 1, last_error = ?, dead_at = ? WHERE seq = ?').run(error, new Date().toISOString(), seq);
  }

  /**
   * Claims the sink for this process. Taken over when free, when its owner's heartbeat is older than
   * `staleMs`, or when the owner is a dead process on this host (a kill -9 frees it at once).
   * Returns the current owner ("host:pid") when another process holds it.
   */
  claim(sink: string, staleMs: number, host: string = hostname(), pid: number = process.pid): string | null {
    return this.#db.transaction((): string | null => {
      const row = this.#db.prepare('SELECT host, pid, heartbeat_ms FROM sink_owner WHERE sink = ?').get(sink) as { host: string; pid: number; heartbeat_ms: number } | undefined;
      const mine = row && row.host === host && row.pid === pid;
      const free = !row || mine || Date.now() - row.heartbeat_ms > staleMs || (row.host === host && !alive(row.pid));
      if (!free) return `${row.host}:${row.pid}`;
      this.#db.prepare('INSERT INTO sink_owner (sink, host, pid, heartbeat_ms) VALUES (?, ?, ?, ?) ON CONFLICT (sink) DO UPDATE SET host = excluded.host, pid = excluded.pid, heartbeat_ms = excluded.heartbeat_ms').run(sink, host, pid, Date.now());
      return null;
    }).immediate();
  }

  release(sink: string, host: string = hostname(), pid: number = process.pid): void {
    this.#db.prepare('DELETE FROM sink_owner WHERE sink = ? AND host = ? AND pid = ?').run(sink, host, pid);
  }

  deadCount(sink: string): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM dead_letter WHERE sink = ?').get(sink) as { n: number }).n;
  }

  close(): void {
    this.#db.close();
  }
}
