import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { EmbeddingRecord, SubjectRecord } from '../contracts/messages.js';
import { VigilError } from '../errors.js';
import { faceSize, type AnalyzedFace, type FaceEngine } from '../inference/engine.js';
import { loadRgbFromBuffer } from '../inference/image-io.js';
import { subjectIdFor, type WatchlistStore } from './watchlist.js';

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

/**
 * Enrolls a subject from photos. Every photo is checked before anything is written: one bad photo
 * (unreadable, no face, several faces) refuses the whole request, naming the file, and the store
 * is left as it was. Images are kept in the store for re-embedding when the model changes.
 */
export async function enroll(engine: FaceEngine, store: WatchlistStore, req: EnrollRequest): Promise<SubjectRecord> {
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
  return subject;
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
