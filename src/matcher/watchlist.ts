import { createHash } from 'node:crypto';
import { readFile, copyFile, mkdir, access, rename } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { EmbeddingRecord, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

interface StoreFile {
  readonly version: 1;
  readonly subjects: SubjectRecord[];
}

/**
 * The watchlist on disk: <dataDir>/watchlist.json (subjects and their embeddings, each tagged with
 * its model) and <dataDir>/enroll/<sha256>.<ext> (the enrollment images, kept so a profile switch
 * can re-embed). Every change is written atomically; a store that cannot be read is never overwritten.
 */
export class WatchlistStore {
  readonly file: string;
  readonly imagesDir: string;
  #subjects = new Map<string, SubjectRecord>();

  constructor(dataDir: string) {
    this.file = join(dataDir, 'watchlist.json');
    this.imagesDir = join(dataDir, 'enroll');
  }

  async load(): Promise<this> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this;
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.file, reason: (err as Error).message }, err);
    }
    let parsed: StoreFile;
    try {
      parsed = JSON.parse(text) as StoreFile;
      if (parsed.version !== 1 || !Array.isArray(parsed.subjects)) throw new Error(`unsupported store version ${String(parsed.version)}`);
    } catch (err) {
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.file, reason: (err as Error).message }, err);
    }
    this.#subjects = new Map(parsed.subjects.map((s) => [s.id, s]));
    return this;
  }

  list(): SubjectRecord[] {
    return [...this.#subjects.values()];
  }

  get(id: string): SubjectRecord | undefined {
    return this.#subjects.get(id);
  }

  /** Embedding models present in the store. */
  models(): Set<string> {
    return new Set(this.list().flatMap((s) => s.embeddings.map((e) => e.model)));
  }

  async upsert(subject: SubjectRecord): Promise<void> {
    const next = new Map(this.#subjects);
    next.set(subject.id, subject);
    await this.#save(next);
  }

  async remove(id: string): Promise<boolean> {
    if (!this.#subjects.has(id)) return false;
    const next = new Map(this.#subjects);
    next.delete(id);
    await this.#save(next);
    return true;
  }

  /** Copies an enrollment image into the store, named by its content hash. */
  async keepImage(file: string, bytes: Uint8Array): Promise<string> {
    const sha = createHash('sha256').update(bytes).digest('hex');
    await mkdir(this.imagesDir, { recursive: true });
    const dest = this.imagePath(sha, extname(file));
    try {
      await access(dest);
    } catch {
      await copyFile(file, `${dest}.tmp`);
      await rename(`${dest}.tmp`, dest);
    }
    return sha;
  }

  imagePath(sha: string, ext: string): string {
    return join(this.imagesDir, `${sha}${ext.toLowerCase() || '.img'}`);
  }

  async #save(next: Map<string, SubjectRecord>): Promise<void> {
    const body: StoreFile = { version: 1, subjects: [...next.values()] };
    await writeFileAtomic(this.file, JSON.stringify(body, null, 1));
    // Only after the write succeeded does memory change: a failed write loses nothing stored.
    this.#subjects = next;
  }
}

/** Embeddings of one model across subjects (what an index is built from). */
export function embeddingsFor(subjects: readonly SubjectRecord[], model: string): { subject: SubjectRecord; emb: EmbeddingRecord }[] {
  return subjects.flatMap((subject) => subject.embeddings.filter((e) => e.model === model).map((emb) => ({ subject, emb })));
}

/** A subject id from a name: lower-case slug, unique against `taken`. */
export function subjectIdFor(name: string, taken: (id: string) => boolean): string {
  const base = name.normalize('NFKD').replace(/[^\w\s-]/g, '').trim().toLowerCase().replace(/[\s_-]+/g, '_') || 'subject';
  let id = base;
  for (let i = 2; taken(id); i++) id = `${base}_${i}`;
  return id;
}
