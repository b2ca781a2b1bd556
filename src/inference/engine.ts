import { embeddingModelId, type ResolvedProfile } from '../models/manifest.js';
import { alignFace } from './align.js';
import { createDetector, nms } from './detect/index.js';
import { Embedder, l2normalize } from './embedder.js';
import type { SessionOptions } from './onnx.js';
import type { Box, Point, RgbImage } from '../contracts/messages.js';
import { cropRgb } from './image-io.js';
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
  /** Detector input for regions around tracks (longest side, px): small, so a region is seen at about native resolution. */
  readonly regionSize?: number;
}

/** The profile's region detector follows a settled face only where the detector input enlarges its region at most this much. */
export const FOLLOW_MAX_ENLARGE = 1.5;

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
  /** Opens the region detector on first use (a second session of the same model, small input). */
  readonly #openRegion: () => Promise<Detector>;
  readonly #openFollow: (() => Promise<Detector>) | undefined;
  /** model id of the detector that follows settled faces in regions (RegionCrop.settled) */
  readonly followModel: string;
  /** longest side of the detector's input for a whole frame, and for a region around a track */
  readonly detectSize: number;
  readonly regionSize: number;
  #region: Promise<Detector> | undefined;
  #follow: Promise<Detector> | undefined;

  private constructor(profile: ResolvedProfile, detector: Detector, embedder: Embedder, flip: boolean, detectSize: number, regionSize: number, openRegion: () => Promise<Detector>, follow?: { id: string; open: () => Promise<Detector> }) {
    this.profile = profile;
    this.detectSize = detectSize;
    this.regionSize = regionSize;
    this.detector = detector;
    this.embedder = embedder;
    this.flip = flip;
    this.#openRegion = openRegion;
    this.#openFollow = follow?.open;
    this.followModel = follow?.id ?? profile.profile.detector;
  }

  /** `files`: model id -> installed path (from the model store). A number for `opts` is the detect size. */
  static async open(profile: ResolvedProfile, files: Readonly<Record<string, string>>, session: SessionOptions, opts: number | EngineOptions = {}): Promise<FaceEngine> {
    const p = profile.profile;
    const o: EngineOptions = typeof opts === 'number' ? { detectSize: opts } : opts;
    const detectSize = o.detectSize ?? p.detectSize;
    const flip = o.flip ?? p.flip ?? false;
    // The model store resolves every model of the profile; a missing one is a caller's bug, said plainly.
    const fileOf = (id: string): string => {
      const f = files[id];
      if (f === undefined) throw new Error(`FaceEngine.open: no installed file for model "${id}"`);
      return f;
    };
    const detectorAt = (size: number): Promise<Detector> =>
      createDetector(
        profile.detector,
        { detector: fileOf(p.detector), landmarks: profile.detector.landmarker ? fileOf(profile.detector.landmarker) : undefined },
        { detectSize: size, session, landmarkModel: profile.landmarker },
      );
    const detector = await detectorAt(detectSize);
    try {
      const embedder = await Embedder.open(p.recognizer, profile.recognizer, fileOf(p.recognizer), session);
      const regionSize = o.regionSize ?? 192;
      // Optional model: used when installed (requireProfile lists its file only then).
      const followModel = profile.regionDetector;
      const followFile = p.regionDetector === undefined ? undefined : files[p.regionDetector];
      const follow =
        followModel && followFile !== undefined ? { id: p.regionDetector!, open: () => createDetector(followModel, { detector: followFile }, { detectSize: regionSize, session }) } : undefined;
      return new FaceEngine(profile, detector, embedder, flip, detectSize, regionSize, () => detectorAt(regionSize), follow);
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

  /**
   * Faces inside `regions` of `img` (regions around live tracks), in frame coordinates. Each region
   * is cut out and detected with the small-input detector, so a face keeps about its native pixels
   * (the full-frame pass shrinks a 720p frame to 640 px). Regions in `native` (where something moved,
   * faces of unknown size) are never shrunk: their longest side goes in as it is, or is enlarged to
   * the region size. Regions should not overlap (a face would come twice).
   */
  async detectRegions(img: RgbImage, regions: readonly Box[], native: readonly Box[] = [], size = this.regionSize, settled: readonly boolean[] = []): Promise<Detection[]> {
    return this.detectCrops(cropRegions(img, regions, native, size, settled));
  }

  /** Faces in cut-out regions ({@link cropRegions}), moved to the frame's coordinates. */
  async detectCrops(crops: readonly RegionCrop[]): Promise<Detection[]> {
    const out: Detection[] = [];
    for (const c of crops) {
      const side = c.side ?? (c.native ? Math.max(this.regionSize, c.image.width, c.image.height) : this.regionSize);
      // The cheaper model for decided faces only, and not for small ones blown up 2-3x: on every
      // region it slowed alerts on faces of 27-50 px (p95 0.76 -> 2.26 s), its landmarks being poorer.
      const follow = c.settled && !c.native && Math.max(c.image.width, c.image.height) * FOLLOW_MAX_ENLARGE >= side && this.#openFollow;
      let dets = follow ? await (await (this.#follow ??= follow())).detect(c.image, side) : [];
      // Nothing where a decided face was: the detector looks again rather than let the track lapse
      // until the next full pass (a guard; rare, so it costs little).
      if (dets.length === 0) dets = await (await (this.#region ??= this.#openRegion())).detect(c.image, side);
      for (const d of dets) out.push(offsetDetection(d, c.x0, c.y0));
    }
    // Regions may overlap (a face region and the motion below it): one detection per face.
    return crops.length > 1 ? nms(out, 0.4) : out;
  }

  align(img: RgbImage, d: Detection): RgbImage {
    return alignFace(img, d.landmarks);
  }

  /** Embeddings of aligned crops, in order (one batch; with flip TTA, crops and mirrors together). */
  async embed(aligned: readonly RgbImage[]): Promise<Float32Array[]> {
    if (!this.flip || aligned.length === 0) return this.embedder.embed(aligned);
    const n = aligned.length;
    const both = await this.embedder.embed([...aligned, ...aligned.map(mirror)]);
    return both.slice(0, n).map((e, i) => fuseFlip(e, both[n + i]!));
  }

  /** Embeddings without flip TTA (the first half of what embed() does with flip on). */
  embedPlain(aligned: readonly RgbImage[]): Promise<Float32Array[]> {
    return this.embedder.embed(aligned);
  }

  /** Flip TTA added to embeddings from embedPlain: `plain[i]` fused with the mirror of `aligned[i]`, in place of a second full pass. */
  async addFlip(aligned: readonly RgbImage[], plain: readonly Float32Array[]): Promise<Float32Array[]> {
    if (aligned.length === 0) return [];
    const mirrored = await this.embedder.embed(aligned.map(mirror));
    return plain.map((e, i) => fuseFlip(Float32Array.from(e), mirrored[i]!));
  }

  /** Every face in `img`, embedded (one batch). */
  async analyze(img: RgbImage, minFaceSize = 0): Promise<AnalyzedFace[]> {
    const dets = (await this.detect(img)).filter((d) => faceSize(d) >= minFaceSize);
    const aligned = dets.map((d) => this.align(img, d));
    const embs = await this.embed(aligned);
    return dets.map((detection, i) => ({ detection, aligned: aligned[i]!, embedding: embs[i]! }));
  }

  async close(): Promise<void> {
    const region = this.#region;
    const follow = this.#follow;
    await Promise.all([this.detector.close(), this.embedder.close(), ...[region, follow].map((r) => r?.then((d) => d.close(), () => undefined))]);
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

/** A region of a frame, cut out, and where it was. */
export interface RegionCrop {
  readonly image: RgbImage;
  readonly x0: number;
  readonly y0: number;
  /** detect at native resolution (never shrunk to the region size) */
  readonly native?: boolean;
  /** the detector input's longest side (default: the engine's region size; native regions at least their own) */
  readonly side?: number;
  /**
   * around faces whose identity is decided (CameraSchedule, with regionModel 'profile'): the
   * profile's cheaper region detector follows them when installed. Every other region - undecided
   * faces, whose landmarks make the embeddings that decide them, and moved ones - gets the detector.
   */
  readonly settled?: boolean;
}

/**
 * The regions' pixels (what a worker thread needs of the frame for region detection: far less than
 * the frame), each with its detector input size when `size` is given: `regions` at `size`, `native`
 * ones at their own longest side or `size`, whichever is larger.
 */
export function cropRegions(img: RgbImage, regions: readonly Box[], native: readonly Box[] = [], size?: number, settled: readonly boolean[] = []): RegionCrop[] {
  const crop = (r: Box, n: boolean, s: boolean): RegionCrop => {
    const image = cropRgb(img, r);
    const side = size === undefined ? undefined : n ? Math.max(size, image.width, image.height) : size;
    return { image, x0: Math.max(0, Math.floor(r[0])), y0: Math.max(0, Math.floor(r[1])), native: n, side, ...(s ? { settled: true } : {}) };
  };
  return [...regions.map((r, i) => crop(r, false, settled[i] ?? false)), ...native.map((r) => crop(r, true, false))];
}

/** A detection made in a cut-out region, moved to the frame's coordinates. */
function offsetDetection(d: Detection, dx: number, dy: number): Detection {
  const p = (q: Point): Point => [q[0] + dx, q[1] + dy];
  const l = d.landmarks;
  return { box: [d.box[0] + dx, d.box[1] + dy, d.box[2] + dx, d.box[3] + dy], score: d.score, landmarks: [p(l[0]), p(l[1]), p(l[2]), p(l[3]), p(l[4])] };
}

/** Shorter side of the face box, px. */
export function faceSize(d: Detection): number {
  return Math.min(d.box[2] - d.box[0], d.box[3] - d.box[1]);
}
