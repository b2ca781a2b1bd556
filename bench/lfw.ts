import { join } from 'node:path';
import { cosine } from '../src/inference/embedder.js';
import type { FaceEngine } from '../src/inference/engine.js';
import { loadRgb } from '../src/inference/image-io.js';
import type { Point, RgbImage } from '../src/contracts/messages.js';
import type { Detection } from '../src/inference/types.js';
import { benchFaces, faceEmbedding, pickCentral, type BenchFace, type CacheSpec, type FillProgress } from './face-cache.js';
import { readPairs, type LfwPair } from './lfw-data.js';
import { crossValidatedAccuracy, meanStd, rocAuc, tarAtFar, type ScoredPair } from './metrics.js';

/**
 * Where the detectors put the 5 points on a deep-funneled LFW image (250x250): the mean of SCRFD-2.5G's
 * landmarks over LFW images where it found the face. Images where the detector finds no face are
 * aligned with these, the usual LFW practice (the face of interest is centred by construction).
 */
export const LFW_MEAN_LANDMARKS: Detection['landmarks'] = [
  [104.6, 113.2],
  [146.9, 112.4],
  [125.5, 137.7],
  [108.6, 158.8],
  [145.0, 158.0],
];

export function lfwFallback(img: RgbImage): Detection['landmarks'] {
  const sx = img.width / 250;
  const sy = img.height / 250;
  const p = (i: number): Point => [LFW_MEAN_LANDMARKS[i]![0] * sx, LFW_MEAN_LANDMARKS[i]![1] * sy];
  return [p(0), p(1), p(2), p(3), p(4)];
}

export const NO_FACE_POLICY = 'aligned with the mean LFW landmarks (fixed centre crop) and kept in the protocol';

/** The clean LFW image set: each image as the engine sees it, most central face, mean-landmark fallback. */
export function lfwSpec(lfwDir: string, cacheDir: string): CacheSpec {
  return { dir: cacheDir, variant: 'lfw', load: (p) => loadRgb(join(lfwDir, p)), pick: pickCentral, fallback: lfwFallback };
}

export interface LfwBenchOptions {
  readonly engine: FaceEngine;
  readonly lfwDir: string;
  readonly cacheDir: string;
  /** Detect size the engine was opened with (part of the cache key). */
  readonly detectSize: number;
  /** Score with flip TTA (embedding of crop + mirror). */
  readonly flip: boolean;
  /** Use only the first `folds` folds (quick runs); default all 10. */
  readonly folds?: number;
  /** Use only the first `limit` pairs of each fold, half same and half different (quick runs). */
  readonly limit?: number;
  readonly onProgress?: (p: FillProgress) => void;
}

export interface MsPerImage {
  readonly detect: number;
  readonly embed: number;
  readonly flip: number;
  /** detect + embed (+ flip when flip TTA is on): what one image costs the engine. */
  readonly total: number;
  /** How many images the timing is the mean of (those computed in the run that filled the cache). */
  readonly n: number;
}

export interface LfwResult {
  readonly bench: 'lfw';
  readonly profile: string;
  readonly flip: boolean;
  readonly detect_size: number;
  readonly folds: number;
  readonly pairs: number;
  readonly accuracy_mean: number;
  readonly accuracy_std: number;
  readonly fold_accuracies: number[];
  readonly threshold_mean: number;
  readonly auc: number;
  readonly tar_at_far_1e2: number;
  readonly tar_at_far_1e3: number;
  readonly images: number;
  readonly no_face: number;
  readonly no_face_policy: string;
  readonly ms_per_image: MsPerImage;
  readonly cache: { readonly file: string; readonly computed: number };
}

/** Picks the first `limit` pairs of a fold, half same-person and half different-person. */
export function limitFold(fold: readonly LfwPair[], limit: number | undefined): LfwPair[] {
  if (!limit || limit >= fold.length) return [...fold];
  const half = Math.max(1, Math.floor(limit / 2));
  return [...fold.filter((p) => p.same).slice(0, half), ...fold.filter((p) => !p.same).slice(0, half)];
}

export function msPerImage(faces: readonly BenchFace[], flip: boolean): MsPerImage {
  const timed = faces.filter((f) => f.ms.detect > 0);
  const m = (k: 'detect' | 'embed' | 'flip'): number => meanStd(timed.map((f) => f.ms[k])).mean;
  const r = (v: number): number => Math.round(v * 10) / 10;
  return { detect: r(m('detect')), embed: r(m('embed')), flip: r(m('flip')), total: r(m('detect') + m('embed') + (flip ? m('flip') : 0)), n: timed.length };
}

/** LFW View 2, 10-fold, as the face engine runs; embeddings cached per profile. */
export async function benchLfw(o: LfwBenchOptions): Promise<LfwResult> {
  const allFolds = await readPairs(o.lfwDir);
  const folds = allFolds.slice(0, o.folds ?? allFolds.length).map((f) => limitFold(f, o.limit));
  const paths = [...new Set(folds.flatMap((f) => f.flatMap((p) => [p.a, p.b])))];
  const { faces, file, computed } = await benchFaces(o.engine, o.detectSize, lfwSpec(o.lfwDir, o.cacheDir), paths, o.onProgress);
  const emb = (p: string): Float32Array => faceEmbedding(faces.get(p)!, o.flip);
  const scored: ScoredPair[][] = folds.map((f) => f.map((p) => ({ score: cosine(emb(p.a), emb(p.b)), same: p.same })));
  const cv = crossValidatedAccuracy(scored);
  const all = scored.flat();
  const pos = all.filter((p) => p.same).map((p) => p.score);
  const neg = all.filter((p) => !p.same).map((p) => p.score);
  const used = paths.map((p) => faces.get(p)!);
  const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;
  return {
    bench: 'lfw',
    profile: o.engine.profile.name,
    flip: o.flip,
    detect_size: o.detectSize,
    folds: folds.length,
    pairs: all.length,
    accuracy_mean: r4(cv.mean),
    accuracy_std: r4(cv.std),
    fold_accuracies: cv.accuracies.map(r4),
    threshold_mean: r4(meanStd(cv.thresholds).mean),
    auc: Math.round(rocAuc(pos, neg) * 1e5) / 1e5,
    tar_at_far_1e2: r4(tarAtFar(pos, neg, 1e-2).tar),
    tar_at_far_1e3: r4(tarAtFar(pos, neg, 1e-3).tar),
    images: used.length,
    no_face: used.filter((f) => !f.found).length,
    no_face_policy: NO_FACE_POLICY,
    ms_per_image: msPerImage(used, o.flip),
    cache: { file, computed },
  };
}
