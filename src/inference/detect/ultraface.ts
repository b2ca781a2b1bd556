import type { DetectorModel, LandmarkModel } from '../../models/manifest.js';
import { openSession, ort, type SessionOptions } from '../onnx.js';
import type { Box, RgbImage } from '../../contracts/messages.js';
import type { Detection, Detector } from '../types.js';
import { Landmark68 } from './landmark68.js';
import type { LetterboxSpec } from './letterbox.js';
import { nms } from './nms.js';
import { boxLandmarks, floatData, InputBuffer, type TensorLike } from './scrfd.js';

/**
 * The faceplugin detector (fr_detect.onnx, Ultra-Light-Fast-Generic-Face-Detector RFB-320 style):
 * input [1,3,240,320], a plain (aspect-ignoring) resize of the frame to 320x240, RGB, (x-127)/128;
 * outputs `scores` [1,4420,2] (softmax, column 1 = face) and `boxes` [1,4420,4].
 *
 * Evidence (Aaron_Eckhart_0001.jpg, obama_and_biden.jpg): `boxes` are ALREADY DECODED corners
 * (x1, y1, x2, y2) as fractions of the input: values span about -0.2..1.2, x1 < x2 and y1 < y2 on every
 * confident row, and the best rows read 0.34,0.25,0.66,0.81 for the LFW face that sits at
 * 82..168 x 64..195 of 250 px. The export thus includes the SSD prior decoding; {@link decodeUltrafacePriors}
 * implements that decoding for an export that leaves it out (`boxesEncoded: true`).
 */
export const ULTRAFACE_WIDTH = 320;
export const ULTRAFACE_HEIGHT = 240;
const STEPS = [8, 16, 32, 64] as const;
const MIN_SIZES: readonly (readonly number[])[] = [[10, 16, 24], [32, 48], [64, 96], [128, 192, 256]];
const CENTER_VARIANCE = 0.1;
const SIZE_VARIANCE = 0.2;

/**
 * SSD priors (cx, cy, w, h, fractions of the input) for a w x h input, in the order the network emits
 * them: per step, per row, per column, per min size. Clamped to [0, 1] as Ultra-Light's generate_priors does.
 */
export function ultrafacePriors(w = ULTRAFACE_WIDTH, h = ULTRAFACE_HEIGHT): Float32Array {
  let n = 0;
  for (let s = 0; s < STEPS.length; s++) n += Math.ceil(w / STEPS[s]!) * Math.ceil(h / STEPS[s]!) * MIN_SIZES[s]!.length;
  const out = new Float32Array(n * 4);
  let k = 0;
  for (let s = 0; s < STEPS.length; s++) {
    const step = STEPS[s]!;
    const fw = Math.ceil(w / step);
    const fh = Math.ceil(h / step);
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        for (const m of MIN_SIZES[s]!) {
          out[k++] = clamp01(((j + 0.5) * step) / w);
          out[k++] = clamp01(((i + 0.5) * step) / h);
          out[k++] = clamp01(m / w);
          out[k++] = clamp01(m / h);
        }
      }
    }
  }
  return out;
}

let defaultPriors: Float32Array | undefined;

/**
 * SSD box decoding against `priors` (variances 0.1, 0.2) into corner form, in place-free fashion:
 * cx = pcx + l0*0.1*pw, cy = pcy + l1*0.1*ph, w = pw*exp(l2*0.2), h = ph*exp(l3*0.2)
 * -> (cx - w/2, cy - h/2, cx + w/2, cy + h/2), fractions of the input.
 */
export function decodeUltrafacePriors(loc: Float32Array, priors: Float32Array = (defaultPriors ??= ultrafacePriors()), out = new Float32Array(loc.length)): Float32Array {
  if (loc.length !== priors.length) throw new Error(`ultraface: ${loc.length / 4} boxes but ${priors.length / 4} priors`);
  for (let b = 0; b < loc.length; b += 4) {
    const pw = priors[b + 2]!;
    const ph = priors[b + 3]!;
    const cx = priors[b]! + loc[b]! * CENTER_VARIANCE * pw;
    const cy = priors[b + 1]! + loc[b + 1]! * CENTER_VARIANCE * ph;
    const hw = (pw * Math.exp(loc[b + 2]! * SIZE_VARIANCE)) / 2;
    const hh = (ph * Math.exp(loc[b + 3]! * SIZE_VARIANCE)) / 2;
    out[b] = cx - hw;
    out[b + 1] = cy - hh;
    out[b + 2] = cx + hw;
    out[b + 3] = cy + hh;
  }
  return out;
}

export interface UltrafaceDecodeOptions {
  /** Default 0.4. */
  readonly nmsThreshold?: number;
  readonly maxDetections?: number;
  /** The `boxes` tensor holds SSD offsets, not corners (not the case for fr_detect.onnx). */
  readonly boxesEncoded?: boolean;
}

/**
 * Decodes fr_detect's outputs into face boxes in image pixels (imgW x imgH; corners are fractions of
 * the whole image because the input is a plain resize), clipped to the image. Landmarks are the
 * box-derived stand-ins of {@link boxLandmarks} until the landmark model replaces them.
 */
export function decodeUltraface(scores: TensorLike, boxes: TensorLike, imgW: number, imgH: number, scoreThreshold: number, opts: UltrafaceDecodeOptions = {}): Detection[] {
  const sc = floatData(scores, 'ultraface scores');
  let bx = floatData(boxes, 'ultraface boxes');
  const n = sc.length / 2;
  if (bx.length !== n * 4) throw new Error(`ultraface: ${n} scores but ${bx.length / 4} boxes`);
  if (opts.boxesEncoded) bx = decodeUltrafacePriors(bx);
  const cands: Detection[] = [];
  for (let k = 0; k < n; k++) {
    const score = sc[2 * k + 1]!;
    if (score < scoreThreshold) continue;
    const b = 4 * k;
    const x1 = clamp(bx[b]! * imgW, 0, imgW);
    const y1 = clamp(bx[b + 1]! * imgH, 0, imgH);
    const x2 = clamp(bx[b + 2]! * imgW, 0, imgW);
    const y2 = clamp(bx[b + 3]! * imgH, 0, imgH);
    if (x2 - x1 < 1 || y2 - y1 < 1) continue;
    cands.push({ box: [x1, y1, x2, y2], score, landmarks: boxLandmarks(x1, y1, x2, y2) });
  }
  return nms(cands, opts.nmsThreshold ?? 0.4, opts.maxDetections);
}

export interface UltrafaceOptions {
  readonly session?: SessionOptions;
  /** Default: the manifest's (0.7). */
  readonly scoreThreshold?: number;
  /** Default 0.4. */
  readonly nmsThreshold?: number;
  readonly maxDetections?: number;
}

/** faceplugin detector + 68-point landmark model -> 5-point detections. */
export class UltrafaceDetector implements Detector {
  private readonly input = new InputBuffer();
  private readonly spec: LetterboxSpec;

  constructor(
    readonly id: string,
    private readonly session: ort.InferenceSession,
    private readonly landmarks: Landmark68,
    private readonly model: DetectorModel,
    private readonly opts: UltrafaceOptions = {},
  ) {
    this.spec = {
      width: model.input.width,
      height: model.input.height,
      stretch: true,
      colorOrder: model.colorOrder,
      mean: model.mean,
      std: model.std,
    };
  }

  static async open(
    id: string,
    files: { detector: string; landmarks: string },
    model: DetectorModel,
    landmarkModel: Pick<LandmarkModel, 'mean' | 'std'> | undefined,
    opts: UltrafaceOptions = {},
  ): Promise<UltrafaceDetector> {
    const session = await openSession(files.detector, opts.session);
    try {
      const lm = await Landmark68.open(files.landmarks, landmarkModel, opts.session);
      return new UltrafaceDetector(id, session, lm, model, opts);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Boxes only (stand-in landmarks), without running the landmark model. */
  detectBoxes(img: RgbImage): Promise<Detection[]> {
    return this.input.run(this.session, this.spec, img, (out) => {
      const scores = out['scores'] ?? out[this.session.outputNames[0]!]!;
      const boxes = out['boxes'] ?? out[this.session.outputNames[1]!]!;
      return decodeUltraface(scores, boxes, img.width, img.height, this.opts.scoreThreshold ?? this.model.scoreThreshold, {
        nmsThreshold: this.opts.nmsThreshold ?? 0.4,
        maxDetections: this.opts.maxDetections,
      });
    });
  }

  async detect(img: RgbImage): Promise<Detection[]> {
    const boxes = await this.detectBoxes(img);
    const out: Detection[] = [];
    for (const d of boxes) {
      out.push({ box: d.box, score: d.score, landmarks: await this.landmarks.run(img, d.box as Box) });
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([this.session.release(), this.landmarks.close()]);
  }
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
