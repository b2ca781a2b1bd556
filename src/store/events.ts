import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import type { CameraStatus, MatchEvent } from '../contracts/messages.js';
import { isVigilError, VigilError } from '../errors.js';
import { openDatabase, type Db } from './sqlite.js';
import type { Cursor, EventFilter, EventPage, EventStore, OperatorAction, ReadOptions, SightingEvent, StoredEvent, StoredPayload } from './types.js';

/**
 * The event store on SQLite (<dataDir>/events.db): one row per event, ordered by an AUTOINCREMENT
 * sequence (never reused, even after a purge, so cursors stay monotonic). Crops are kept as blobs in
 * the row (decoded JPEG, a quarter smaller than base64), so an event and its crop are written in one
 * transaction and the file's 0600 mode covers both. One writer: the process that owns the store.
 */
const migrations = [
  (db: Db): void => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        type TEXT NOT NULL,
        event_id TEXT,
        revision INTEGER,
        camera TEXT,
        subject TEXT,
        stored_at INTEGER NOT NULL,
        dedupe TEXT UNIQUE,
        payload TEXT NOT NULL,
        crop BLOB
      );
      CREATE INDEX events_by_event ON events (event_id, seq);
      CREATE INDEX events_by_time ON events (stored_at);
      CREATE INDEX events_by_type_camera ON events (type, camera, seq);
    `);
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('storeId', randomBytes(6).toString('hex'));
  },
];

interface Row {
  seq: number;
  payload: string;
  crop: Buffer | null;
}

export interface SqliteEventStoreOptions {
  /** Rows older than this are purged, days. */
  readonly retentionDays: number;
  /** Crops kept (the newest); older events keep their row without the crop. */
  readonly maxCrops: number;
  /** How often retention runs, ms (0: only when purge() is called). */
  readonly purgeIntervalMs: number;
  readonly registry?: Registry;
  /** A live listener threw: reported here, the append still succeeded. */
  readonly onListenerError?: (err: unknown) => void;
  readonly now?: () => number;
}

export const EVENT_TYPES = ['alert', 'update', 'camera-status', 'ack', 'sighting'] as const;

const typeOf = (p: StoredPayload): string => (p.kind === 'match' ? p.type : p.kind);

/** Keys that make a repeated delivery a no-op: a match event by (id, revision), a sighting by id, a status by (camera, time, state). */
function dedupeKeyOf(p: StoredPayload): string | null {
  if (p.kind === 'match') return `m\0${p.id}\0${p.revision}`;
  if (p.kind === 'sighting') return `g\0${p.id}`;
  if (p.kind === 'camera-status') return `s\0${p.camera}\0${p.at}\0${p.state}`;
  return null;
}

function purgedCounter(reg: Registry | undefined): Counter<'what'> | undefined {
  if (!reg) return undefined;
  const name = 'vigil_events_purged_total';
  return (reg.getSingleMetric(name) as Counter<'what'> | undefined) ?? new Counter({ name, help: 'Rows (what="events") and crops (what="crops") removed from the event store by retention', labelNames: ['what'], registers: [reg] });
}

export class SqliteEventStore implements EventStore {
  readonly file: string;
  readonly #db: Db;
  readonly #id: string;
  readonly #o: SqliteEventStoreOptions;
  readonly #listeners = new Set<(e: StoredEvent) => void>();
  readonly #purged: Counter<'what'> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #insert;
  readonly #byDedupe;
  readonly #alertOf;
  readonly #latestAck;
  readonly #lastSeq;

  private constructor(file: string, o: SqliteEventStoreOptions) {
    this.file = file;
    this.#o = o;
    try {
      this.#db = openDatabase(file, { migrations });
    } catch (err) {
      if (isVigilError(err)) throw err; // e.g. a schema newer than this Vigil: its own code and fix
      throw new VigilError('VIGIL_ERR_EVENTS_STORE', { file, reason: (err as Error).message }, err);
    }
    this.#id = (this.#db.prepare("SELECT value FROM meta WHERE key = 'storeId'").get() as { value: string }).value;
    this.#insert = this.#db.prepare(
      'INSERT INTO events (kind, type, event_id, revision, camera, subject, stored_at, dedupe, payload, crop) VALUES (@kind, @type, @eventId, @revision, @camera, @subject, @storedAt, @dedupe, @payload, @crop) ON CONFLICT (dedupe) DO NOTHING',
    );
    this.#byDedupe = this.#db.prepare('SELECT seq, payload, crop FROM events WHERE dedupe = ?');
    this.#alertOf = this.#db.prepare("SELECT seq, payload, crop FROM events WHERE event_id = ? AND kind = 'match' ORDER BY revision DESC, seq DESC LIMIT 1");
    this.#latestAck = this.#db.prepare("SELECT seq, payload, crop FROM events WHERE event_id = ? AND kind = 'ack' ORDER BY seq DESC LIMIT 1");
    this.#lastSeq = this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'");
    this.#purged = purgedCounter(o.registry);
    if (o.purgeIntervalMs > 0) {
      this.#timer = setInterval(() => this.purge(), o.purgeIntervalMs);
      this.#timer.unref();
    }
  }

  /** Opens (creating, migrating) <dataDir>/events.db and runs retention once. */
  static open(dataDir: string, o: SqliteEventStoreOptions): SqliteEventStore {
    const s = new SqliteEventStore(join(dataDir, 'events.db'), o);
    s.purge();
    return s;
  }

  // --- cursors: base64url("<storeId>:<seq>"), so one from another store (or a reset one) is unknown, not silently misread

  #cursor(seq: number): Cursor {
    return Buffer.from(`${this.#id}:${seq}`).toString('base64url');
  }

  #seqOf(c: Cursor): number {
    const m = /^([0-9a-f]{12}):(\d{1,15})$/.exec(/^[A-Za-z0-9_-]{1,40}$/.test(c) ? Buffer.from(c, 'base64url').toString('latin1') : '');
    if (!m) throw new VigilError('VIGIL_ERR_EVENTS_CURSOR', { cursor: c.slice(0, 64), reason: 'malformed (pass back a cursor this server gave)' });
    const seq = Number(m[2]);
    if (m[1] !== this.#id || seq > this.#maxSeq()) {
      throw new VigilError('VIGIL_ERR_EVENTS_CURSOR', { cursor: c.slice(0, 64), reason: 'unknown to this event store (from another server, or the store was reset)' });
    }
    return seq;
  }

  #maxSeq(): number {
    return (this.#lastSeq.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  compare(a: Cursor, b: Cursor): number {
    return this.#seqOf(a) - this.#seqOf(b);
  }

  #decode(r: Row, crops = true): StoredEvent {
    const p = JSON.parse(r.payload) as Record<string, unknown>;
    if (p['kind'] === 'match' || p['kind'] === 'sighting') {
      if (crops) p['crop'] = r.crop ? r.crop.toString('base64') : '';
      else delete p['crop'];
    }
    return { ...p, cursor: this.#cursor(r.seq) } as StoredEvent;
  }

  // --- writes

  async append<T extends StoredPayload>(payload: T): Promise<StoredEvent<T>> {
    return this.appendSync(payload);
  }

  /** append(), synchronously (better-sqlite3 is synchronous; the live feed relies on append order). */
  appendSync<T extends StoredPayload>(payload: T): StoredEvent<T> {
    const dedupe = dedupeKeyOf(payload);
    let camera: string | null = null;
    let subject: string | null = null;
    let eventId: string | null = null;
    let revision: number | null = null;
    let crop: Buffer | null = null;
    let body: string;
    if (payload.kind === 'match') {
      const m = payload as MatchEvent;
      ({ camera } = m);
      subject = m.subject.id;
      eventId = m.id;
      revision = m.revision;
      crop = m.crop ? Buffer.from(m.crop, 'base64') : null;
      body = JSON.stringify({ ...m, crop: '' });
    } else if (payload.kind === 'sighting') {
      // Stored like a match event (crop as a blob), filed under its alert's id so it is found with it.
      const g = payload as SightingEvent;
      ({ camera } = g);
      subject = g.subject.id;
      eventId = g.alertId;
      crop = g.crop ? Buffer.from(g.crop, 'base64') : null;
      body = JSON.stringify({ ...g, crop: '' });
    } else if (payload.kind === 'camera-status') {
      camera = (payload as CameraStatus).camera;
      body = JSON.stringify(payload);
    } else {
      // An ack is filed under its alert's camera and subject, so filtered feeds see it.
      const a = payload as OperatorAction;
      eventId = a.eventId;
      camera = a.camera ?? null;
      subject = a.subjectId ?? null;
      body = JSON.stringify(payload);
    }
    const info = this.#insert.run({ kind: payload.kind, type: typeOf(payload), eventId, revision, camera, subject, storedAt: (this.#o.now ?? Date.now)(), dedupe, payload: body, crop });
    if (info.changes === 0) {
      // Already stored (a redelivery): hand back the stored one; listeners saw it the first time.
      return this.#decode(this.#byDedupe.get(dedupe) as Row) as unknown as StoredEvent<T>;
    }
    const stored = { ...payload, cursor: this.#cursor(Number(info.lastInsertRowid)) } as StoredEvent<T>;
    for (const fn of this.#listeners) {
      try {
        fn(stored);
      } catch (err) {
        this.#o.onListenerError?.(err);
      }
    }
    return stored;
  }

  subscribe(fn: (e: StoredEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  // --- reads

  #where(filter: EventFilter | undefined, args: unknown[]): string {
    let sql = '';
    const inList = (col: string, vals: readonly string[] | undefined): void => {
      if (!vals || vals.length === 0) return;
      sql += ` AND ${col} IN (${vals.map(() => '?').join(',')})`;
      args.push(...vals);
    };
    inList('camera', filter?.cameras);
    inList('subject', filter?.subjects);
    inList('type', filter?.types);
    return sql;
  }

  async read(after: Cursor | null, limit: number, filter?: EventFilter, opts?: ReadOptions): Promise<EventPage> {
    return this.readSync(after, limit, filter, opts);
  }

  readSync(after: Cursor | null, limit: number, filter?: EventFilter, opts?: ReadOptions): EventPage {
    const from = after === null ? 0 : this.#seqOf(after);
    const args: unknown[] = [from];
    const where = this.#where(filter, args);
    args.push(limit);
    const rows = this.#db.prepare(`SELECT seq, payload, crop FROM events WHERE seq > ?${where} ORDER BY seq LIMIT ?`).all(...args) as Row[];
    const events = rows.map((r) => this.#decode(r, opts?.crops ?? true));
    return { events, next: events.length ? events[events.length - 1]!.cursor : after };
  }

  async readBackward(before: Cursor | null, limit: number, filter?: EventFilter, opts?: ReadOptions): Promise<EventPage> {
    const to = before === null ? Number.MAX_SAFE_INTEGER : this.#seqOf(before);
    const args: unknown[] = [to];
    const where = this.#where(filter, args);
    args.push(limit);
    const rows = this.#db.prepare(`SELECT seq, payload, crop FROM events WHERE seq < ?${where} ORDER BY seq DESC LIMIT ?`).all(...args) as Row[];
    const events = rows.map((r) => this.#decode(r, opts?.crops ?? true));
    return { events, next: events.length ? events[events.length - 1]!.cursor : before };
  }

  async head(): Promise<Cursor | null> {
    return this.headSync();
  }

  headSync(): Cursor | null {
    const r = this.#db.prepare('SELECT MAX(seq) AS seq FROM events').get() as { seq: number | null };
    return r.seq === null ? null : this.#cursor(r.seq);
  }

  async get(id: string): Promise<(StoredEvent<MatchEvent> & { readonly ack: OperatorAction | null }) | null> {
    const r = this.#alertOf.get(id) as Row | undefined;
    if (!r) return null;
    const a = this.#latestAck.get(id) as Row | undefined;
    const ack = a ? (JSON.parse(a.payload) as OperatorAction) : null;
    return { ...(this.#decode(r) as StoredEvent<MatchEvent>), ack };
  }

  async cameras(): Promise<StoredEvent<CameraStatus>[]> {
    const rows = this.#db
      .prepare("SELECT seq, payload, crop FROM events WHERE seq IN (SELECT MAX(seq) FROM events WHERE type = 'camera-status' GROUP BY camera) ORDER BY camera")
      .all() as Row[];
    return rows.map((r) => this.#decode(r) as StoredEvent<CameraStatus>).filter((s) => s.state !== 'stopped');
  }

  // --- retention

  /** Deletes rows older than retentionDays and crops beyond the newest maxCrops; counts both. */
  purge(): { events: number; crops: number } {
    const cutoff = (this.#o.now ?? Date.now)() - this.#o.retentionDays * 86_400_000;
    const r = this.#db.transaction(() => {
      const events = this.#db.prepare('DELETE FROM events WHERE stored_at < ?').run(cutoff).changes;
      // The oldest crop still kept; every crop before it goes (all of them when maxCrops is 0).
      const keep = this.#o.maxCrops === 0 ? undefined : (this.#db.prepare('SELECT seq FROM events WHERE crop IS NOT NULL ORDER BY seq DESC LIMIT 1 OFFSET ?').get(this.#o.maxCrops - 1) as { seq: number } | undefined);
      const limit = this.#o.maxCrops === 0 ? Number.MAX_SAFE_INTEGER : keep?.seq;
      const crops = limit === undefined ? 0 : this.#db.prepare('UPDATE events SET crop = NULL WHERE crop IS NOT NULL AND seq < ?').run(limit).changes;
      return { events, crops };
    })();
    if (r.events) this.#purged?.inc({ what: 'events' }, r.events);
    if (r.crops) this.#purged?.inc({ what: 'crops' }, r.crops);
    return r;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#listeners.clear();
    if (this.#db.open) this.#db.close();
  }
}

/** The event store of a process that owns one (embedded `start`, the `broadcast` service), per the config's `events` section. */
export function openEventStore(dataDir: string, ev: { retentionDays: number; maxCrops: number; purgeIntervalMinutes: number }, o: { registry?: Registry; onListenerError?: (err: unknown) => void } = {}): SqliteEventStore {
  return SqliteEventStore.open(dataDir, { retentionDays: ev.retentionDays, maxCrops: ev.maxCrops, purgeIntervalMs: ev.purgeIntervalMinutes * 60_000, ...o });
}
