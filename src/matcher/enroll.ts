import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { EmbeddingRecord, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { cosine } from '../inference/embedder.js';
import { faceSize, type AnalyzedFace, type FaceEngine } from '../inference/engine.js';
import { loadRgbFromBuffer } from '../inference/image-io.js';
import { enrollmentIssues, measureQuality, type EnrollIssue, type FaceQuality } from '../inference/quality.js';
import { embeddingsFor, subjectIdFor, type WatchlistStore } from './watchlist.js';

/**
 * Faces smaller than this share of the largest face in an enrollment photo are taken as background
 * people and ignored; two faces of similar size make the photo ambiguous and it is refused.
 */
export const BACKGROUND_FACE_RATIO = 0.4;

/** The one face an enrollment photo must show; throws naming the file when it has none or several. */
export async function enrollmentFace(engine: FaceEngine, file: string, bytes: Uint8Array): Promise<AnalyzedFace> {
  const img = await loadRgbFromBuffer(bytes, file);
  const faces = await engine.analyze(img);
  if (faces.length === 0) throw new VigilError('VIGIL_ERR_ENROLL_NO_FACE', { file });
  const largest = Math.max(...faces.map((f) => faceSize(f.detection)));
  const main = faces.filter((f) => faceSize(f.detection) >= BACKGROUND_FACE_RATIO * largest);
  if (main.length > 1) throw new VigilError('VIGIL_ERR_ENROLL_MANY_FACES', { file, count: main.length });
  return main[0];
}

export interface EnrollRequest {
  readonly name: string;
  /** Existing subject id to add images to, or a new id; default: derived from the name. */
  readonly id?: string;
  readonly files: readonly string[];
}

/** Something about an enrollment that deserves a look; the enrollment itself went through. */
export type EnrollWarning =
  | { readonly kind: 'quality'; readonly file: string; readonly issues: readonly EnrollIssue[]; readonly quality: FaceQuality; readonly message: string }
  | { readonly kind: 'duplicate'; readonly file: string; readonly subject: { readonly id: string; readonly name: string }; readonly similarity: number; readonly message: string }
  | { readonly kind: 'inconsistent'; readonly file: string; readonly other: string; readonly similarity: number; readonly message: string };

export interface EnrollOptions {
  /**
   * A photo this similar to another subject's enrollment embedding is flagged as a possible
   * duplicate (default: the profile's match threshold: the matcher would confuse the two).
   */
  readonly duplicateThreshold?: number;
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
 * (unreadable, no face, several faces) refuses the whole request, naming the file, and the store
 * is left as it was. Images are kept in the store for re-embedding when the model changes.
 *
 * Several photos: each becomes its own embedding and a subject scores its best one (SubjectIndex).
 * Measured against one mean embedding per subject (`vigil bench ident --gallery-images 3 --combine
 * max|mean`, docs/accuracy.md): see there for why best-of is kept.
 */
export async function enroll(engine: FaceEngine, store: WatchlistStore, req: EnrollRequest, opts: EnrollOptions = {}): Promise<SubjectRecord> {
  return (await enrollWithReport(engine, store, req, opts)).subject;
}

/** As {@link enroll}, also returning warnings: poor photos, likely duplicates of another subject, photos that disagree. */
export async function enrollWithReport(
  engine: FaceEngine,
  store: WatchlistStore,
  req: EnrollRequest,
  opts: EnrollOptions = {},
): Promise<{ subject: SubjectRecord; warnings: EnrollWarning[] }> {
  const checked: { file: string; bytes: Uint8Array; face: AnalyzedFace }[] = [];
  for (const file of req.files) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (err) {
      throw new VigilError('VIGIL_ERR_IMAGE_DECODE', { file, reason: (err as Error).message }, err);
    }
    checked.push({ file, bytes, face: await enrollmentFace(engine, file, bytes) });
  }
  const existing = req.id ? store.get(req.id) : undefined;
  const id = req.id ?? subjectIdFor(req.name, (x) => store.get(x) !== undefined);
  const warnings = enrollmentWarnings(engine, store, id, checked, opts.duplicateThreshold ?? engine.profile.profile.threshold);
  const images = [...(existing?.images ?? [])];
  const embeddings: EmbeddingRecord[] = [...(existing?.embeddings ?? [])];
  for (const c of checked) {
    const sha = await store.keepImage(c.file, c.bytes);
    if (!images.some((i) => i.sha256 === sha)) images.push({ sha256: sha, name: basename(c.file) });
    const i = embeddings.findIndex((e) => e.image === sha && e.model === engine.model);
    const rec: EmbeddingRecord = { model: engine.model, image: sha, vector: Array.from(c.face.embedding, round6) };
    if (i >= 0) embeddings[i] = rec;
    else embeddings.push(rec);
  }
  const now = new Date().toISOString();
  const subject: SubjectRecord = { id, name: req.name, createdAt: existing?.createdAt ?? now, updatedAt: now, images, embeddings };
  await store.upsert(subject);
  return { subject, warnings };
}

function enrollmentWarnings(
  engine: FaceEngine,
  store: WatchlistStore,
  id: string,
  checked: readonly { file: string; face: AnalyzedFace }[],
  duplicateThreshold: number,
): EnrollWarning[] {
  const out: EnrollWarning[] = [];
  const others = embeddingsFor(store.list().filter((s) => s.id !== id), engine.model);
  for (const [k, c] of checked.entries()) {
    const q = qualityWarning(c.file, measureQuality(c.face.detection, c.face.aligned));
    if (q) out.push(q);
    // Brute force over the store: enrollment is rare, and the store holds every model's vectors.
    let best: { subject: SubjectRecord; sim: number } | undefined;
    for (const { subject, emb } of others) {
      const sim = cosine(c.face.embedding, emb.vector);
      if (sim >= duplicateThreshold && sim > (best?.sim ?? -Infinity)) best = { subject, sim };
    }
    if (best) {
      const similarity = round4(best.sim);
      out.push({
        kind: 'duplicate',
        file: c.file,
        subject: { id: best.subject.id, name: best.subject.name },
        similarity,
        message: `${c.file}: looks like ${best.subject.name} [${best.subject.id}], already on the watchlist (similarity ${similarity} >= ${duplicateThreshold}): a duplicate subject splits alerts between two ids`,
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

/**
 * Makes sure every subject has embeddings of the engine's model, computing missing ones from the
 * stored enrollment images. Returns the subjects that were re-embedded.
 */
export async function reembed(engine: FaceEngine, store: WatchlistStore, opts: { force?: boolean } = {}): Promise<string[]> {
  const done: string[] = [];
  for (const s of store.list()) {
    const have = new Set(s.embeddings.filter((e) => e.model === engine.model).map((e) => e.image));
    const todo = s.images.filter((i) => opts.force || !have.has(i.sha256));
    if (todo.length === 0) continue;
    const fresh: EmbeddingRecord[] = [];
    for (const img of todo) {
      const path = store.imagePath(img.sha256, extname(img.name));
      const bytes = await readFile(path);
      const face = await enrollmentFace(engine, img.name, bytes);
      fresh.push({ model: engine.model, image: img.sha256, vector: Array.from(face.embedding, round6) });
    }
    const redone = new Set(fresh.map((e) => e.image));
    const kept = s.embeddings.filter((e) => !(e.model === engine.model && redone.has(e.image)));
    await store.upsert({ ...s, embeddings: [...kept, ...fresh], updatedAt: new Date().toISOString() });
    done.push(s.id);
  }
  return done;
}

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;
const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;
