import type { ResolvedProfile } from '../models/manifest.js';
import { alignFace } from './align.js';
import { createDetector } from './detect/index.js';
import { Embedder } from './embedder.js';
import type { SessionOptions } from './onnx.js';
import type { Detection, Detector, RgbImage } from './types.js';

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

  private constructor(profile: ResolvedProfile, detector: Detector, embedder: Embedder) {
    this.profile = profile;
    this.detector = detector;
    this.embedder = embedder;
  }

  /** `files`: model id -> installed path (from the model store). */
  static async open(profile: ResolvedProfile, files: Readonly<Record<string, string>>, session: SessionOptions, detectSize = profile.profile.detectSize): Promise<FaceEngine> {
    const p = profile.profile;
    const detector = await createDetector(
      profile.detector,
      { detector: files[p.detector], landmarks: profile.detector.landmarker ? files[profile.detector.landmarker] : undefined },
      { detectSize, session, landmarkModel: profile.landmarker },
    );
    try {
      const embedder = await Embedder.open(p.recognizer, profile.recognizer, files[p.recognizer], session);
      return new FaceEngine(profile, detector, embedder);
    } catch (err) {
      await detector.close();
      throw err;
    }
  }

  /** Embedding model id recorded with every embedding this engine makes. */
  get model(): string {
    return this.profile.embeddingModel;
  }

  detect(img: RgbImage): Promise<Detection[]> {
    return this.detector.detect(img);
  }

  align(img: RgbImage, d: Detection): RgbImage {
    return alignFace(img, d.landmarks);
  }

  /** Every face in `img`, embedded (one batch). */
  async analyze(img: RgbImage, minFaceSize = 0): Promise<AnalyzedFace[]> {
    const dets = (await this.detect(img)).filter((d) => faceSize(d) >= minFaceSize);
    const aligned = dets.map((d) => this.align(img, d));
    const embs = await this.embedder.embed(aligned);
    return dets.map((detection, i) => ({ detection, aligned: aligned[i], embedding: embs[i] }));
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.embedder.close()]);
  }
}

/** Shorter side of the face box, px. */
export function faceSize(d: Detection): number {
  return Math.min(d.box[2] - d.box[0], d.box[3] - d.box[1]);
}
