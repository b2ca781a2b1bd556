import { embeddingModelId, type ResolvedProfile } from '../models/manifest.js';
import { alignFace } from './align.js';
import { createDetector } from './detect/index.js';
import { Embedder, l2normalize } from './embedder.js';
import type { SessionOptions } from './onnx.js';
import type { RgbImage } from '../contracts/messages.js';
import type { Detection, Detector } from './types.js';

export interface EngineOptions {
  /** Longest side frames are letterboxed to for detection; default: the profile's detectSize. */
  readonly detectSize?: number;
  /**
   * Flip test-time augmentation: embed the aligned crop and its mirror image and use the normalised
   * sum. Default: the profile's `flip`. One setting per engine, so the pipeline, enrollment and the
   * benchmarks embed alike (the profile's threshold was calibrated with its own setting).
   */
  readonly flip?: boolean;
}

export interface AnalyzedFace {
  readonly detection: Detection;
  readonly aligned: RgbImage;
  readonly embedding: Float32Array;
}

/**
 * The face engine: detect -> align (5-point similarity to the ArcFace template) -> embed -> L2.
 * One instance serves the pipeline, enrollment and the benchmarks, so all measure the same thing.
 */
export class FaceEngine {
  readonly profile: ResolvedProfile;
  readonly detector: Detector;
  readonly embedder: Embedder;
  readonly flip: boolean;

  private constructor(profile: ResolvedProfile, detector: Detector, embedder: Embedder, flip: boolean) {
    this.profile = profile;
    this.detector = detector;
    this.embedder = embedder;
    this.flip = flip;
  }

  /** `files`: model id -> installed path (from the model store). A number for `opts` is the detect size. */
  static async open(profile: ResolvedProfile, files: Readonly<Record<string, string>>, session: SessionOptions, opts: number | EngineOptions = {}): Promise<FaceEngine> {
    const p = profile.profile;
    const o: EngineOptions = typeof opts === 'number' ? { detectSize: opts } : opts;
    const detectSize = o.detectSize ?? p.detectSize;
    const flip = o.flip ?? p.flip ?? false;
    const detector = await createDetector(
      profile.detector,
      { detector: files[p.detector], landmarks: profile.detector.landmarker ? files[profile.detector.landmarker] : undefined },
      { detectSize, session, landmarkModel: profile.landmarker },
    );
    try {
      const embedder = await Embedder.open(p.recognizer, profile.recognizer, files[p.recognizer], session);
      return new FaceEngine(profile, detector, embedder, flip);
    } catch (err) {
      await detector.close();
      throw err;
    }
  }

  /** Embedding model id recorded with every embedding this engine makes. */
  get model(): string {
    return embeddingModelId(this.profile.profile.recognizer, this.flip);
  }

  detect(img: RgbImage): Promise<Detection[]> {
    return this.detector.detect(img);
  }

  align(img: RgbImage, d: Detection): RgbImage {
    return alignFace(img, d.landmarks);
  }

  /** Embeddings of aligned crops, in order (one batch; with flip TTA, crops and mirrors together). */
  async embed(aligned: readonly RgbImage[]): Promise<Float32Array[]> {
    if (!this.flip || aligned.length === 0) return this.embedder.embed(aligned);
    const n = aligned.length;
    const both = await this.embedder.embed([...aligned, ...aligned.map(mirror)]);
    return both.slice(0, n).map((e, i) => fuseFlip(e, both[n + i]));
  }

  /** Every face in `img`, embedded (one batch). */
  async analyze(img: RgbImage, minFaceSize = 0): Promise<AnalyzedFace[]> {
    const dets = (await this.detect(img)).filter((d) => faceSize(d) >= minFaceSize);
    const aligned = dets.map((d) => this.align(img, d));
    const embs = await this.embed(aligned);
    return dets.map((detection, i) => ({ detection, aligned: aligned[i], embedding: embs[i] }));
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.embedder.close()]);
  }
}

/** Left-right mirror image (the aligned template is symmetric, so the mirror is aligned too). */
export function mirror(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3;
    for (let x = 0; x < w; x++) {
      const s = row + x * 3;
      const d = row + (w - 1 - x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { width: w, height: h, data: out };
}

/** Flip TTA: the normalised sum of a crop's and its mirror's (normalised) embeddings. */
export function fuseFlip(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return l2normalize(out);
}

/** Shorter side of the face box, px. */
export function faceSize(d: Detection): number {
  return Math.min(d.box[2] - d.box[0], d.box[3] - d.box[1]);
}
