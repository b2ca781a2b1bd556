import { createHash } from 'node:crypto';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FaceEngine } from '../src/inference/engine.js';
import { loadRgbFromBuffer } from '../src/inference/image-io.js';
import { failedGate, QUALITY_GATES, type QualityGateName, type QualityLimits } from '../src/inference/quality.js';
import type { Point, RgbImage } from '../src/contracts/messages.js';
import type { Detection } from '../src/inference/types.js';
import { SubjectIndex } from '../src/matcher/index.js';
import { benchFaces, faceEmbedding, type BenchFace, type CacheSpec, type FacePicker, type FillProgress } from './face-cache.js';
import { galleryRecords, resolveSplit, searchProbes, type SearchOutcome } from './ident.js';
import { listPeople, mergeSamePerson } from './lfw-data.js';
import { LFW_MEAN_LANDMARKS, lfwSpec } from './lfw.js';
import { operatingPoint, rng } from './metrics.js';

/**
 * CCTV-like probes from LFW: each probe image is shrunk so its face has a CCTV-like size, blurred,
 * darkened, pasted into a 640x360 frame and JPEG-compressed, each by a seeded random amount. The
 * frame then goes through the engine at the profile's detect size, as a camera frame would.
 */
export interface DegradeParams {
  /** Target distance between the eyes, px (LFW's own is ~42). */
  readonly interEye: number;
  /** Gaussian blur sigma after shrinking, px (0: none). */
  readonly blur: number;
  /** Brightness multiplier (1: unchanged). */
  readonly brightness: number;
  /** JPEG quality of the frame. */
  readonly jpeg: number;
}

export const DEGRADE_VERSION = 1;
export const FRAME = { width: 640, height: 360 } as const;
const LFW_INTER_EYE = LFW_MEAN_LANDMARKS[1][0] - LFW_MEAN_LANDMARKS[0][0];
/** Middle of the mean LFW face (between the eyes and the mouth). */
const LFW_FACE_CENTRE: Point = [
  LFW_MEAN_LANDMARKS.reduce((a, p) => a + p[0], 0) / 5,
  LFW_MEAN_LANDMARKS.reduce((a, p) => a + p[1], 0) / 5,
];

function pathSeed(seed: number, path: string): number {
  return createHash('sha256').update(`${seed}\0${path}`).digest().readUInt32LE(0);
}

/**
 * The degradation of one probe, from the seed and its path alone. Face size is log-uniform over
 * 6..42 px between the eyes (the range a 1080p camera sees at ~3-20 m); half the probes are blurred
 * (sigma 0.5-2 px), half darkened (x0.15-0.6), all JPEG-compressed (quality 15-70).
 */
export function degradeParams(seed: number, path: string): DegradeParams {
  const r = rng(pathSeed(seed, path));
  const interEye = Math.exp(Math.log(6) + r() * (Math.log(42) - Math.log(6)));
  const blur = r() < 0.5 ? 0.5 + 1.5 * r() : 0;
  const brightness = r() < 0.5 ? 0.15 + 0.45 * r() : 1;
  const jpeg = 15 + Math.floor(r() * 56);
  return { interEye, blur, brightness, jpeg };
}

/** Where the degraded image's top-left corner lands in the frame, and its scale. */
export function placement(p: DegradeParams, srcW: number, srcH: number): { scale: number; w: number; h: number; left: number; top: number } {
  const scale = p.interEye / LFW_INTER_EYE;
  const w = Math.max(8, Math.round(srcW * scale));
  const h = Math.max(8, Math.round(srcH * scale));
  return { scale, w, h, left: Math.round((FRAME.width - w) / 2), top: Math.round((FRAME.height - h) / 2) };
}

/** The degraded CCTV-like frame for one LFW image. */
export async function degradedFrame(file: string, p: DegradeParams): Promise<RgbImage> {
  const meta = await sharp(file).metadata();
  const pl = placement(p, meta.width ?? 250, meta.height ?? 250);
  let img = sharp(file).removeAlpha().resize(pl.w, pl.h, { fit: 'fill' });
  if (p.blur >= 0.3) img = img.blur(p.blur);
  if (p.brightness < 1) img = img.linear(p.brightness, 0);
  const face = await img.raw().toBuffer();
  const bg = Math.round(110 * p.brightness);
  const jpeg = await sharp({ create: { width: FRAME.width, height: FRAME.height, channels: 3, background: { r: bg, g: bg, b: bg } } })
    .composite([{ input: face, raw: { width: pl.w, height: pl.h, channels: 3 }, left: pl.left, top: pl.top }])
    .jpeg({ quality: p.jpeg })
    .toBuffer();
  return loadRgbFromBuffer(jpeg, file);
}

/** The face the probe was pasted as: a detection whose box holds the pasted face's centre, nearest first. */
export function pickPasted(seed: number, path: (img: RgbImage) => string | undefined): FacePicker {
  return (dets, img) => {
    const name = path(img);
    if (!name) return undefined;
    const pl = placement(degradeParams(seed, name), 250, 250);
    const cx = pl.left + LFW_FACE_CENTRE[0] * pl.scale;
    const cy = pl.top + LFW_FACE_CENTRE[1] * pl.scale;
    let best: Detection | undefined;
    let bestD = Infinity;
    for (const d of dets) {
      if (cx < d.box[0] || cx > d.box[2] || cy < d.box[1] || cy > d.box[3]) continue;
      const dd = Math.hypot((d.box[0] + d.box[2]) / 2 - cx, (d.box[1] + d.box[3]) / 2 - cy);
      if (dd < bestD) {
        bestD = dd;
        best = d;
      }
    }
    return best;
  };
}

/** The degraded image set (no fallback: a face the detector misses is simply not seen, as on a camera). */
export function degradeSpec(lfwDir: string, cacheDir: string, seed: number): CacheSpec {
  const names = new WeakMap<RgbImage, string>();
  return {
    dir: cacheDir,
    variant: `lfw-degrade${DEGRADE_VERSION}-s${seed}`,
    load: async (p) => {
      const img = await degradedFrame(join(lfwDir, p), degradeParams(seed, p));
      names.set(img, p);
      return img;
    },
    pick: pickPasted(seed, (img) => names.get(img)),
  };
}

export interface GateOutcome {
  /** Which gates were on. */
  readonly gates: string;
  readonly faces_dropped: number;
  /** Alerts on never-enrolled people, plus alerts naming the wrong enrolled subject. */
  readonly false_alerts: number;
  readonly false_alerts_impostor: number;
  readonly false_alerts_wrong_subject: number;
  readonly true_alerts: number;
  /** True alerts of the ungated run that these gates dropped (good faces thrown away). */
  readonly true_alerts_lost: number;
  /** At the operating threshold: false alerts per impostor probe. */
  readonly fpir: number;
  readonly tpir: number;
  /** With the threshold re-chosen on these probes for FPIR 1%: what gating buys beyond a higher threshold. */
  readonly tpir_at_fpir_1e2: number;
}

export interface DegradeResult {
  readonly bench: 'degrade';
  readonly profile: string;
  readonly flip: boolean;
  readonly identities: number;
  readonly seed: number;
  readonly threshold: number;
  readonly limits: QualityLimits;
  readonly probes: number;
  readonly impostors: number;
  readonly no_face: { readonly probes: number; readonly impostors: number };
  readonly outcomes: GateOutcome[];
  /** The configured gates applied to the clean (undegraded) probes: the good faces they would drop. */
  readonly clean: { readonly probes: number; readonly dropped: number; readonly true_alerts: number; readonly true_alerts_lost: number };
}

/** Scores one gate setting: probes failing a gate are dropped before the search (no alert possible). */
export function gateOutcome(
  name: string,
  out: SearchOutcome,
  face: (path: string) => BenchFace,
  threshold: number,
  drop: (f: BenchFace) => boolean,
  baselineTrue: ReadonlySet<string>,
): GateOutcome {
  let dropped = 0;
  let trueAlerts = 0;
  let wrong = 0;
  let lost = 0;
  const mated = out.mated.map((m) => {
    const f = face(m.path);
    const gone = f.found && drop(f);
    if (gone) {
      dropped++;
      if (baselineTrue.has(m.path)) lost++;
      return { correct: false, score: -1 };
    }
    if (m.score >= threshold) {
      if (m.correct) trueAlerts++;
      else wrong++;
    }
    return m;
  });
  const imp = out.impostorTop.map((s, i) => {
    const f = face(out.impostorPaths[i]!);
    if (f.found && drop(f)) {
      dropped++;
      return -1;
    }
    return s;
  });
  const impAlerts = imp.filter((s) => s >= threshold).length;
  return {
    gates: name,
    faces_dropped: dropped,
    false_alerts: impAlerts + wrong,
    false_alerts_impostor: impAlerts,
    false_alerts_wrong_subject: wrong,
    true_alerts: trueAlerts,
    true_alerts_lost: lost,
    fpir: Math.round((impAlerts / Math.max(1, imp.length)) * 1e5) / 1e5,
    tpir: Math.round((trueAlerts / Math.max(1, mated.length)) * 1e4) / 1e4,
    tpir_at_fpir_1e2: Math.round(operatingPoint(mated, imp, 1e-2).tpir * 1e4) / 1e4,
  };
}

export interface DegradeOptions {
  readonly engine: FaceEngine;
  readonly lfwDir: string;
  readonly cacheDir: string;
  /** The engine's detect size (camera frames: the profile's). */
  readonly detectSize: number;
  /** Detect size the clean LFW cache was made with (for the clean comparison). */
  readonly cleanDetectSize: number;
  /** A second engine opened at cleanDetectSize, for the clean probes (may be `engine` when sizes match). */
  readonly cleanEngine: FaceEngine;
  readonly flip: boolean;
  readonly identities: number;
  readonly seed: number;
  readonly probesPerIdentity: number;
  readonly impostors: number;
  readonly threshold: number;
  readonly limits: QualityLimits;
  readonly onProgress?: (p: FillProgress) => void;
}

export async function benchDegrade(o: DegradeOptions): Promise<DegradeResult> {
  const { people } = mergeSamePerson(await listPeople(o.lfwDir));
  const clean = lfwSpec(o.lfwDir, o.cacheDir);
  // Gallery: clean enrollment photos (enrollment is done with good photos; the camera side degrades).
  const { split, faces: cleanFaces } = await resolveSplit(
    people,
    o,
    async (paths) => (await benchFaces(o.cleanEngine, o.cleanDetectSize, clean, paths, o.onProgress)).faces,
  );
  const cleanFace = (p: string): BenchFace => cleanFaces.get(p)!;
  const probePaths = [...split.mated.map((m) => m.path), ...split.impostors];
  const deg = await benchFaces(o.engine, o.detectSize, degradeSpec(o.lfwDir, o.cacheDir, o.seed), probePaths, o.onProgress);
  const degFace = (p: string): BenchFace => deg.faces.get(p)!;
  const records = galleryRecords(split.gallery, (p) => faceEmbedding(cleanFace(p), o.flip), o.engine.model, 'max');
  const index = SubjectIndex.build(o.engine.model, o.engine.embedder.size, records);

  const out = searchProbes(index, split, degFace, (p) => faceEmbedding(degFace(p), o.flip));
  const baselineTrue = new Set(out.mated.filter((m) => m.correct && m.score >= o.threshold).map((m) => m.path));
  const all = { ...o.limits, enabled: true };
  const only = (g: QualityGateName): QualityLimits => ({
    enabled: true,
    minInterEye: g === 'interEye' ? all.minInterEye : 0,
    minScore: g === 'score' ? all.minScore : 0,
    minSharpness: g === 'sharpness' ? all.minSharpness : 0,
    maxYaw: g === 'yaw' ? all.maxYaw : 90,
    maxPitch: g === 'pitch' ? all.maxPitch : 90,
  });
  const outcomes = [
    gateOutcome('none', out, degFace, o.threshold, () => false, baselineTrue),
    gateOutcome('all', out, degFace, o.threshold, (f) => failedGate(f.quality, all) !== undefined, baselineTrue),
    ...QUALITY_GATES.map((g) => gateOutcome(g, out, degFace, o.threshold, (f) => failedGate(f.quality, only(g)) !== undefined, baselineTrue)),
  ];

  // The same gates on the clean probes (LFW as is): how many good faces would they drop?
  const cleanOut = searchProbes(index, split, cleanFace, (p) => faceEmbedding(cleanFace(p), o.flip));
  const cleanTrue = new Set(cleanOut.mated.filter((m) => m.correct && m.score >= o.threshold).map((m) => m.path));
  const cleanGated = gateOutcome('all', cleanOut, cleanFace, o.threshold, (f) => failedGate(f.quality, all) !== undefined, cleanTrue);

  return {
    bench: 'degrade',
    profile: o.engine.profile.name,
    flip: o.flip,
    identities: split.gallery.size,
    seed: o.seed,
    threshold: o.threshold,
    limits: all,
    probes: split.mated.length,
    impostors: split.impostors.length,
    no_face: {
      probes: split.mated.filter((m) => !degFace(m.path).found).length,
      impostors: split.impostors.filter((p) => !degFace(p).found).length,
    },
    outcomes,
    clean: { probes: split.mated.length, dropped: cleanGated.faces_dropped, true_alerts: cleanTrue.size, true_alerts_lost: cleanGated.true_alerts_lost },
  };
}
