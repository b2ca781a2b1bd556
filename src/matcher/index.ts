import { createHash } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import type { Candidate, SubjectRecord } from '../contracts/messages.js';
import { embeddingsFor } from './watchlist.js';
import { writeFileAtomic } from './atomic.js';

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

interface IndexMeta {
  readonly version: 1;
  readonly model: string;
  readonly dim: number;
  readonly revision: string;
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
  #hnsw: Hnsw;
  #capacity: number;
  #labels: (string | null)[] = [];
  #names = new Map<string, string>();
  #bySubject = new Map<string, number[]>();
  #live = 0;

  constructor(model: string, dim: number, capacity = 1024) {
    this.model = model;
    this.dim = dim;
    this.#capacity = capacity;
    this.#hnsw = new HierarchicalNSW('cosine', dim);
    this.#hnsw.initIndex(capacity, 16, 200, 100, true);
    this.#hnsw.setEf(64);
  }

  get size(): number {
    return this.#live;
  }

  get subjects(): number {
    return this.#bySubject.size;
  }

  /** Adds or replaces a subject's vectors of this index's model. */
  upsert(subject: SubjectRecord): void {
    this.remove(subject.id);
    const embs = embeddingsFor([subject], this.model);
    if (embs.length === 0) return;
    this.#names.set(subject.id, subject.name);
    const labels: number[] = [];
    for (const { emb } of embs) {
      if (emb.vector.length !== this.dim) throw new Error(`embedding of ${subject.id} has ${emb.vector.length} dims, index has ${this.dim}`);
      if (this.#live + 1 > this.#capacity) {
        this.#capacity *= 2;
        this.#hnsw.resizeIndex(this.#capacity);
      }
      const label = this.#labels.length;
      this.#labels.push(subject.id);
      this.#hnsw.addPoint(emb.vector as number[], label, false);
      labels.push(label);
      this.#live++;
    }
    this.#bySubject.set(subject.id, labels);
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
    this.#names.delete(id);
  }

  /** Best `k` subjects for `vector` (L2-normalised), by cosine similarity of their best embedding. */
  search(vector: ArrayLike<number>, k: number): Candidate[] {
    if (this.#live === 0) return [];
    // Ask for more neighbours than k: several may belong to one subject.
    const n = Math.min(this.#live, k * 4 + 4);
    const { neighbors, distances } = this.#hnsw.searchKnn(Array.from(vector), n);
    const best = new Map<string, number>();
    for (let i = 0; i < neighbors.length; i++) {
      const id = this.#labels[neighbors[i]];
      if (!id) continue;
      const sim = 1 - distances[i];
      if (sim > (best.get(id) ?? -Infinity)) best.set(id, sim);
    }
    return [...best.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([id, similarity]) => ({ subject: { id, name: this.#names.get(id) ?? id }, similarity }));
  }

  /** Persists next to the store: index.hnsw + index.json (written atomically, meta last). */
  async save(dir: string, revision: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `index.${process.pid}.hnsw.tmp`);
    await this.#hnsw.writeIndex(tmp);
    await rename(tmp, join(dir, 'index.hnsw'));
    const meta: IndexMeta = { version: 1, model: this.model, dim: this.dim, revision, labels: this.#labels };
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(meta));
  }

  /** Loads a saved index if it was built from exactly this watchlist revision and model; else undefined. */
  static async load(dir: string, model: string, dim: number, revision: string, subjects: readonly SubjectRecord[]): Promise<SubjectIndex | undefined> {
    let meta: IndexMeta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as IndexMeta;
    } catch {
      return undefined;
    }
    if (meta.version !== 1 || meta.model !== model || meta.dim !== dim || meta.revision !== revision) return undefined;
    const idx = new SubjectIndex(model, dim);
    try {
      idx.#hnsw.readIndexSync(join(dir, 'index.hnsw'), true);
    } catch {
      return undefined;
    }
    idx.#capacity = idx.#hnsw.getMaxElements();
    idx.#hnsw.setEf(64);
    idx.#labels = meta.labels;
    const names = new Map(subjects.map((s) => [s.id, s.name]));
    meta.labels.forEach((id, label) => {
      if (!id) return;
      idx.#bySubject.set(id, [...(idx.#bySubject.get(id) ?? []), label]);
      idx.#names.set(id, names.get(id) ?? id);
      idx.#live++;
    });
    return idx;
  }

  /** Builds from the store: every subject's embeddings of `model`. */
  static build(model: string, dim: number, subjects: readonly SubjectRecord[]): SubjectIndex {
    const idx = new SubjectIndex(model, dim, Math.max(1024, embeddingsFor(subjects, model).length * 2));
    for (const s of subjects) idx.upsert(s);
    return idx;
  }
}

/** Identifies the watchlist content an index was built from, per model. */
export function watchlistRevision(subjects: readonly SubjectRecord[], model: string): string {
  const h = createHash('sha256');
  for (const { subject, emb } of embeddingsFor(subjects, model)) h.update(`${subject.id}\0${subject.name}\0${emb.image}\0${emb.vector.length}\n`);
  return h.digest('hex').slice(0, 32);
}

/** Loads the persisted index when it still matches the store, otherwise rebuilds and persists it. */
export async function openIndex(dir: string, model: string, dim: number, subjects: readonly SubjectRecord[]): Promise<SubjectIndex> {
  const rev = watchlistRevision(subjects, model);
  const loaded = await SubjectIndex.load(dir, model, dim, rev, subjects);
  if (loaded) return loaded;
  const built = SubjectIndex.build(model, dim, subjects);
  await built.save(dir, rev);
  return built;
}
