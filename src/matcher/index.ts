import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import type { Candidate, SubjectRecord } from '../contracts/messages.js';
import { dot } from '../util/boxes.js';
import { cleanStaleTemp, fsyncDir, tempNameFor, writeFileAtomic } from './atomic.js';
import { embeddingsFor, fromBlob, type SubjectInfo, type WatchlistStore } from './watchlist.js';

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

/**
 * HNSW parameters (tuned with `vigil bench index`, README "Watchlist at scale"): M links per node,
 * efConstruction candidates while inserting, ef candidates while searching.
 */
export interface HnswParams {
  readonly m: number;
  readonly efConstruction: number;
  readonly ef: number;
}
// M 32 over 16: at 100,000 subjects recall@1 of real probes 0.993 against 0.987 (the same ef),
// for a build 1.2x as long and 5% more memory (README "Watchlist at scale").
export const defaultHnsw: HnswParams = { m: 32, efConstruction: 150, ef: 128 };

interface IndexMeta {
  readonly version: 2;
  readonly model: string;
  readonly dim: number;
  /** the database the index was built from (WatchlistStore.instance()) */
  readonly instance: string;
  /** the store's change log head the index includes */
  readonly seq: number;
  /** sha256 and size of index.hnsw, checked before hnswlib's loader reads a byte of it */
  readonly sha256: string;
  readonly bytes: number;
  readonly params: HnswParams;
  /** label -> subject id (null: deleted) */
  readonly labels: (string | null)[];
}

/**
 * HNSW cosine index over one embedding model's watchlist vectors. A subject may have several
 * enrollment embeddings; a search returns subjects ranked by their best one. The index never holds
 * embeddings of another model (the matcher refuses faces of another model instead).
 */
export class SubjectIndex {
  readonly model: string;
  readonly dim: number;
  readonly params: HnswParams;
  #hnsw: Hnsw;
  #capacity: number;
  #labels: (string | null)[] = [];
  #info = new Map<string, SubjectInfo>();
  #bySubject = new Map<string, number[]>();
  /** faces dismissed as false matches of a subject */
  #negatives = new Map<string, Float32Array[]>();
  #live = 0;

  constructor(model: string, dim: number, capacity = 1024, params: HnswParams = defaultHnsw) {
    this.model = model;
    this.dim = dim;
    this.params = params;
    this.#capacity = capacity;
    this.#hnsw = new HierarchicalNSW('cosine', dim);
    this.#hnsw.initIndex(capacity, params.m, params.efConstruction, 100, true);
    this.#hnsw.setEf(params.ef);
  }

  get size(): number {
    return this.#live;
  }

  get subjects(): number {
    return this.#bySubject.size;
  }

  setEf(ef: number): void {
    this.#hnsw.setEf(ef);
  }

  /** Adds or replaces a subject's vectors of this index's model. */
  upsert(subject: SubjectRecord): void {
    const info: SubjectInfo = { name: subject.name, ...(subject.lists?.length ? { lists: [...subject.lists].sort() } : {}), ...(subject.expiresAt ? { expiresAt: Date.parse(subject.expiresAt) } : {}) };
    this.upsertVectors(subject.id, info, embeddingsFor([subject], this.model).map((e) => e.emb.vector));
  }

  /** Adds or replaces a subject's vectors (all of this index's model). No vectors: the subject is removed. */
  upsertVectors(id: string, info: SubjectInfo | string, vectors: readonly ArrayLike<number>[]): void {
    this.remove(id);
    if (vectors.length === 0) return;
    this.#info.set(id, typeof info === 'string' ? { name: info } : info);
    const labels: number[] = [];
    for (const v of vectors) {
      if (v.length !== this.dim) throw new Error(`embedding of ${id} has ${v.length} dims, index has ${this.dim}`);
      if (this.#live + 1 > this.#capacity || this.#labels.length + 1 > this.#capacity) {
        this.#capacity *= 2;
        this.#hnsw.resizeIndex(this.#capacity);
      }
      const label = this.#labels.length;
      this.#labels.push(id);
      this.#hnsw.addPoint(Array.isArray(v) ? (v as number[]) : Array.from(v), label, false);
      labels.push(label);
      this.#live++;
    }
    this.#bySubject.set(id, labels);
  }

  remove(id: string): void {
    const labels = this.#bySubject.get(id);
    if (!labels) return;
    for (const l of labels) {
      this.#hnsw.markDelete(l);
      this.#labels[l] = null;
      this.#live--;
    }
    this.#bySubject.delete(id);
    this.#info.delete(id);
    this.#negatives.delete(id);
  }

  has(id: string): boolean {
    return this.#bySubject.has(id);
  }

  /** Sets the look-alikes dismissed for a subject (replacing earlier ones). */
  setNegatives(id: string, negatives: readonly Float32Array[]): void {
    if (negatives.length && this.#bySubject.has(id)) this.#negatives.set(id, [...negatives]);
    else this.#negatives.delete(id);
  }

  #negativesFrom(all: ReadonlyMap<string, Float32Array[]>): void {
    for (const [id, v] of all) this.setNegatives(id, v);
  }

  /** Name, lists and expiry of an indexed subject. */
  info(id: string): SubjectInfo | undefined {
    return this.#info.get(id);
  }

  /** Best `k` subjects for `vector` (L2-normalised), by cosine similarity of their best embedding. */
  search(vector: ArrayLike<number>, k: number): Candidate[] {
    if (this.#live === 0) return [];
    // Ask for more neighbours than k: several may belong to one subject.
    const n = Math.min(this.#live, k * 4 + 4);
    const { neighbors, distances } = this.#hnsw.searchKnn(Array.isArray(vector) ? (vector as number[]) : Array.from(vector), n);
    const best = new Map<string, number>();
    const now = Date.now();
    for (let i = 0; i < neighbors.length; i++) {
      const id = this.#labels[neighbors[i]!];
      if (!id) continue;
      const exp = this.#info.get(id)?.expiresAt;
      if (exp !== undefined && exp <= now) continue; // expired: no longer on the watchlist
      const sim = 1 - distances[i]!; // one distance per neighbour
      // Closer to a look-alike an operator dismissed for this subject than to the subject: not them.
      const neg = this.#negatives.get(id);
      if (neg && neg.some((n) => dot(n, vector) >= sim)) continue;
      if (sim > (best.get(id) ?? -Infinity)) best.set(id, sim);
    }
    return [...best.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([id, similarity]) => ({ subject: { id, name: this.#info.get(id)?.name ?? id }, similarity }));
  }

  /**
   * Persists to dir/index.hnsw + dir/index.json. The HNSW file is fsynced, hashed and renamed, the
   * folder fsynced; then the meta (with the hash) is written atomically. A power cut at any point
   * leaves either the old pair, or a pair whose hash disagrees (rebuilt at the next start).
   */
  async save(dir: string, at: { instance: string; seq: number }): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'index.hnsw');
    const tmp = tempNameFor(file);
    try {
      await this.#hnsw.writeIndex(tmp);
      const fh = await open(tmp, 'r+');
      try {
        await fh.chmod(0o600);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const { sha256, bytes } = await hashFile(tmp);
      await rename(tmp, file);
      await fsyncDir(dir);
      const meta: IndexMeta = { version: 2, model: this.model, dim: this.dim, instance: at.instance, seq: at.seq, sha256, bytes, params: this.params, labels: this.#labels };
      await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(meta));
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /**
   * Loads dir's index when its meta names this model and database, and index.hnsw has exactly the
   * recorded size and sha256 (so hnswlib's native loader, which trusts its input, never sees a torn
   * or altered file). Returns why not otherwise.
   */
  static async load(dir: string, model: string, dim: number, instance: string, infos: () => Map<string, SubjectInfo>, negatives: () => Map<string, Float32Array[]> = () => new Map()): Promise<{ index: SubjectIndex; seq: number } | { reason: string }> {
    let meta: IndexMeta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexMeta;
    } catch (err) {
      return { reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no saved index' : `index.json unreadable: ${(err as Error).message}` };
    }
    if (meta.version !== 2 || meta.model !== model || meta.dim !== dim) return { reason: 'saved index is of another model or version' };
    if (meta.instance !== instance) return { reason: 'saved index was built from another watchlist database' };
    const file = join(dir, 'index.hnsw');
    const size = await stat(file).then((s) => s.size, () => -1);
    if (size !== meta.bytes) return { reason: `index.hnsw has ${size} bytes, ${meta.bytes} expected` };
    const { sha256 } = await hashFile(file);
    if (sha256 !== meta.sha256) return { reason: 'index.hnsw checksum mismatch (torn or altered file)' };
    const idx = new SubjectIndex(model, dim, 1024, meta.params);
    try {
      idx.#hnsw.readIndexSync(file, true);
    } catch (err) {
      return { reason: `index.hnsw unreadable: ${(err as Error).message}` };
    }
    idx.#capacity = idx.#hnsw.getMaxElements();
    idx.#hnsw.setEf(meta.params.ef);
    idx.#labels = meta.labels;
    const all = infos();
    meta.labels.forEach((id, label) => {
      if (!id) return;
      const l = idx.#bySubject.get(id);
      if (l) l.push(label);
      else idx.#bySubject.set(id, [label]);
      idx.#info.set(id, all.get(id) ?? { name: id });
      idx.#live++;
    });
    idx.#negativesFrom(negatives());
    return { index: idx, seq: meta.seq };
  }

  /** Builds from subject records: every subject's embeddings of `model`. */
  static build(model: string, dim: number, subjects: readonly SubjectRecord[], params: HnswParams = defaultHnsw): SubjectIndex {
    const idx = new SubjectIndex(model, dim, Math.max(1024, embeddingsFor(subjects, model).length * 2), params);
    for (const s of subjects) idx.upsert(s);
    return idx;
  }

  /** Builds from the database, streaming BLOB embeddings (no records in memory). */
  static fromStore(store: WatchlistStore, model: string, dim: number, params: HnswParams = defaultHnsw): { index: SubjectIndex; seq: number } {
    // One read transaction: the vectors and the seq they correspond to agree.
    return store.db.transaction(() => {
      const seq = store.head();
      const n = store.db.prepare('SELECT count(*) FROM embeddings WHERE model = ?').pluck().get(model) as number;
      const idx = new SubjectIndex(model, dim, Math.max(1024, Math.ceil(n * 1.25)), params);
      const infos = store.infos();
      let cur: { id: string; vecs: Float32Array[] } | undefined;
      const flush = (): void => {
        if (cur) idx.upsertVectors(cur.id, infos.get(cur.id) ?? cur.id, cur.vecs);
      };
      // ordered by subject so each subject's vectors arrive together
      for (const [subject, vector] of store.db.prepare('SELECT subject, vector FROM embeddings WHERE model = ? ORDER BY subject').raw().iterate(model) as IterableIterator<[string, Buffer]>) {
        if (cur?.id !== subject) {
          flush();
          cur = { id: subject, vecs: [] };
        }
        cur.vecs.push(fromBlob(vector));
      }
      flush();
      idx.#negativesFrom(store.allNegatives(model));
      return { index: idx, seq };
    })();
  }

  /** Applies the store's changes after `seq` (each changed subject re-read from the database); returns the new seq, how many subjects changed, and whether list settings did. */
  catchUp(store: WatchlistStore, seq: number): { seq: number; applied: number; lists: boolean } {
    let applied = 0;
    let lists = false;
    for (;;) {
      const rows = store.changesSince(seq);
      if (rows.length === 0) return { seq, applied, lists };
      lists ||= rows.some((r) => r.op === 'lists');
      const subjects = new Set(rows.filter((r) => r.subject !== null).map((r) => r.subject!));
      for (const id of subjects) {
        const info = store.info(id);
        if (info === undefined) this.remove(id);
        else {
          const vecs = (store.db.prepare('SELECT vector FROM embeddings WHERE subject = ? AND model = ? ORDER BY rowid').pluck().all(id, this.model) as Buffer[]).map(
            fromBlob);
          this.upsertVectors(id, info, vecs);
          this.setNegatives(id, store.negatives(id, this.model));
        }
        applied++;
      }
      seq = rows[rows.length - 1]!.seq;
    }
  }
}


/** sha256 and size of a file, streamed. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

export interface OpenedIndex {
  readonly index: SubjectIndex;
  /** the store change the index includes (a follower continues from here) */
  readonly seq: number;
  /** 'loaded': from disk (plus `applied` changes); 'rebuilt': from the database, with the reason */
  readonly how: 'loaded' | 'rebuilt';
  readonly reason?: string;
  readonly applied: number;
}

/** Changes applied on top of a loaded index past which it is saved again (so the next start is quick). */
const RESAVE_AFTER = 1000;

/**
 * The index of `model` for the store: the saved one (checksum verified) caught up with the
 * changes since it was saved, or, when there is none or it does not verify, rebuilt from the
 * database and saved.
 */
export async function openIndex(dir: string, store: WatchlistStore, model: string, dim: number, params: HnswParams = defaultHnsw): Promise<OpenedIndex> {
  await cleanStaleTemp(dir);
  const instance = store.instance();
  const loaded = await SubjectIndex.load(dir, model, dim, instance, () => store.infos(), () => store.allNegatives(model));
  if ('index' in loaded && loaded.seq <= store.head()) {
    const { seq, applied } = loaded.index.catchUp(store, loaded.seq);
    if (applied >= RESAVE_AFTER) await loaded.index.save(dir, { instance, seq });
    return { index: loaded.index, seq, how: 'loaded', applied };
  }
  const reason = 'reason' in loaded ? loaded.reason : 'saved index is ahead of the database';
  const { index, seq } = SubjectIndex.fromStore(store, model, dim, params);
  await index.save(dir, { instance, seq });
  return { index, seq, how: 'rebuilt', reason, applied: 0 };
}
