import type { Point, RgbImage } from '../contracts/messages.js';
import type { Detection } from './types.js';

/**
 * Face quality, measured before a face is embedded or matched. Every measure comes from what the
 * engine already has (the detection and the 112x112 aligned crop), so gating costs ~0.1 ms a face.
 */
export interface FaceQuality {
  /** Distance between the two eye landmarks, source-image px (how many pixels the face really has). */
  readonly interEye: number;
  /** Detector confidence, 0..1 (scales differ between detectors). */
  readonly score: number;
  /** Variance of the 3x3 Laplacian of the aligned crop's luma over the inner face: low = blurred or upscaled. */
  readonly sharpness: number;
  /** Approximate head yaw from the 5 landmarks, degrees (0 = frontal; sign: nose towards image right). */
  readonly yaw: number;
  /** Approximate head pitch, degrees (0 = level; positive = nose low, head bowed). */
  readonly pitch: number;
}

export type QualityGateName = 'interEye' | 'score' | 'sharpness' | 'yaw' | 'pitch';
export const QUALITY_GATES: readonly QualityGateName[] = ['interEye', 'score', 'sharpness', 'yaw', 'pitch'];

/** Limits a face must meet (config section `quality`). A limit of 0 (or 90 degrees) disables that gate. */
export interface QualityLimits {
  readonly enabled: boolean;
  readonly minInterEye: number;
  readonly minScore: number;
  readonly minSharpness: number;
  readonly maxYaw: number;
  readonly maxPitch: number;
}

/** The limits from config section `quality` (same fields; copied so the engine does not depend on the config module). */
export function qualityLimits(c: QualityLimits): QualityLimits {
  return { enabled: c.enabled, minInterEye: c.minInterEye, minScore: c.minScore, minSharpness: c.minSharpness, maxYaw: c.maxYaw, maxPitch: c.maxPitch };
}

export const NO_GATES: QualityLimits = { enabled: false, minInterEye: 0, minScore: 0, minSharpness: 0, maxYaw: 90, maxPitch: 90 };

const dist = (a: Point, b: Point): number => Math.hypot(a[0] - b[0], a[1] - b[1]);

export function interEyeDistance(landmarks: Detection['landmarks']): number {
  return dist(landmarks[0], landmarks[1]);
}

/**
 * A frontal head seen through a generic 3D face model (the 6-point model common in head-pose
 * estimation: eye centres at height 170, mouth corners at -150, nose tip at 0 and ~130 in front of
 * the eye and mouth planes): the nose tip sits 0.53 of the way from the eye midpoint to the mouth
 * midpoint, and its depth is ~0.4 of that distance. A nose offset of `depth * sin(angle)` then reads
 * as `angle`. Rough constants: the angles are for gating, good to ~10 degrees. (On LFW the median
 * face reads pitch +2, yaw -2.)
 */
const NOSE_ALONG_FRONTAL = 0.53;
const NOSE_DEPTH = 0.4;

const asinDeg = (v: number): number => (Math.asin(Math.max(-1, Math.min(1, v))) * 180) / Math.PI;

/**
 * Yaw and pitch from 5 landmarks. The face's midline runs from the eye midpoint E to the mouth
 * midpoint M; turning the head moves the nose tip N, which stands in front of that plane, off the
 * midline (yaw) or along it (pitch). Offsets are taken relative to |EM|, which yaw barely shortens,
 * so a turned face is not mistaken for a small one.
 */
export function headPose(l: Detection['landmarks']): { yaw: number; pitch: number } {
  const e: Point = [(l[0][0] + l[1][0]) / 2, (l[0][1] + l[1][1]) / 2];
  const m: Point = [(l[3][0] + l[4][0]) / 2, (l[3][1] + l[4][1]) / 2];
  const ax = m[0] - e[0];
  const ay = m[1] - e[1];
  const len = Math.hypot(ax, ay);
  if (!(len > 1e-6)) return { yaw: 90, pitch: 90 };
  const nx = l[2][0] - e[0];
  const ny = l[2][1] - e[1];
  // Unit midline u = a/len; across = u x n (signed, image-right positive for an upright face); along = u . n.
  const across = (ay * nx - ax * ny) / len;
  const along = (ax * nx + ay * ny) / len;
  return {
    yaw: asinDeg(across / (NOSE_DEPTH * len)),
    pitch: asinDeg((along / len - NOSE_ALONG_FRONTAL) / NOSE_DEPTH),
  };
}

/**
 * Inner face region of the 112x112 aligned crop (brows to chin, cheek to cheek): the Laplacian is
 * measured here only, so background texture and the black fill of off-image areas do not count.
 */
const SHARP_X0 = 24, SHARP_X1 = 88, SHARP_Y0 = 36, SHARP_Y1 = 100;

/**
 * Variance of the 4-neighbour Laplacian of the luma over the crop's inner face region. An aligned
 * crop made from a small or out-of-focus face is upsampled/soft and scores low; a sharp face of
 * decent size scores in the hundreds.
 */
export function sharpness(aligned: RgbImage): number {
  const { width: w, height: h, data } = aligned;
  const x0 = Math.max(1, Math.round((SHARP_X0 * w) / 112));
  const x1 = Math.min(w - 1, Math.round((SHARP_X1 * w) / 112));
  const y0 = Math.max(1, Math.round((SHARP_Y0 * h) / 112));
  const y1 = Math.min(h - 1, Math.round((SHARP_Y1 * h) / 112));
  const luma = (x: number, y: number): number => {
    const p = 3 * (y * w + x);
    return 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
  };
  let s = 0;
  let s2 = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const v = luma(x - 1, y) + luma(x + 1, y) + luma(x, y - 1) + luma(x, y + 1) - 4 * luma(x, y);
      s += v;
      s2 += v * v;
      n++;
    }
  }
  if (n === 0) return 0;
  const mean = s / n;
  return s2 / n - mean * mean;
}

export function measureQuality(d: Detection, aligned: RgbImage): FaceQuality {
  return { interEye: interEyeDistance(d.landmarks), score: d.score, sharpness: sharpness(aligned), ...headPose(d.landmarks) };
}

/**
 * The first gate `q` fails, or undefined when it passes all (or gating is off). The geometric gates
 * (size, score, pose) need only the detection, so {@link failedDetectionGate} runs them before the
 * crop is even aligned; sharpness needs the crop.
 */
export function failedGate(q: FaceQuality, lim: QualityLimits): QualityGateName | undefined {
  if (!lim.enabled) return undefined;
  return failedGeometric(q.interEye, q.score, q.yaw, q.pitch, lim) ?? (q.sharpness < lim.minSharpness ? 'sharpness' : undefined);
}

export function failedDetectionGate(d: Detection, lim: QualityLimits): QualityGateName | undefined {
  if (!lim.enabled) return undefined;
  const { yaw, pitch } = headPose(d.landmarks);
  return failedGeometric(interEyeDistance(d.landmarks), d.score, yaw, pitch, lim);
}

function failedGeometric(interEye: number, score: number, yaw: number, pitch: number, lim: QualityLimits): QualityGateName | undefined {
  if (interEye < lim.minInterEye) return 'interEye';
  if (score < lim.minScore) return 'score';
  if (Math.abs(yaw) > lim.maxYaw) return 'yaw';
  if (Math.abs(pitch) > lim.maxPitch) return 'pitch';
  return undefined;
}

/** Faces dropped per gate (the counters the inference stage exposes). */
export type GateCounts = Record<QualityGateName, number>;
export const emptyGateCounts = (): GateCounts => ({ interEye: 0, score: 0, sharpness: 0, yaw: 0, pitch: 0 });

/**
 * What an enrollment photo should meet: stricter than the live gates, since a poor enrollment image
 * lowers every later match. Failing them is a warning, not a refusal (sometimes it is the only photo).
 */
export const ENROLL_LIMITS = { minInterEye: 40, minSharpness: 30, maxYaw: 35, maxPitch: 35 } as const;

export type EnrollIssue = 'small' | 'blurred' | 'profile' | 'pitched';

export function enrollmentIssues(q: FaceQuality): EnrollIssue[] {
  const out: EnrollIssue[] = [];
  if (q.interEye < ENROLL_LIMITS.minInterEye) out.push('small');
  if (q.sharpness < ENROLL_LIMITS.minSharpness) out.push('blurred');
  if (Math.abs(q.yaw) > ENROLL_LIMITS.maxYaw) out.push('profile');
  if (Math.abs(q.pitch) > ENROLL_LIMITS.maxPitch) out.push('pitched');
  return out;
}
