import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { mkdir, unlink, chmod } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { z } from 'zod';
import type { EmbeddingRecord, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { openDatabase, type Db, type Migration } from '../store/sqlite.js';
import { cleanStaleTemp, writeFileAtomic } from './atomic.js';
import { validateList, type ListRecord } from './lists.js';

/**
 * Schema of <dataDir>/watchlist.db. Embeddings are Float32 BLOBs (2 KB for 512 dims, read without
 * parsing text); `changes` is an append-only log of which subject changed, read by running
 * pipelines (WatchlistFollower) and by the index loader to catch up from its saved point.
 */
const migrations: readonly Migration[] = [
  `CREATE TABLE subjects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, expires_at TEXT);
   CREATE TABLE images (subject TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, sha256 TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (subject, sha256));
   CREATE INDEX images_sha ON images(sha256);
   CREATE TABLE embeddings (subject TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, image TEXT NOT NULL, model TEXT NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (subject, model, image));
   CREATE INDEX embeddings_model ON embeddings(model);
   CREATE TABLE lists (name TEXT PRIMARY KEY, priority INTEGER NOT NULL DEFAULT 0, colour TEXT, threshold REAL, target_fpir REAL);
   CREATE TABLE subject_lists (subject TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, list TEXT NOT NULL REFERENCES lists(name) ON DELETE CASCADE, PRIMARY KEY (subject, list));
   CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT, op TEXT NOT NULL, at TEXT NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  (db) => db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('instance', randomUUID()),
  // Faces an operator dismissed as false matches of a subject (its look-alikes), per model.
  `CREATE TABLE negatives (id INTEGER PRIMARY KEY, subject TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE, model TEXT NOT NULL, vector BLOB NOT NULL, source TEXT, at TEXT NOT NULL);
   CREATE INDEX negatives_subject ON negatives(subject, model);`,
];

/** One row of the change log: `subject` changed (upsert or remove); `lists`: a list's settings changed. */
export interface WatchlistChangeRow {
  readonly seq: number;
  readonly op: 'upsert' | 'remove' | 'lists';
  readonly subject: string | null;
}

/** The shape a watchlist.json of Vigil 0.x must have to be imported (checked before anything is written). */
const legacyFile = z.strictObject({
  version: z.literal(1),
  subjects: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string(),
      createdAt: z.string(),
      updatedAt: z.string(),
      images: z.array(z.object({ sha256: z.string(), name: z.string() })),
      embeddings: z.array(z.object({ model: z.string(), image: z.string(), vector: z.array(z.number()) })),
    }),
  ),
});

const toBlob = (v: ArrayLike<number>): Buffer => {
  const f = v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
};
/** A copy (the BLOB's buffer is not guaranteed 4-byte aligned, nor ours to keep). */
export const fromBlob = (b: Buffer): Float32Array => {
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
};

/** A subject as listings show it: no vectors, the models it has embeddings of. */
export type SubjectSummary = Omit<SubjectRecord, 'embeddings'> & { readonly models: readonly string[] };

/** What the matcher keeps per subject besides vectors. */
export interface SubjectInfo {
  readonly name: string;
  readonly lists?: readonly string[];
  /** ms since the epoch; the subject no longer matches after it */
  readonly expiresAt?: number;
}

const infoOf = (name: string, lists: string[] | undefined, expires: string | null): SubjectInfo =>
  !lists?.length && !expires
    ? { name }
    : {
        name,
        ...(lists?.length ? { lists: lists.sort() } : {}),
        ...(expires ? { expiresAt: Date.parse(expires) } : {}),
      };

interface SubjectRow {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}

/**
 * The watchlist: <dataDir>/watchlist.db (SQLite, synchronous FULL: a committed enrollment survives
 * a power cut; every write one transaction, so concurrent processes lose nothing) and
 * <dataDir>/enroll/<sha256>.<ext> (enrollment photos, kept so a profile switch can re-embed;
 * 0600 in a 0700 folder). A watchlist.json of an earlier Vigil is imported once.
 */
export class WatchlistStore {
  readonly file: string;
  readonly legacyFile: string;
  readonly imagesDir: string;
  #db: Db | undefined;

  constructor(readonly dataDir: string) {
    this.file = join(dataDir, 'watchlist.db');
    this.legacyFile = join(dataDir, 'watchlist.json');
    this.imagesDir = join(dataDir, 'enroll');
  }

  get db(): Db {
    if (!this.#db) throw new Error('WatchlistStore used before load()');
    return this.#db;
  }

  async load(): Promise<this> {
    if (this.#db) return this;
    // Validate a legacy file before touching anything: a bad one stops here, nothing written.
    const legacy = existsSync(this.legacyFile) ? this.#readLegacy() : undefined;
    try {
      this.#db = openDatabase(this.file, { migrations, synchronous: 'FULL' });
    } catch (err) {
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.file, reason: (err as Error).message }, err);
    }
    if (legacy) this.#importLegacy(legacy);
    await cleanStaleTemp(this.dataDir);
    await cleanStaleTemp(this.imagesDir);
    return this;
  }

  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }

  #readLegacy(): z.infer<typeof legacyFile> {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.legacyFile, 'utf8'));
    } catch (err) {
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.legacyFile, reason: (err as Error).message }, err);
    }
    const r = legacyFile.safeParse(raw);
    if (!r.success) {
      const i = r.error.issues[0]!;
      const reason = `not a Vigil watchlist: ${i.path.join('.') || '(top level)'}: ${i.message}`;
      throw new VigilError('VIGIL_ERR_STORE_CORRUPT', { file: this.legacyFile, reason });
    }
    return r.data;
  }

  /** One transaction; the file is then renamed so it is imported once (and kept as a backup). */
  #importLegacy(legacy: z.infer<typeof legacyFile>): void {
    const done = this.db.transaction(() => {
      // Two processes starting at once: the second finds the import already done.
      if (this.db.prepare("SELECT 1 FROM meta WHERE key = 'imported_json'").get()) return false;
      for (const s of legacy.subjects) this.#put(s);
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('imported_json', ?)").run(new Date().toISOString());
      return true;
    }).immediate();
    if (existsSync(this.legacyFile)) renameSync(this.legacyFile, `${this.legacyFile}.imported`);
    void done;
  }

  /** An id that tells this database apart from another one (a restored backup, a new data dir). */
  instance(): string {
    return (this.db.prepare("SELECT value FROM meta WHERE key = 'instance'").pluck().get() as string | undefined) ?? '';
  }

  count(): number {
    return this.db.prepare('SELECT count(*) FROM subjects').pluck().get() as number;
  }

  /** Every subject with its embeddings (for small watchlists and exports; `refs()` and `embeddings()` scale). */
  list(): SubjectRecord[] {
    const rows = this.db.prepare('SELECT * FROM subjects ORDER BY rowid').all() as SubjectRow[];
    return rows.map((r) => this.#record(r));
  }

  /** Subjects whose id or name contains `q` (case-insensitive; all when empty), newest first, paged; without their vectors. */
  search(q: string, limit = 50, offset = 0): SubjectSummary[] {
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = (
      q
        ? this.db.prepare("SELECT * FROM subjects WHERE id LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' ORDER BY updated_at DESC LIMIT ? OFFSET ?").all(like, like, limit, offset)
        : this.db.prepare('SELECT * FROM subjects ORDER BY updated_at DESC LIMIT ? OFFSET ?').all(limit, offset)
    ) as SubjectRow[];
    return rows.map((r) => {
      const { embeddings: _, ...rest } = this.#record(r, false);
      return { ...rest, models: this.db.prepare('SELECT DISTINCT model FROM embeddings WHERE subject = ? ORDER BY model').pluck().all(r.id) as string[] };
    });
  }

  get(id: string): SubjectRecord | undefined {
    const r = this.db.prepare('SELECT * FROM subjects WHERE id = ?').get(id) as SubjectRow | undefined;
    return r && this.#record(r);
  }

  has(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM subjects WHERE id = ?').get(id) !== undefined;
  }

  #record(r: SubjectRow, vectors = true): SubjectRecord {
    const images = this.db.prepare('SELECT sha256, name FROM images WHERE subject = ? ORDER BY rowid').all(r.id) as { sha256: string; name: string }[];
    const embs = vectors ? (this.db.prepare('SELECT model, image, vector FROM embeddings WHERE subject = ? ORDER BY rowid').all(r.id) as { model: string; image: string; vector: Buffer }[]) : [];
    const lists = this.db.prepare('SELECT list FROM subject_lists WHERE subject = ? ORDER BY list').pluck().all(r.id) as string[];
    return {
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      images,
      embeddings: embs.map((e) => ({ model: e.model, image: e.image, vector: Array.from(fromBlob(e.vector)) })),
      ...(lists.length ? { lists } : {}),
      ...(r.expires_at ? { expiresAt: r.expires_at } : {}),
    };
  }

  /** id -> name, lists and expiry of every subject (what an index loaded from disk needs besides its vectors). */
  infos(): Map<string, SubjectInfo> {
    // Two plain scans rather than a per-subject subquery: at a million subjects this is start-up time.
    const lists = new Map<string, string[]>();
    for (const [subject, list] of this.db.prepare('SELECT subject, list FROM subject_lists').raw().iterate() as IterableIterator<[string, string]>) {
      const l = lists.get(subject);
      if (l) l.push(list);
      else lists.set(subject, [list]);
    }
    const out = new Map<string, SubjectInfo>();
    for (const [id, name, expires] of this.db.prepare('SELECT id, name, expires_at FROM subjects').raw().iterate() as IterableIterator<[string, string, string | null]>) {
      out.set(id, infoOf(name, lists.get(id), expires));
    }
    return out;
  }

  info(id: string): SubjectInfo | undefined {
    const r = this.db
      .prepare('SELECT s.name, s.expires_at, (SELECT group_concat(list, char(31)) FROM subject_lists l WHERE l.subject = s.id) FROM subjects s WHERE s.id = ?')
      .raw()
      .get(id) as [string, string | null, string | null] | undefined;
    return r && infoOf(r[0], r[2] ? r[2].split('\u001f') : undefined, r[1]);
  }

  lists(): ListRecord[] {
    return (this.db.prepare('SELECT name, priority, colour, threshold, target_fpir AS targetFpir FROM lists ORDER BY priority DESC, name').all() as ListRecord[]).map((l) => ({ ...l }));
  }

  /** Creates or changes a list's settings (a 'lists' change: running matchers reload them). */
  putList(l: ListRecord): void {
    validateList(l);
    this.write(() => {
      this.db
        .prepare('INSERT INTO lists (name, priority, colour, threshold, target_fpir) VALUES (@name, @priority, @colour, @threshold, @targetFpir) ON CONFLICT(name) DO UPDATE SET priority = excluded.priority, colour = excluded.colour, threshold = excluded.threshold, target_fpir = excluded.target_fpir')
        .run(l);
      this.#logChange('lists', null);
    });
  }

  /** Every embedding of `model`, streamed from the database (no SubjectRecords built). */
  *embeddings(model: string): Generator<{ subject: string; image: string; vector: Float32Array }> {
    const it = this.db.prepare('SELECT subject, image, vector FROM embeddings WHERE model = ? ORDER BY rowid').raw().iterate(model) as IterableIterator<[string, string, Buffer]>;
    for (const [subject, image, vector] of it) yield { subject, image, vector: fromBlob(vector) };
  }

  /** Embedding models present in the store. */
  models(): Set<string> {
    return new Set(this.db.prepare('SELECT DISTINCT model FROM embeddings').pluck().all() as string[]);
  }

  /** Stored photos without an embedding of `model` (what a profile switch must re-embed). */
  missingEmbeddings(model: string): { subject: string; sha256: string; name: string }[] {
    return this.db
      .prepare('SELECT i.subject, i.sha256, i.name FROM images i WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.subject = i.subject AND e.image = i.sha256 AND e.model = ?) ORDER BY i.rowid')
      .all(model) as { subject: string; sha256: string; name: string }[];
  }

  /** Runs `fn` as one write transaction (BEGIN IMMEDIATE: concurrent writers queue, none loses). */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Adds or replaces a subject (its photos, embeddings and lists as given). */
  async upsert(subject: SubjectRecord): Promise<void> {
    this.write(() => this.#put(subject));
  }

  /** Inside write(): replaces one subject's rows and logs the change. */
  putInTx(subject: SubjectRecord): void {
    this.#put(subject);
  }

  #put(s: SubjectRecord): void {
    const db = this.db;
    db.prepare(
      'INSERT INTO subjects (id, name, created_at, updated_at, expires_at) VALUES (@id, @name, @createdAt, @updatedAt, @expiresAt) ON CONFLICT(id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at, expires_at = excluded.expires_at',
    ).run({ id: s.id, name: s.name, createdAt: s.createdAt, updatedAt: s.updatedAt, expiresAt: s.expiresAt ?? null });
    db.prepare('DELETE FROM images WHERE subject = ?').run(s.id);
    db.prepare('DELETE FROM embeddings WHERE subject = ?').run(s.id);
    db.prepare('DELETE FROM subject_lists WHERE subject = ?').run(s.id);
    const img = db.prepare('INSERT OR IGNORE INTO images (subject, sha256, name) VALUES (?, ?, ?)');
    for (const i of s.images) img.run(s.id, i.sha256, i.name);
    const emb = db.prepare('INSERT OR REPLACE INTO embeddings (subject, image, model, vector) VALUES (?, ?, ?, ?)');
    for (const e of s.embeddings) emb.run(s.id, e.image, e.model, toBlob(e.vector));
    const mem = db.prepare('INSERT INTO subject_lists (subject, list) VALUES (?, ?)');
    const list = db.prepare('INSERT OR IGNORE INTO lists (name) VALUES (?)');
    let newList = false;
    for (const l of s.lists ?? []) {
      newList = list.run(l).changes > 0 || newList;
      mem.run(s.id, l);
    }
    // A list created by naming it: running matchers must learn it too (its events carry the list).
    if (newList) this.#logChange('lists', null);
    this.#logChange('upsert', s.id);
  }

  #logChange(op: WatchlistChangeRow['op'], subject: string | null): void {
    this.db.prepare('INSERT INTO changes (subject, op, at) VALUES (?, ?, ?)').run(subject, op, new Date().toISOString());
  }

  /** Removes a subject, its embeddings and list memberships, then its photos no other subject uses. */
  async remove(id: string): Promise<boolean> {
    const photos = this.write(() => {
      const imgs = this.db.prepare('SELECT sha256, name FROM images WHERE subject = ?').all(id) as { sha256: string; name: string }[];
      const n = this.db.prepare('DELETE FROM subjects WHERE id = ?').run(id).changes;
      if (n === 0) return undefined;
      this.#logChange('remove', id);
      return imgs.filter((i) => !this.db.prepare('SELECT 1 FROM images WHERE sha256 = ?').get(i.sha256));
    });
    if (!photos) return false;
    for (const p of photos) await unlink(this.imagePath(p.sha256, extname(p.name))).catch(() => undefined);
    return true;
  }

  /**
   * Keeps a face dismissed as a false match of `subject` (a look-alike): the matcher no longer
   * names the subject for a face closer to it than to the subject. Logged as a change of the
   * subject, so running matchers pick it up. False: no such subject.
   */
  addNegative(subject: string, model: string, vector: ArrayLike<number>, source: string): boolean {
    return this.write(() => {
      if (!this.has(subject)) return false;
      this.db.prepare('INSERT INTO negatives (subject, model, vector, source, at) VALUES (?, ?, ?, ?, ?)').run(subject, model, toBlob(vector), source, new Date().toISOString());
      this.#logChange('upsert', subject);
      return true;
    });
  }

  negatives(subject: string, model: string): Float32Array[] {
    return (this.db.prepare('SELECT vector FROM negatives WHERE subject = ? AND model = ? ORDER BY id').pluck().all(subject, model) as Buffer[]).map(fromBlob);
  }

  /** subject -> dismissed look-alikes, of one model. */
  allNegatives(model: string): Map<string, Float32Array[]> {
    const out = new Map<string, Float32Array[]>();
    for (const [s, v] of this.db.prepare('SELECT subject, vector FROM negatives WHERE model = ? ORDER BY id').raw().iterate(model) as IterableIterator<[string, Buffer]>) {
      const l = out.get(s);
      if (l) l.push(fromBlob(v));
      else out.set(s, [fromBlob(v)]);
    }
    return out;
  }

  /** Newest change's seq (0: none yet). */
  head(): number {
    return (this.db.prepare('SELECT max(seq) FROM changes').pluck().get() as number | null) ?? 0;
  }

  changesSince(seq: number, limit = 10_000): WatchlistChangeRow[] {
    return this.db.prepare('SELECT seq, op, subject FROM changes WHERE seq > ? ORDER BY seq LIMIT ?').all(seq, limit) as WatchlistChangeRow[];
  }

  /** sha256 of every stored photo of a subject (bulk enrollment skips those already in). */
  hasImage(sha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM images WHERE sha256 = ?').get(sha256) !== undefined;
  }

  /** Copies an enrollment image into the store (0600, fsynced), named by its content hash. */
  async keepImage(file: string, bytes: Uint8Array): Promise<string> {
    const sha = sha256(bytes);
    await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
    await chmod(this.imagesDir, 0o700);
    const dest = this.imagePath(sha, extname(file));
    if (!existsSync(dest)) await writeFileAtomic(dest, bytes);
    return sha;
  }

  imagePath(sha: string, ext: string): string {
    return join(this.imagesDir, `${sha}${ext.toLowerCase() || '.img'}`);
  }
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

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
