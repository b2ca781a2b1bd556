import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import type { Box } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { openDatabase, type Db } from '../store/sqlite.js';

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

/** One face track of a recording: when, where, its best face, and a few embeddings to search by. */
export interface Appearance {
  readonly camera: string;
  readonly track: string;
  /** capture times, epoch ms */
  readonly firstAt: number;
  readonly lastAt: number;
  /** seconds from the start of the recording */
  readonly firstMedia: number | null;
  readonly lastMedia: number | null;
  readonly bestAt: number;
  readonly bestMedia: number | null;
  readonly box: Box;
  readonly faces: number;
  readonly score: number;
  /** JPEG of the best face */
  readonly crop: Uint8Array;
  /** L2-normalised: the track's mean and its best faces' embeddings */
  readonly vectors: readonly Float32Array[];
}

export interface RecordingRow {
  readonly id: number;
  readonly sha256: string;
  readonly file: string;
  readonly camera: string;
  readonly duration: number | null;
  readonly frames: number;
  readonly status: string;
}

/** An appearance as a search prints it, with its recording. */
export type AppearanceDetails = Pick<Appearance, 'camera' | 'firstAt' | 'lastAt' | 'firstMedia' | 'lastMedia' | 'bestAt' | 'bestMedia' | 'box' | 'faces'> & {
  readonly id: number;
  readonly file: string;
  readonly sha256: string;
  readonly crop: Buffer;
};

export interface Hit {
  readonly appearance: number;
  readonly similarity: number;
}

export interface SearchFilter {
  readonly cameras?: readonly string[];
  readonly recordings?: readonly number[];
  /** capture time range, epoch ms: appearances overlapping it */
  readonly since?: number;
  readonly until?: number;
}

const migrations = [
  `CREATE TABLE recordings (id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, file TEXT NOT NULL, bytes INTEGER, camera TEXT NOT NULL,
     duration REAL, fps REAL, frames INTEGER NOT NULL, status TEXT NOT NULL, indexed_at TEXT NOT NULL);
   CREATE TABLE appearances (id INTEGER PRIMARY KEY, recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
     camera TEXT NOT NULL, track TEXT NOT NULL, first_at INTEGER NOT NULL, last_at INTEGER NOT NULL, first_media REAL, last_media REAL,
     best_at INTEGER NOT NULL, best_media REAL, box TEXT NOT NULL, faces INTEGER NOT NULL, score REAL NOT NULL, crop BLOB NOT NULL);
   CREATE INDEX appearances_time ON appearances(first_at);
   CREATE TABLE vectors (label INTEGER PRIMARY KEY, appearance_id INTEGER NOT NULL REFERENCES appearances(id) ON DELETE CASCADE, vector BLOB NOT NULL);
   CREATE INDEX vectors_appearance ON vectors(appearance_id);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

/** What a search filters on, per appearance (kept in memory). */
interface AppMeta {
  readonly recording: number;
  readonly camera: string;
  readonly firstAt: number;
  readonly lastAt: number;
}

const f32 = (b: Buffer): Float32Array => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
export const blob = (v: Float32Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/**
 * The persistent appearance index of one embedding model, beside the event store:
 * `<dataDir>/appearances/<model>/index.sqlite` holds recordings, appearances (times, box, best crop)
 * and their vectors (the source of truth); `index.hnsw` is an HNSW graph over the vectors (hnswlib,
 * as the watchlist index), rebuilt from SQLite for any label it lacks, so a crash between the two
 * loses nothing. Files are 0600 in a 0700 folder: crops and embeddings are biometric data.
 */
export class AppearanceIndex {
  readonly dir: string;
  readonly model: string;
  readonly dim: number;
  readonly db: Db;
  #hnsw: Hnsw | undefined;
  /** label -> appearance id (0: none), filled lazily */
  #labelApp: Int32Array | undefined;
  #apps: Map<number, AppMeta> | undefined;

  constructor(dataDir: string, model: string, dim: number) {
    this.model = model;
    this.dim = dim;
    this.dir = join(dataDir, 'appearances', model.replace(/[^A-Za-z0-9_.+-]/g, '_'));
    try {
      this.db = openDatabase(join(this.dir, 'index.sqlite'), { migrations });
    } catch (err) {
      throw new VigilError('VIGIL_ERR_SEARCH_INDEX', { file: join(this.dir, 'index.sqlite'), reason: (err as Error).message }, err);
    }
    // Deleted crops and embeddings are overwritten, not left in free pages (biometric data).
    this.db.pragma('secure_delete = ON');
    const d = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('dim') as { value: string } | undefined;
    if (d && Number(d.value) !== dim) throw new VigilError('VIGIL_ERR_SEARCH_INDEX', { file: join(this.dir, 'index.sqlite'), reason: `it holds ${d.value}-d vectors, the model gives ${dim}` });
    if (!d) this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('dim', String(dim));
  }

  recording(sha256: string): RecordingRow | undefined {
    return this.db.prepare('SELECT id, sha256, file, camera, duration, frames, status FROM recordings WHERE sha256 = ?').get(sha256) as RecordingRow | undefined;
  }

  get appearances(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM appearances').get() as { n: number }).n;
  }

  /** Stores one recording's appearances in one transaction, then adds their vectors to the HNSW graph. */
  addRecording(r: Omit<RecordingRow, 'id'> & { bytes: number; fps: number }, apps: readonly Appearance[]): number {
    const insRec = this.db.prepare('INSERT INTO recordings (sha256, file, bytes, camera, duration, fps, frames, status, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const insApp = this.db.prepare(
      'INSERT INTO appearances (recording_id, camera, track, first_at, last_at, first_media, last_media, best_at, best_media, box, faces, score, crop) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const insVec = this.db.prepare('INSERT INTO vectors (appearance_id, vector) VALUES (?, ?)');
    const id = this.db.transaction(() => {
      const rid = Number(insRec.run(r.sha256, r.file, r.bytes, r.camera, r.duration, r.fps, r.frames, r.status, new Date().toISOString()).lastInsertRowid);
      for (const a of apps) {
        const aid = Number(insApp.run(rid, a.camera, a.track, a.firstAt, a.lastAt, a.firstMedia, a.lastMedia, a.bestAt, a.bestMedia, JSON.stringify(a.box.map(Math.round)), a.faces, a.score, Buffer.from(a.crop)).lastInsertRowid);
        for (const v of a.vectors) {
          if (v.length !== this.dim) throw new Error(`vector of ${v.length} dims, index has ${this.dim}`);
          insVec.run(aid, blob(v));
        }
      }
      return rid;
    })();
    this.#sync();
    return id;
  }

  /** The HNSW graph, loaded from disk and brought up to date with SQLite (labels it lacks are added). */
  #graph(): Hnsw {
    if (this.#hnsw) return this.#hnsw;
    const file = join(this.dir, 'index.hnsw');
    const h = new HierarchicalNSW('cosine', this.dim);
    let covered = 0;
    const meta = this.db.prepare("SELECT value FROM meta WHERE key = 'hnsw_labels'").get() as { value: string } | undefined;
    if (existsSync(file) && meta) {
      try {
        h.readIndexSync(file, true);
        covered = Number(meta.value);
      } catch {
        covered = 0;
      }
    }
    // M 16, efConstruction 64: recall@10 ~1 on face-like data (vigil bench search) at a third of the build time of 200.
    if (covered === 0) h.initIndex(1024, 16, 64, 100, true);
    this.#hnsw = h;
    this.#sync(covered);
    return h;
  }

  /** Adds every vector with a label >= covered (or past what the graph holds) and persists the graph. */
  #sync(covered?: number): void {
    const h = this.#hnsw;
    if (!h) return; // loaded lazily at the first search
    const from = covered ?? Number((this.db.prepare("SELECT value FROM meta WHERE key = 'hnsw_labels'").get() as { value: string } | undefined)?.value ?? 0);
    const rows = this.db.prepare('SELECT label, vector FROM vectors WHERE label >= ? ORDER BY label').iterate(from) as Iterable<{ label: number; vector: Buffer }>;
    let max = from;
    let added = 0;
    for (const r of rows) {
      if (h.getCurrentCount() + 1 > h.getMaxElements()) h.resizeIndex(Math.max(1024, h.getMaxElements() * 2));
      h.addPoint(Array.from(f32(r.vector)), r.label, false);
      max = r.label + 1;
      added++;
    }
    if (added === 0 && covered !== undefined) return;
    const file = join(this.dir, 'index.hnsw');
    const tmp = `${file}.${process.pid}.tmp`;
    h.writeIndexSync(tmp);
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('hnsw_labels', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(String(max));
    this.#labelApp = undefined;
    this.#apps = undefined;
  }

  /** Builds the graph now (otherwise at the first search). */
  load(): void {
    this.#graph();
  }

  #lookup(): { labelApp: Int32Array; apps: Map<number, AppMeta> } {
    if (!this.#labelApp || !this.#apps) {
      const max = (this.db.prepare('SELECT coalesce(max(label), 0) AS m FROM vectors').get() as { m: number }).m;
      const labelApp = new Int32Array(max + 1);
      for (const r of this.db.prepare('SELECT label, appearance_id AS a FROM vectors').iterate() as Iterable<{ label: number; a: number }>) labelApp[r.label] = r.a;
      const apps = new Map<number, AppMeta>();
      for (const r of this.db.prepare('SELECT id, recording_id AS recording, camera, first_at AS firstAt, last_at AS lastAt FROM appearances').iterate() as Iterable<{
        id: number;
        recording: number;
        camera: string;
        firstAt: number;
        lastAt: number;
      }>)
        apps.set(r.id, r);
      this.#labelApp = labelApp;
      this.#apps = apps;
    }
    return { labelApp: this.#labelApp, apps: this.#apps };
  }

  /**
   * Appearances most similar to `query` (L2-normalised), best first, each scored by its best vector;
   * at most `k`. Filters are applied inside the graph search, so a narrow filter still gets k results.
   */
  search(query: Float32Array, k: number, filter: SearchFilter = {}): Hit[] {
    const h = this.#graph();
    const n = h.getCurrentCount();
    if (n === 0) return [];
    const { labelApp, apps } = this.#lookup();
    const cams = filter.cameras?.length ? new Set(filter.cameras) : undefined;
    const recs = filter.recordings ? new Set(filter.recordings) : undefined;
    const filtered = cams || recs || filter.since !== undefined || filter.until !== undefined;
    const ok = (label: number): boolean => {
      const a = apps.get(labelApp[label] ?? 0);
      if (!a) return false; // removed (retention) since the graph was built
      if (cams && !cams.has(a.camera)) return false;
      if (recs && !recs.has(a.recording)) return false;
      if (filter.since !== undefined && a.lastAt < filter.since) return false;
      if (filter.until !== undefined && a.firstAt > filter.until) return false;
      return true;
    };
    const want = Math.min(n, k * 3 + 8); // several vectors per appearance
    // ef 128+: recall@10 0.76 at ef 64 over 1M synthetic appearances (vigil bench search); latency stays a few ms.
    h.setEf(Math.max(128, 2 * want));
    const { neighbors, distances } = filtered ? h.searchKnn(Array.from(query), want, ok) : h.searchKnn(Array.from(query), want);
    const best = new Map<number, number>();
    for (let i = 0; i < neighbors.length; i++) {
      const label = neighbors[i]!;
      if (!filtered && !ok(label)) continue;
      const app = labelApp[label]!;
      const sim = 1 - distances[i]!;
      if (sim > (best.get(app) ?? -Infinity)) best.set(app, sim);
    }
    return [...best.entries()]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, k)
      .map(([appearance, similarity]) => ({ appearance, similarity }));
  }

  /** Details of appearances for output, with their recording. */
  details(ids: readonly number[]): Map<number, AppearanceDetails> {
    const q = this.db.prepare(
      `SELECT a.id, a.camera, r.file, r.sha256, a.first_at AS firstAt, a.last_at AS lastAt, a.first_media AS firstMedia, a.last_media AS lastMedia,
              a.best_at AS bestAt, a.best_media AS bestMedia, a.box, a.faces, a.crop FROM appearances a JOIN recordings r ON r.id = a.recording_id WHERE a.id = ?`,
    );
    const out = new Map<number, AppearanceDetails>();
    for (const id of ids) {
      const r = q.get(id) as (Omit<AppearanceDetails, 'box'> & { box: string }) | undefined;
      if (r) out.set(id, { ...r, box: JSON.parse(r.box) as Box });
    }
    return out;
  }

  /**
   * Deletes appearances captured before `before` (retention); returns how many. Their crops and
   * vectors are overwritten in SQLite (secure_delete) and the graph, which still holds the vectors,
   * is dropped, to be rebuilt from what remains at the next search.
   */
  purgeBefore(before: number): number {
    const n = this.db.prepare('DELETE FROM appearances WHERE last_at < ?').run(before).changes;
    if (n === 0) return 0;
    this.db.prepare('DELETE FROM recordings WHERE id NOT IN (SELECT DISTINCT recording_id FROM appearances) AND indexed_at < ?').run(new Date(before).toISOString());
    this.db.prepare("DELETE FROM meta WHERE key = 'hnsw_labels'").run();
    rmSync(join(this.dir, 'index.hnsw'), { force: true });
    this.#hnsw = undefined;
    this.#apps = undefined;
    this.#labelApp = undefined;
    return n;
  }

  close(): void {
    this.db.close();
  }
}
