import { join } from 'node:path';
import { VigilError } from '../errors.js';
import { fromBlob } from '../matcher/watchlist.js';
import { openDatabase, type Db, type Migration } from '../store/sqlite.js';
import { dot } from '../util/boxes.js';

/**
 * <dataDir>/visitors.db: unknown faces clustered into pseudonymous visitors (opt-in, config
 * `visitors`). Per visitor: a centroid and its few best faces (crop JPEG + embedding: biometric data,
 * 0600 file, secure_delete so a purge overwrites them), and its visits (face tracks; those at one
 * camera close together merged). Numbers come from AUTOINCREMENT: "unknown #17" is never reused.
 * One writer (the embedded matcher's process); the nearest-visitor search runs on an in-memory copy
 * of the current model's vectors.
 */
const migrations: readonly Migration[] = [
  `CREATE TABLE visitors (number INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, centroid BLOB NOT NULL, faces_seen INTEGER NOT NULL,
     first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_camera TEXT NOT NULL, stored_at INTEGER NOT NULL);
   CREATE INDEX visitors_stored_at ON visitors(stored_at);
   CREATE TABLE faces (id INTEGER PRIMARY KEY, visitor INTEGER NOT NULL REFERENCES visitors(number) ON DELETE CASCADE, embedding BLOB NOT NULL,
     crop BLOB NOT NULL, quality REAL NOT NULL, camera TEXT NOT NULL, at INTEGER NOT NULL);
   CREATE INDEX faces_visitor ON faces(visitor, quality);
   CREATE TABLE visits (id INTEGER PRIMARY KEY, visitor INTEGER NOT NULL REFERENCES visitors(number) ON DELETE CASCADE, camera TEXT NOT NULL,
     start INTEGER NOT NULL, end INTEGER NOT NULL, tracks INTEGER NOT NULL, last_track TEXT NOT NULL);
   CREATE INDEX visits_visitor ON visits(visitor, camera, end);`,
];

/** One face of a track that matched nobody (its best one): what a visitor is made of. */
export interface UnknownFace {
  /** L2-normalised; copied by the store, never kept by reference. */
  readonly embedding: Float32Array;
  /** JPEG crop */
  readonly crop: Uint8Array;
  /** detector score: the best faces are kept */
  readonly quality: number;
  readonly camera: string;
  /** capture time, epoch ms */
  readonly at: number;
}

export interface Assignment {
  readonly number: number;
  /** similarity of the face to the visitor it joined (1 for a new visitor) */
  readonly similarity: number;
  readonly isNew: boolean;
}

export interface VisitorView {
  readonly number: number;
  readonly pseudonym: string;
  readonly firstSeenAt: string;
  readonly lastSeenAt: string;
  readonly lastCamera: string;
  readonly visits: number;
  readonly visitsToday: number;
  /** faces kept (the best ones) */
  readonly faces: number;
}

export interface VisitorFace {
  readonly id: number;
  readonly embedding: Float32Array;
  readonly crop: Buffer;
  readonly quality: number;
  readonly camera: string;
  readonly at: number;
}

export interface VisitorStoreOptions {
  /** model whose embeddings are clustered (another model's visitors are kept but never matched) */
  readonly model: string;
  /** a face joins the nearest visitor (centroid or a kept face) at or above this cosine similarity */
  readonly threshold: number;
  readonly retentionDays: number;
  /** tracks of one visitor at one camera this close (ms) are one visit */
  readonly visitGapMs: number;
  readonly maxCrops: number;
  /** injected clock for retention and "today" (tests) */
  readonly now?: () => number;
}

export const pseudonymOf = (n: number): string => `unknown #${n}`;

/** Local midnight before `t`: "visits today". */
export const startOfDay = (t: number): number => new Date(t).setHours(0, 0, 0, 0);

interface Cached {
  centroid: Float32Array;
  facesSeen: number;
  members: Float32Array[];
}

const toBlob = (f: Float32Array): Buffer => Buffer.from(f.buffer, f.byteOffset, f.byteLength);

export class VisitorStore {
  readonly file: string;
  readonly #db: Db;
  readonly #o: VisitorStoreOptions;
  /** number -> vectors of the running model's visitors */
  readonly #cache = new Map<number, Cached>();

  constructor(dataDir: string, o: VisitorStoreOptions) {
    this.file = join(dataDir, 'visitors.db');
    this.#o = o;
    try {
      this.#db = openDatabase(this.file, { migrations });
    } catch (err) {
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.file, reason: (err as Error).message }, err);
    }
    // Deleted visitors' faces are overwritten on disk, not just unlinked from the b-tree.
    this.#db.pragma('secure_delete = ON');
    const rows = this.#db.prepare('SELECT number, centroid, faces_seen FROM visitors WHERE model = ?').all(o.model) as { number: number; centroid: Buffer; faces_seen: number }[];
    const faces = this.#db.prepare('SELECT embedding FROM faces WHERE visitor = ?').pluck();
    for (const r of rows) this.#cache.set(r.number, { centroid: fromBlob(r.centroid), facesSeen: r.faces_seen, members: (faces.all(r.number) as Buffer[]).map(fromBlob) });
  }

  get #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  get threshold(): number {
    return this.#o.threshold;
  }

  /** The visitor nearest to `embedding` (best of its centroid and kept faces), if any of this model; `except` is left out. */
  nearest(embedding: Float32Array, except?: number): { number: number; similarity: number } | undefined {
    let best: { number: number; similarity: number } | undefined;
    for (const [number, c] of this.#cache) {
      if (number === except) continue;
      let s = dot(c.centroid, embedding);
      for (const m of c.members) s = Math.max(s, dot(m, embedding));
      if (!best || s > best.similarity) best = { number, similarity: s };
    }
    return best;
  }

  /**
   * Adds a face of a track that matched nobody: to the nearest visitor at or above the threshold,
   * or to `into` (the visitor the track was already given), else to a new visitor. One transaction.
   */
  assign(face: UnknownFace, into?: number): Assignment {
    const near = into === undefined ? this.nearest(face.embedding) : undefined;
    const joined = into !== undefined && this.#cache.has(into) ? { number: into, similarity: dot(this.#cache.get(into)!.centroid, face.embedding) } : near && near.similarity >= this.#o.threshold ? near : undefined;
    const embedding = Float32Array.from(face.embedding);
    return this.#db.transaction((): Assignment => {
      if (!joined) {
        const info = this.#db
          .prepare('INSERT INTO visitors (model, centroid, faces_seen, first_seen, last_seen, last_camera, stored_at) VALUES (?, ?, 1, ?, ?, ?, ?)')
          .run(this.#o.model, toBlob(embedding), face.at, face.at, face.camera, this.#now);
        const number = Number(info.lastInsertRowid);
        this.#cache.set(number, { centroid: Float32Array.from(embedding), facesSeen: 1, members: [] });
        this.#keepFace(number, face, embedding);
        return { number, similarity: 1, isNew: true };
      }
      this.#join(joined.number, face, embedding);
      return { number: joined.number, similarity: joined.similarity, isNew: false };
    })();
  }

  /** Inside a transaction: a face joins an existing visitor (centroid, last seen, kept faces). */
  #join(number: number, face: UnknownFace, embedding: Float32Array): void {
    const c = this.#cache.get(number)!;
    // Running mean (weight capped, like a track's), re-normalised: follows a visitor's look slowly.
    c.facesSeen++;
    const w = 1 / Math.min(c.facesSeen, 20);
    let n = 0;
    for (let i = 0; i < c.centroid.length; i++) n += (c.centroid[i] = c.centroid[i]! * (1 - w) + embedding[i]! * w) ** 2;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let i = 0; i < c.centroid.length; i++) c.centroid[i]! *= inv;
    this.#db
      .prepare(
        'UPDATE visitors SET centroid = ?, faces_seen = ?, first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), last_camera = CASE WHEN ? >= last_seen THEN ? ELSE last_camera END, stored_at = ? WHERE number = ?',
      )
      .run(toBlob(c.centroid), c.facesSeen, face.at, face.at, face.at, face.camera, this.#now, number);
    this.#keepFace(number, face, embedding);
  }

  /**
   * One person seen as two visitors (a track at an alert camera is given its visitor from its first
   * faces; its best face may later prove it someone known): `from`'s faces and visits move to `into`,
   * and `from` is deleted. One transaction.
   */
  merge(from: number, into: number): void {
    if (from === into || !this.#cache.has(from) || !this.#cache.has(into)) return;
    const faces = this.faces(from);
    const visits = this.#db.prepare('SELECT camera, start, end, tracks, last_track FROM visits WHERE visitor = ? ORDER BY start').all(from) as { camera: string; start: number; end: number; tracks: number; last_track: string }[];
    this.#db.transaction(() => {
      for (const f of faces) this.#join(into, { embedding: f.embedding, crop: f.crop, quality: f.quality, camera: f.camera, at: f.at }, f.embedding);
      for (const v of visits) this.#visitTx(into, v.camera, v.last_track, v.start, v.end, v.tracks);
      this.#db.prepare('DELETE FROM visitors WHERE number = ?').run(from);
    })();
    this.#cache.delete(from);
    this.#checkpoint();
  }

  /** Inside a transaction: keeps the face if it is among the visitor's best maxCrops. */
  #keepFace(number: number, face: UnknownFace, embedding: Float32Array): void {
    this.#db.prepare('INSERT INTO faces (visitor, embedding, crop, quality, camera, at) VALUES (?, ?, ?, ?, ?, ?)').run(number, toBlob(embedding), Buffer.from(face.crop), face.quality, face.camera, face.at);
    this.#db
      .prepare('DELETE FROM faces WHERE visitor = ? AND id NOT IN (SELECT id FROM faces WHERE visitor = ? ORDER BY quality DESC, id DESC LIMIT ?)')
      .run(number, number, this.#o.maxCrops);
    const c = this.#cache.get(number);
    if (c) c.members = (this.#db.prepare('SELECT embedding FROM faces WHERE visitor = ?').pluck().all(number) as Buffer[]).map(fromBlob);
  }

  /**
   * Records a track of visitor `number` at `camera` from `start` to `end` (capture ms): it extends the
   * visitor's last visit there when that is the same track or ended at most visitGapMs before.
   */
  visit(number: number, camera: string, track: string, start: number, end: number): void {
    this.#db.transaction(() => this.#visitTx(number, camera, track, start, end, 1))();
  }

  /** Inside a transaction: `tracks` tracks (the last one `track`) of a visitor at a camera. */
  #visitTx(number: number, camera: string, track: string, start: number, end: number, tracks: number): void {
    const last = this.#db.prepare('SELECT id, end, last_track FROM visits WHERE visitor = ? AND camera = ? ORDER BY end DESC LIMIT 1').get(number, camera) as
      | { id: number; end: number; last_track: string }
      | undefined;
    if (last && (last.last_track === track || start - last.end <= this.#o.visitGapMs)) {
      const added = last.last_track === track ? 0 : tracks;
      this.#db.prepare('UPDATE visits SET start = min(start, ?), end = max(end, ?), tracks = tracks + ?, last_track = ? WHERE id = ?').run(start, end, added, track, last.id);
    } else {
      this.#db.prepare('INSERT INTO visits (visitor, camera, start, end, tracks, last_track) VALUES (?, ?, ?, ?, ?, ?)').run(number, camera, start, end, tracks, track);
    }
    this.#db.prepare('UPDATE visitors SET last_seen = max(last_seen, ?), stored_at = ? WHERE number = ?').run(end, this.#now, number);
  }

  /** Visits of a visitor in all, and on the (local) day of `at` (default: the store's clock): an alert counts on its capture day. */
  visits(number: number, at = this.#now): { visits: number; visitsToday: number } {
    const r = this.#db.prepare('SELECT count(*) AS visits, count(CASE WHEN end >= ? THEN 1 END) AS today FROM visits WHERE visitor = ?').get(startOfDay(at), number) as { visits: number; today: number };
    return { visits: r.visits, visitsToday: r.today };
  }

  count(): number {
    return this.#db.prepare('SELECT count(*) FROM visitors').pluck().get() as number;
  }

  /** Visitors, last seen first. */
  list(limit = 200, offset = 0): VisitorView[] {
    const rows = this.#db
      .prepare(
        `SELECT v.number, v.first_seen, v.last_seen, v.last_camera,
           (SELECT count(*) FROM visits WHERE visitor = v.number) AS visits,
           (SELECT count(*) FROM visits WHERE visitor = v.number AND end >= ?) AS today,
           (SELECT count(*) FROM faces WHERE visitor = v.number) AS faces
         FROM visitors v ORDER BY v.last_seen DESC, v.number DESC LIMIT ? OFFSET ?`,
      )
      .all(startOfDay(this.#now), limit, offset) as { number: number; first_seen: number; last_seen: number; last_camera: string; visits: number; today: number; faces: number }[];
    return rows.map((r) => ({
      number: r.number,
      pseudonym: pseudonymOf(r.number),
      firstSeenAt: new Date(r.first_seen).toISOString(),
      lastSeenAt: new Date(r.last_seen).toISOString(),
      lastCamera: r.last_camera,
      visits: r.visits,
      visitsToday: r.today,
      faces: r.faces,
    }));
  }

  /** The embedding model of a visitor's faces (a profile switch leaves older visitors on their model). */
  modelOf(number: number): string | undefined {
    return this.#db.prepare('SELECT model FROM visitors WHERE number = ?').pluck().get(number) as string | undefined;
  }

  has(number: number): boolean {
    return this.#db.prepare('SELECT 1 FROM visitors WHERE number = ?').get(number) !== undefined;
  }

  /** The visitor's kept faces, best first. */
  faces(number: number): VisitorFace[] {
    const rows = this.#db.prepare('SELECT id, embedding, crop, quality, camera, at FROM faces WHERE visitor = ? ORDER BY quality DESC, id DESC').all(number) as {
      id: number;
      embedding: Buffer;
      crop: Buffer;
      quality: number;
      camera: string;
      at: number;
    }[];
    return rows.map((r) => ({ ...r, embedding: fromBlob(r.embedding) }));
  }

  /** The best kept crop of each visitor (the list's thumbnails). */
  thumbnails(numbers: readonly number[]): Map<number, Buffer> {
    const q = this.#db.prepare('SELECT crop FROM faces WHERE visitor = ? ORDER BY quality DESC, id DESC LIMIT 1').pluck();
    const out = new Map<number, Buffer>();
    for (const n of numbers) {
      const c = q.get(n) as Buffer | undefined;
      if (c) out.set(n, c);
    }
    return out;
  }

  /** Deletes a visitor with their faces (crops, embeddings) and visits. False: no such visitor. */
  forget(number: number): boolean {
    const n = this.#db.prepare('DELETE FROM visitors WHERE number = ?').run(number).changes;
    this.#cache.delete(number);
    if (n) this.#checkpoint();
    return n > 0;
  }

  /**
   * Deletes visitors not seen within retentionDays (with their faces and visits); returns their
   * numbers. "Seen" is when Vigil last stored a face of them (wall clock), not the capture time: a
   * replayed old recording is kept retentionDays from its replay, like the event store's rows.
   */
  purge(): number[] {
    const cutoff = this.#now - this.#o.retentionDays * 86_400_000;
    const gone = this.#db.transaction(() => {
      const numbers = this.#db.prepare('SELECT number FROM visitors WHERE stored_at < ? ORDER BY number').pluck().all(cutoff) as number[];
      this.#db.prepare('DELETE FROM visitors WHERE stored_at < ?').run(cutoff);
      return numbers;
    })();
    for (const n of gone) this.#cache.delete(n);
    if (gone.length) this.#checkpoint();
    return gone;
  }

  /** Deleted biometric data leaves the write-ahead log too. */
  #checkpoint(): void {
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Raw row counts (tests: nothing left behind). */
  rows(): { visitors: number; faces: number; visits: number } {
    const c = (t: string): number => this.#db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
    return { visitors: c('visitors'), faces: c('faces'), visits: c('visits') };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
