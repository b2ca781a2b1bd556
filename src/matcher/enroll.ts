import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { EmbeddingRecord, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { cosine } from '../inference/embedder.js';
import { faceSize, type AnalyzedFace, type FaceEngine } from '../inference/engine.js';
import { loadRgbFromBuffer } from '../inference/image-io.js';
import { enrollmentIssues, measureQuality, type EnrollIssue, type FaceQuality } from '../inference/quality.js';
import sharp, { type Metadata } from 'sharp';
import type { SubjectIndex } from './index.js';
import { subjectIdFor, type WatchlistStore } from './watchlist.js';

/**
 * Faces smaller than this share of the largest face in an enrollment photo are taken as background
 * people and ignored.
 */
export const BACKGROUND_FACE_RATIO = 0.4;
/** Above BACKGROUND_FACE_RATIO, the largest face still wins when the next is at most this share of it and it sits near the centre. */
export const DOMINANT_FACE_RATIO = 0.8;
/** "Near the centre": the face's centre within this share of the width / height from the photo's centre. */
export const CENTRE_TOLERANCE = 0.2;
/** Framed on one person: one face this near the centre (share of width / height), every comparable other at least FRAMED_OTHERS off it. */
export const FRAMED_CENTRE = 0.1;
export const FRAMED_OTHERS = 0.25;
/** Photos above this many pixels are refused before decoding (a 16000x16000 PNG decodes to 768 MB). */
export const MAX_ENROLL_PIXELS = 40_000_000;

/** Which face of a photo to enroll: 'auto' (the only or the dominant one), 'largest', or the Nth largest (1-based). */
export type FaceChoice = 'auto' | 'largest' | number;

export interface ChosenFace {
  readonly face: AnalyzedFace;
  /** other faces in the photo that were not enrolled */
  readonly ignored: number;
}

const centreOff = (f: AnalyzedFace, w: number, h: number): number => {
  const [x1, y1, x2, y2] = f.detection.box;
  return Math.max(Math.abs((x1 + x2) / 2 - w / 2) / w, Math.abs((y1 + y2) / 2 - h / 2) / h);
};

/**
 * The face an enrollment photo is for. With several faces, 'auto' takes the largest when it is
 * unambiguous (the others are background-sized, or clearly smaller while it sits near the centre)
 * and refuses the photo otherwise, saying why; 'largest' / N force the choice.
 */
export async function enrollmentFace(engine: FaceEngine, file: string, bytes: Uint8Array, choice: FaceChoice = 'auto'): Promise<ChosenFace> {
  await checkPixels(file, bytes);
  const img = await loadRgbFromBuffer(bytes, file);
  const faces = (await engine.analyze(img)).sort((a, b) => faceSize(b.detection) - faceSize(a.detection));
  if (faces.length === 0) throw new VigilError('VIGIL_ERR_ENROLL_NO_FACE', { file });
  const ignored = faces.length - 1;
  if (typeof choice === 'number') {
    const f = faces[choice - 1];
    if (!f || !Number.isInteger(choice)) throw new VigilError('VIGIL_ERR_ENROLL_MANY_FACES', { file, count: faces.length, reason: `--face ${choice} asked for, the photo has ${faces.length} face(s)` });
    return { face: f, ignored };
  }
  const [main, next] = faces as [AnalyzedFace, AnalyzedFace | undefined];
  if (!next || choice === 'largest') return { face: main, ignored };
  const picked = dominantFace(faces, img.width, img.height);
  if ('face' in picked) return { face: picked.face, ignored };
  throw new VigilError('VIGIL_ERR_ENROLL_MANY_FACES', { file, count: faces.length, reason: `${picked.reason}; choose with --face largest or --face N (N-th largest)` });
}

/**
 * The face a photo of several is about, when that is unambiguous (faces sorted largest first):
 * the others are background-sized (< BACKGROUND_FACE_RATIO of the largest); or the largest is
 * clearly larger (the next <= DOMINANT_FACE_RATIO of it) and near the centre; or the photo is
 * framed on one person: exactly one of the comparable faces is at the centre (press and
 * passport photos; in LFW the bystander is often as large, but cut by the frame's edge) and the
 * others are well off it. Otherwise the reason it is ambiguous.
 */
export function dominantFace(faces: readonly AnalyzedFace[], w: number, h: number): { face: AnalyzedFace } | { reason: string } {
  const main = faces[0]!;
  const rivals = faces.slice(1).filter((f) => faceSize(f.detection) >= BACKGROUND_FACE_RATIO * faceSize(main.detection));
  if (rivals.length === 0) return { face: main };
  const ratio = faceSize(rivals[0]!.detection) / faceSize(main.detection);
  if (ratio <= DOMINANT_FACE_RATIO && centreOff(main, w, h) <= CENTRE_TOLERANCE) return { face: main };
  const comparable = [main, ...rivals];
  const central = comparable.filter((f) => centreOff(f, w, h) <= FRAMED_CENTRE);
  if (central.length === 1 && comparable.every((f) => f === central[0] || centreOff(f, w, h) >= FRAMED_OTHERS)) return { face: central[0]! };
  const px = (f: AnalyzedFace): string => faceSize(f.detection).toFixed(0);
  if (central.length > 1) return { reason: `${central.length} faces of comparable size (${central.map(px).join(', ')} px) near the centre` };
  return { reason: `${comparable.length} faces of comparable size (${comparable.map(px).join(', ')} px) and none both the clearly largest and at the centre` };
}

/** Refuses an image over MAX_ENROLL_PIXELS from its header alone, before any pixel is decoded. */
async function checkPixels(file: string, bytes: Uint8Array): Promise<void> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch (err) {
    throw new VigilError('VIGIL_ERR_IMAGE_DECODE', { file, reason: (err as Error).message }, err);
  }
  const px = (meta.width ?? 0) * (meta.height ?? 0);
  if (px > MAX_ENROLL_PIXELS) {
    throw new VigilError('VIGIL_ERR_IMAGE_TOO_LARGE', { file, width: meta.width ?? 0, height: meta.height ?? 0, max: `${MAX_ENROLL_PIXELS / 1e6} megapixels` });
  }
}

/** Control characters (terminal escape sequences among them) are refused in names, ids and list names. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const ID = /^[A-Za-z0-9][\w.-]{0,127}$/;

/** Checks a subject's id and name before anything is written; throws VIGIL_ERR_WATCHLIST_INVALID naming the field. */
export function validateSubjectFields(f: { id?: string; name?: string; lists?: readonly string[]; expiresAt?: string }): void {
  const bad = (field: string, reason: string): never => {
    throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field, reason });
  };
  if (f.id !== undefined && !ID.test(f.id)) bad('id', f.id === '' ? 'empty' : 'use 1-128 letters, digits, "_", "." or "-", starting with a letter or digit');
  if (f.name !== undefined) {
    if (f.name.trim() === '') bad('name', 'empty');
    if (CONTROL.test(f.name)) bad('name', 'contains control characters (e.g. terminal escape codes)');
    if (f.name.length > 200) bad('name', 'longer than 200 characters');
  }
  for (const l of f.lists ?? []) if (!ID.test(l)) bad('list', `"${printable(l)}": use 1-128 letters, digits, "_", "." or "-"`);
  if (f.expiresAt !== undefined && Number.isNaN(Date.parse(f.expiresAt))) bad('expires', `"${printable(f.expiresAt)}" is not a date (use e.g. 2027-01-31 or an ISO time)`);
}

/** A string safe to print on a terminal: control characters shown as \\uXXXX. */
export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(new RegExp(CONTROL.source, 'g'), (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface EnrollRequest {
  readonly name: string;
  /** Existing subject id to add images to, or a new id; default: derived from the name. */
  readonly id?: string;
  readonly files: readonly string[];
  /** Photos already in memory (the admin API's uploads): name (for the extension) and bytes. */
  readonly uploads?: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  /** Which face of a photo with several (default 'auto'). */
  readonly face?: FaceChoice;
  /** Lists the subject is put on (added to those it is already on). */
  readonly lists?: readonly string[];
  readonly expiresAt?: string;
}

/** Something about an enrollment that deserves a look; the enrollment itself went through. */
export type EnrollWarning =
  | { readonly kind: 'quality'; readonly file: string; readonly issues: readonly EnrollIssue[]; readonly quality: FaceQuality; readonly message: string }
  | { readonly kind: 'duplicate'; readonly file: string; readonly subject: { readonly id: string; readonly name: string }; readonly similarity: number; readonly message: string }
  | { readonly kind: 'inconsistent'; readonly file: string; readonly other: string; readonly similarity: number; readonly message: string }
  | { readonly kind: 'others'; readonly file: string; readonly ignored: number; readonly message: string };

export interface EnrollOptions {
  /**
   * A photo this similar to another subject's enrollment embedding is flagged as a possible
   * duplicate (default: the profile's match threshold: the matcher would confuse the two).
   */
  readonly duplicateThreshold?: number;
  /** Index searched for duplicates (bulk enrollment keeps one); default: every stored embedding of the model, brute force. */
  readonly duplicateIndex?: SubjectIndex;
}

const ISSUE_TEXT: Record<EnrollIssue, string> = {
  small: 'the face is small (eyes {interEye} px apart; 40+ recommended)',
  blurred: 'the face is blurred (sharpness {sharpness})',
  profile: 'the head is turned (about {yaw} degrees)',
  pitched: 'the head is tilted up or down (about {pitch} degrees)',
};

function qualityWarning(file: string, q: FaceQuality): EnrollWarning | undefined {
  const issues = enrollmentIssues(q);
  if (issues.length === 0) return undefined;
  const fill = (t: string): string =>
    t.replace('{interEye}', q.interEye.toFixed(0)).replace('{sharpness}', q.sharpness.toFixed(0)).replace('{yaw}', Math.abs(q.yaw).toFixed(0)).replace('{pitch}', Math.abs(q.pitch).toFixed(0));
  return { kind: 'quality', file, issues, quality: q, message: `${file}: ${issues.map((i) => fill(ISSUE_TEXT[i])).join('; ')}: matches will be weaker; a sharp, frontal photo is better` };
}

/**
 * Enrolls a subject from photos. Every photo is checked before anything is written: one bad photo
 * (unreadable, too large, no face, an ambiguous choice of faces) refuses the whole request, naming
 * the file, and the store is left as it was. Images are kept in the store for re-embedding when
 * the model changes. The database write is one transaction that re-reads the subject, so
 * concurrent enrollments (other processes, the API) lose nothing.
 *
 * Several photos: each becomes its own embedding and a subject scores its best one (SubjectIndex).
 * Measured against one mean embedding per subject (`vigil bench ident --gallery-images 3 --combine
 * max|mean`, docs/accuracy.md): see there for why best-of is kept.
 */
export async function enroll(engine: FaceEngine, store: WatchlistStore, req: EnrollRequest, opts: EnrollOptions = {}): Promise<SubjectRecord> {
  return (await enrollWithReport(engine, store, req, opts)).subject;
}

/** As {@link enroll}, also returning warnings: poor photos, other faces ignored, likely duplicates of another subject, photos that disagree. */
export async function enrollWithReport(
  engine: FaceEngine,
  store: WatchlistStore,
  req: EnrollRequest,
  opts: EnrollOptions = {},
): Promise<{ subject: SubjectRecord; warnings: EnrollWarning[] }> {
  validateSubjectFields(req);
  const photos: { file: string; bytes: Uint8Array }[] = [...(req.uploads ?? []).map((u) => ({ file: u.name, bytes: u.bytes }))];
  for (const file of req.files) {
    try {
      photos.push({ file, bytes: await readFile(file) });
    } catch (err) {
      throw new VigilError('VIGIL_ERR_IMAGE_DECODE', { file, reason: (err as Error).message }, err);
    }
  }
  if (photos.length === 0) throw new VigilError('VIGIL_ERR_WATCHLIST_INVALID', { field: 'photos', reason: 'no photo given' });
  const checked: { file: string; bytes: Uint8Array; face: AnalyzedFace }[] = [];
  const warnings: EnrollWarning[] = [];
  for (const p of photos) {
    const { face, ignored } = await enrollmentFace(engine, p.file, p.bytes, req.face ?? 'auto');
    checked.push({ ...p, face });
    if (ignored) warnings.push({ kind: 'others', file: p.file, ignored, message: `${p.file}: ${ignored} other face(s) in the photo ignored; enrolled the ${req.face === undefined || req.face === 'auto' ? 'dominant' : 'chosen'} one` });
  }
  warnings.push(...enrollmentWarnings(engine, store, req.id, checked, opts.duplicateThreshold ?? engine.profile.profile.threshold, opts.duplicateIndex));
  const shas: string[] = [];
  for (const c of checked) shas.push(await store.keepImage(c.file, c.bytes));
  const subject = store.write(() =>
    putPhotos(store, req, engine.model, checked.map((c, k) => ({ sha256: shas[k]!, name: basename(c.file), embedding: c.face.embedding }))),
  );
  return { subject, warnings };
}

/**
 * Inside store.write(): adds photos (already kept by sha256) and their embeddings of `model` to the
 * subject `id` (or a new one named `name`): an embedding of the same photo and model is replaced,
 * lists are merged, the creation time kept, the expiry replaced only when given.
 */
export function putPhotos(
  store: WatchlistStore,
  who: { readonly id?: string; readonly name: string; readonly lists?: readonly string[]; readonly expiresAt?: string },
  model: string,
  photos: readonly { readonly sha256: string; readonly name: string; readonly embedding: ArrayLike<number> }[],
): SubjectRecord {
  const existing = who.id ? store.get(who.id) : undefined;
  const id = who.id ?? subjectIdFor(who.name, (x) => store.has(x));
  const images = [...(existing?.images ?? [])];
  const embeddings: EmbeddingRecord[] = [...(existing?.embeddings ?? [])];
  for (const p of photos) {
    if (!images.some((i) => i.sha256 === p.sha256)) images.push({ sha256: p.sha256, name: p.name });
    const i = embeddings.findIndex((e) => e.image === p.sha256 && e.model === model);
    const rec: EmbeddingRecord = { model, image: p.sha256, vector: Array.from(p.embedding, round6) };
    if (i >= 0) embeddings[i] = rec;
    else embeddings.push(rec);
  }
  const now = new Date().toISOString();
  const lists = [...new Set([...(existing?.lists ?? []), ...(who.lists ?? [])])];
  const expiresAt = who.expiresAt ? new Date(who.expiresAt).toISOString() : existing?.expiresAt;
  const s: SubjectRecord = { id, name: who.name, createdAt: existing?.createdAt ?? now, updatedAt: now, images, embeddings, ...(lists.length ? { lists } : {}), ...(expiresAt ? { expiresAt } : {}) };
  store.putInTx(s);
  return s;
}

function enrollmentWarnings(
  engine: FaceEngine,
  store: WatchlistStore,
  id: string | undefined,
  checked: readonly { file: string; face: AnalyzedFace }[],
  duplicateThreshold: number,
  index: SubjectIndex | undefined,
): EnrollWarning[] {
  const out: EnrollWarning[] = [];
  for (const [k, c] of checked.entries()) {
    const q = qualityWarning(c.file, measureQuality(c.face.detection, c.face.aligned));
    if (q) out.push(q);
    const best = index ? bestInIndex(index, c.face.embedding, id) : bestInStore(store, engine.model, c.face.embedding, id);
    if (best && best.sim >= duplicateThreshold) {
      const similarity = round4(best.sim);
      out.push({
        kind: 'duplicate',
        file: c.file,
        subject: best.subject,
        similarity,
        message: `${c.file}: looks like ${printable(best.subject.name)} [${best.subject.id}], already on the watchlist (similarity ${similarity} >= ${duplicateThreshold}): a duplicate subject splits alerts between two ids`,
      });
    }
    // Photos of one request should show one person.
    for (const o of checked.slice(0, k)) {
      const sim = cosine(c.face.embedding, o.face.embedding);
      if (sim < duplicateThreshold) {
        out.push({
          kind: 'inconsistent',
          file: c.file,
          other: o.file,
          similarity: round4(sim),
          message: `${c.file} and ${o.file} may not show the same person (similarity ${round4(sim)} < ${duplicateThreshold})`,
        });
      }
    }
  }
  return out;
}

type Best = { subject: { id: string; name: string }; sim: number } | undefined;

function bestInIndex(index: SubjectIndex, v: Float32Array, self: string | undefined): Best {
  const c = index.search(v, 2).find((x) => x.subject.id !== self);
  return c && { subject: c.subject, sim: c.similarity };
}

/** Brute force over the stored embeddings of the model (one enrollment; bulk passes an index). */
function bestInStore(store: WatchlistStore, model: string, v: Float32Array, self: string | undefined): Best {
  let best: { id: string; sim: number } | undefined;
  for (const e of store.embeddings(model)) {
    if (e.subject === self) continue;
    const sim = cosine(v, e.vector);
    if (sim > (best?.sim ?? -Infinity)) best = { id: e.subject, sim };
  }
  if (!best) return undefined;
  return { subject: { id: best.id, name: store.get(best.id)?.name ?? best.id }, sim: best.sim };
}

/**
 * Makes sure every subject has embeddings of the engine's model, computing missing ones from the
 * stored enrollment images. Returns the subjects that were re-embedded.
 */
export async function reembed(engine: FaceEngine, store: WatchlistStore, opts: { force?: boolean } = {}): Promise<string[]> {
  // Only the photos lacking this model's embedding are read (an index query, not every record).
  const todo = opts.force ? store.db.prepare('SELECT subject, sha256, name FROM images ORDER BY rowid').all() as { subject: string; sha256: string; name: string }[] : store.missingEmbeddings(engine.model);
  const bySubject = new Map<string, { sha256: string; name: string }[]>();
  for (const t of todo) bySubject.set(t.subject, [...(bySubject.get(t.subject) ?? []), t]);
  const done: string[] = [];
  for (const [id, imgs] of bySubject) {
    const fresh: EmbeddingRecord[] = [];
    for (const img of imgs) {
      const bytes = await readFile(store.imagePath(img.sha256, extname(img.name)));
      const face = (await enrollmentFace(engine, img.name, bytes)).face;
      fresh.push({ model: engine.model, image: img.sha256, vector: Array.from(face.embedding, round6) });
    }
    const redone = new Set(fresh.map((e) => e.image));
    const changed = store.write(() => {
      const s = store.get(id);
      if (!s) return false; // removed meanwhile
      const kept = s.embeddings.filter((e) => !(e.model === engine.model && redone.has(e.image)));
      store.putInTx({ ...s, embeddings: [...kept, ...fresh], updatedAt: new Date().toISOString() });
      return true;
    });
    if (changed) done.push(id);
  }
  return done;
}

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;
const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;
