import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { isVigilError, VigilError } from '../errors.js';
import type { FaceEngine } from '../inference/engine.js';
import { enrollWithReport, type FaceChoice } from './enroll.js';
import { SubjectIndex } from './index.js';
import { sha256, subjectIdFor, type WatchlistStore } from './watchlist.js';

/** One person of a bulk enrollment. */
export interface BulkPerson {
  readonly id: string;
  readonly name: string;
  readonly lists: readonly string[];
  readonly photos: readonly string[];
}

const IMAGE = /\.(jpe?g|png|webp|tiff?|gif|avif|heic)$/i;
const slug = (name: string): string => subjectIdFor(name, () => false);

/**
 * `--dir DIR`: one sub-folder per person, the folder's name as the name ("Jane_Doe" -> "Jane Doe")
 * and its slug as the id, so a second run finds the same subjects; the folder's images as photos.
 */
export function peopleFromDir(dir: string, lists: readonly string[] = []): BulkPerson[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: 'dir', reason: `${dir}: ${(err as Error).message}` }, err);
  }
  return names
    .filter((n) => statSync(join(dir, n)).isDirectory())
    .map((n) => {
      const name = n.replace(/_/g, ' ').trim();
      const photos = readdirSync(join(dir, n)).filter((f) => IMAGE.test(f)).sort().map((f) => join(dir, n, f));
      return { id: slug(name), name, lists, photos };
    });
}

/**
 * `--csv FILE`: a header line, then `id,name,list,photo[,photo...]` (id may be empty: from the name;
 * list may name several separated by ";"; photos relative to the CSV's folder). Quoted fields as in RFC 4180.
 */
export function peopleFromCsv(file: string): BulkPerson[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: 'csv', reason: `${file}: ${(err as Error).message}` }, err);
  }
  const rows = parseCsv(text);
  const base = dirname(resolve(file));
  return rows.slice(1).flatMap((r, i) => {
    if (r.every((c) => c.trim() === '')) return [];
    const [id, name, list, ...photos] = r.map((c) => c.trim());
    if (!name) throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: 'csv', reason: `${file} line ${i + 2}: no name` });
    return [{ id: id || slug(name), name, lists: (list ?? '').split(';').map((l) => l.trim()).filter(Boolean), photos: photos.filter(Boolean).map((p) => resolve(base, p)) }];
  });
}

/** Minimal RFC 4180: commas, quoted fields with "" escapes and line breaks inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(cell), (cell = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}

export interface BulkOptions {
  readonly face?: FaceChoice;
  /** at most this many photos per person (the first ones, by name) */
  readonly maxPhotos?: number;
  readonly duplicateThreshold: number;
  readonly expiresAt?: string;
  /** after each photo: photos done, of total */
  readonly onProgress?: (done: number, total: number, person: string) => void;
}

export interface BulkSummary {
  readonly people: number;
  readonly enrolledPeople: number;
  readonly enrolledPhotos: number;
  /** photos already in the watchlist (by sha256): a resumed run skips them */
  readonly skippedPhotos: number;
  /** refused photos by error code, with examples */
  readonly refused: Record<string, { count: number; examples: string[] }>;
  readonly warnings: Record<string, number>;
  readonly seconds: number;
  readonly photosPerSecond: number;
}

/**
 * Enrolls many people, photo by photo (each its own transaction: an interrupted run keeps what
 * it did, and a rerun skips photos already stored by their sha256). A bad photo is refused and
 * counted with its reason; the person's other photos still enroll. Likely duplicates are found
 * with an in-memory index kept current as the run goes (brute force over the store would be
 * quadratic).
 */
export async function bulkEnroll(engine: FaceEngine, store: WatchlistStore, people: readonly BulkPerson[], o: BulkOptions): Promise<BulkSummary> {
  const t0 = Date.now();
  const dupIndex = SubjectIndex.fromStore(store, engine.model, engine.embedder.size).index;
  const todo = people.map((p) => ({ ...p, photos: o.maxPhotos ? p.photos.slice(0, o.maxPhotos) : p.photos }));
  const total = todo.reduce((n, p) => n + p.photos.length, 0);
  const refused: BulkSummary['refused'] = {};
  const warnings: Record<string, number> = {};
  const refuse = (code: string, what: string): void => {
    const r = (refused[code] ??= { count: 0, examples: [] });
    r.count++;
    if (r.examples.length < 5) r.examples.push(what);
  };
  let done = 0;
  let enrolledPhotos = 0;
  let skippedPhotos = 0;
  let enrolledPeople = 0;
  for (const p of todo) {
    let any = false;
    if (p.photos.length === 0) refuse('NO_PHOTOS', p.name);
    for (const file of p.photos) {
      try {
        const bytes = await readFile(file);
        if (store.hasImage(sha256(bytes))) {
          skippedPhotos++;
          continue;
        }
        const { subject, warnings: ws } = await enrollWithReport(
          engine,
          store,
          { id: p.id, name: p.name, files: [], uploads: [{ name: file, bytes }], face: o.face, lists: p.lists, expiresAt: o.expiresAt },
          { duplicateThreshold: o.duplicateThreshold, duplicateIndex: dupIndex },
        );
        dupIndex.upsert(subject);
        for (const w of ws) warnings[w.kind] = (warnings[w.kind] ?? 0) + 1;
        enrolledPhotos++;
        any = true;
      } catch (err) {
        if (isVigilError(err)) refuse(err.code, err.message); // the message names the file
        else refuse('ERROR', `${file}: ${(err as Error).message}`);
      } finally {
        o.onProgress?.(++done, total, p.name);
      }
    }
    if (any) enrolledPeople++;
  }
  const seconds = (Date.now() - t0) / 1000;
  return { people: todo.length, enrolledPeople, enrolledPhotos, skippedPhotos, refused, warnings, seconds, photosPerSecond: enrolledPhotos / Math.max(seconds, 1e-3) };
}

/** The closing summary, one line each. */
export function formatBulkSummary(s: BulkSummary): string[] {
  const lines = [
    `${s.people} people: ${s.enrolledPeople} enrolled or extended with ${s.enrolledPhotos} photo(s) in ${s.seconds.toFixed(0)} s (${s.photosPerSecond.toFixed(1)} photos/s); ${s.skippedPhotos} photo(s) already enrolled, skipped`,
  ];
  const refusedTotal = Object.values(s.refused).reduce((n, r) => n + r.count, 0);
  lines.push(refusedTotal ? `refused ${refusedTotal} photo(s):` : 'refused: none');
  for (const [code, r] of Object.entries(s.refused).sort((a, b) => b[1].count - a[1].count)) {
    lines.push(`  ${code}: ${r.count}`);
    for (const e of r.examples) lines.push(`    e.g. ${e}`);
  }
  const w = Object.entries(s.warnings);
  if (w.length) lines.push(`warnings (enrolled anyway): ${w.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return lines;
}
