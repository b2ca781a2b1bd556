import type { DetectorModel } from '../../models/manifest.js';
import { openSession, ort, type SessionOptions } from '../onnx.js';
import type { Point, RgbImage } from '../../contracts/messages.js';
import type { Detection, Detector } from '../types.js';
import { letterbox, type LetterboxResult, type LetterboxSpec } from './letterbox.js';
import { nms } from './nms.js';

/** What the decoders need of an output tensor (an ort.Tensor fits). */
export interface TensorLike {
  readonly dims: readonly number[];
  readonly data: unknown;
}
export type TensorMap = Readonly<Record<string, TensorLike>>;

export interface DecodeOptions {
  /** IoU above which a lower-scored box is suppressed. */
  readonly nmsThreshold?: number;
  /** Canvas px per image px; coordinates are divided by these (default 1: canvas coordinates). */
  readonly scaleX?: number;
  readonly scaleY?: number;
  /** Keep at most this many faces after NMS. */
  readonly maxDetections?: number;
}

export const SCRFD_STRIDES = [8, 16, 32] as const;

export function floatData(t: TensorLike, what: string): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new Error(`${what}: expected a float32 tensor`);
  return t.data;
}

interface ScrfdLevel {
  stride: number;
  scores: Float32Array;
  boxes: Float32Array;
  kps: Float32Array | undefined;
}

/**
 * Assigns SCRFD's 9 (or 6, without keypoints) outputs to strides by shape: the last dimension says
 * what a tensor holds (1 = score, 4 = box distances, 10 = keypoint offsets) and the row count says
 * which stride (rows = ceil(H/s) * ceil(W/s) * anchors). Output names differ between SCRFD exports.
 */
function scrfdLevels(outputs: TensorMap, inputW: number, inputH: number): { levels: ScrfdLevel[]; anchors: number } {
  const byKind: Record<1 | 4 | 10, { rows: number; data: Float32Array }[]> = { 1: [], 4: [], 10: [] };
  for (const [name, t] of Object.entries(outputs)) {
    const last = t.dims[t.dims.length - 1];
    if (last !== 1 && last !== 4 && last !== 10) throw new Error(`scrfd: output ${name} has unexpected shape [${t.dims.join(',')}]`);
    const data = floatData(t, `scrfd output ${name}`);
    byKind[last].push({ rows: data.length / last, data });
  }
  const cells8 = Math.ceil(inputH / 8) * Math.ceil(inputW / 8);
  const first = byKind[1].reduce((m, e) => Math.max(m, e.rows), 0);
  const anchors = first / cells8;
  if (!Number.isInteger(anchors) || anchors < 1) {
    throw new Error(`scrfd: score outputs do not fit a ${inputW}x${inputH} input (largest has ${first} rows)`);
  }
  const levels: ScrfdLevel[] = [];
  for (const stride of SCRFD_STRIDES) {
    const rows = Math.ceil(inputH / stride) * Math.ceil(inputW / stride) * anchors;
    const pick = (kind: 1 | 4 | 10): Float32Array | undefined => byKind[kind].find((e) => e.rows === rows)?.data;
    const scores = pick(1);
    const boxes = pick(4);
    if (!scores || !boxes) throw new Error(`scrfd: no score/box outputs with ${rows} rows for stride ${stride}`);
    levels.push({ stride, scores, boxes, kps: pick(10) });
  }
  return { levels, anchors };
}

/**
 * Decodes SCRFD's raw outputs for an inputW x inputH input. Anchor centres are (col*s, row*s), each
 * location repeated `anchors` (2) times; boxes are distances (left, top, right, bottom) from the centre
 * in units of the stride; keypoints are offsets from the centre in units of the stride. Scores are
 * already sigmoids. Returns faces with score >= scoreThreshold after NMS, best first, in image
 * coordinates (canvas / scale). A model without keypoint outputs gets the box-derived stand-in
 * landmarks of {@link boxLandmarks}.
 */
export function decodeScrfd(outputs: TensorMap, inputW: number, inputH: number, scoreThreshold: number, opts: DecodeOptions = {}): Detection[] {
  const { levels, anchors } = scrfdLevels(outputs, inputW, inputH);
  const sx = 1 / (opts.scaleX ?? 1);
  const sy = 1 / (opts.scaleY ?? 1);
  const cands: Detection[] = [];
  for (const { stride, scores, boxes, kps } of levels) {
    const fw = Math.ceil(inputW / stride);
    const n = scores.length;
    for (let k = 0; k < n; k++) {
      const score = scores[k]!;
      if (score < scoreThreshold) continue;
      const loc = (k / anchors) | 0;
      const cx = (loc % fw) * stride;
      const cy = ((loc / fw) | 0) * stride;
      const b = k * 4;
      const x1 = (cx - boxes[b]! * stride) * sx;
      const y1 = (cy - boxes[b + 1]! * stride) * sy;
      const x2 = (cx + boxes[b + 2]! * stride) * sx;
      const y2 = (cy + boxes[b + 3]! * stride) * sy;
      let landmarks: Detection['landmarks'];
      if (kps) {
        const q = k * 10;
        const pt = (i: number): Point => [(cx + kps[q + 2 * i]! * stride) * sx, (cy + kps[q + 2 * i + 1]! * stride) * sy];
        landmarks = [pt(0), pt(1), pt(2), pt(3), pt(4)];
      } else {
        landmarks = boxLandmarks(x1, y1, x2, y2);
      }
      cands.push({ box: [x1, y1, x2, y2], score, landmarks });
    }
  }
  return nms(cands, opts.nmsThreshold ?? 0.4, opts.maxDetections);
}

/** Where the ArcFace template puts the 5 points inside a face box (fallback when a model gives none). */
export function boxLandmarks(x1: number, y1: number, x2: number, y2: number): Detection['landmarks'] {
  const w = x2 - x1;
  const h = y2 - y1;
  const p = (u: number, v: number): Point => [x1 + (u / 112) * w, y1 + (v / 112) * h];
  return [p(38.2946, 51.6963), p(73.5318, 51.5014), p(56.0252, 71.7366), p(41.5493, 92.3655), p(70.7299, 92.2041)];
}

export interface ScrfdOptions {
  /** Longest side the frame is letterboxed to (dynamic models only; static ones use their input size). */
  readonly detectSize: number;
  readonly session?: SessionOptions;
  readonly scoreThreshold?: number;
  readonly nmsThreshold?: number;
  readonly maxDetections?: number;
  /**
   * Dynamic models: 'aspect' (default) pads the resized frame only up to the next multiple of 32
   * (640x360 -> 640x384), 'square' pads to detectSize x detectSize like InsightFace's reference code.
   * Same faces, scores within ~0.01; 'aspect' is ~40% less work on 16:9 frames.
   */
  readonly canvas?: 'aspect' | 'square';
}

/** Letterbox spec for a detector model under the given options. */
export function detectorLetterboxSpec(model: DetectorModel, detectSize: number, canvas: 'aspect' | 'square' = 'aspect'): LetterboxSpec {
  const base = { colorOrder: model.colorOrder, mean: model.mean, std: model.std };
  if (!model.input.dynamic) return { ...base, width: model.input.width, height: model.input.height };
  if (canvas === 'square') return { ...base, width: detectSize, height: detectSize };
  return { ...base, maxSide: detectSize, multiple: 32 };
}

/** Holds a detector's reusable input buffer; a concurrent call that finds it taken allocates its own. */
export class InputBuffer {
  private buf: Float32Array | undefined;
  take(): Float32Array | undefined {
    const b = this.buf;
    this.buf = undefined;
    return b;
  }
  give(b: Float32Array): void {
    this.buf = b;
  }

  /** Letterboxes `img` into the buffer and runs the session's one input on it; `read` takes the outputs before the buffer is given back. */
  async run<T>(session: ort.InferenceSession, spec: LetterboxSpec, img: RgbImage, read: (out: ort.InferenceSession.ReturnType, lb: LetterboxResult) => T): Promise<T> {
    const held = this.take();
    const lb = await letterbox(img, spec, held);
    try {
      const tensor = new ort.Tensor('float32', lb.data, [1, 3, lb.inputHeight, lb.inputWidth]);
      return read(await session.run({ [session.inputNames[0]!]: tensor }), lb);
    } finally {
      // Keep the larger of the two: a view of `held` gives `held` back whole.
      this.give(held && held.length >= lb.data.length ? held : lb.data);
    }
  }
}

/** A decoder of one detector family: raw outputs for an inputW x inputH canvas -> faces in image pixels. */
export type DetectionDecoder = (outputs: TensorMap, inputW: number, inputH: number, scoreThreshold: number, opts: DecodeOptions) => Detection[];

/**
 * A single-input detector whose frame is letterboxed onto its canvas (SCRFD, YuNet): one session, one
 * reusable input buffer, and the family's decoder. The families differ only in decoder and NMS default.
 */
export class LetterboxDetector implements Detector {
  private readonly input = new InputBuffer();
  private readonly spec: LetterboxSpec;

  constructor(
    readonly id: string,
    private readonly session: ort.InferenceSession,
    private readonly model: DetectorModel,
    private readonly opts: ScrfdOptions,
    private readonly decode: DetectionDecoder,
    private readonly defaultNms: number,
  ) {
    this.spec = detectorLetterboxSpec(model, opts.detectSize, opts.canvas);
  }

  detect(img: RgbImage, maxSide?: number): Promise<Detection[]> {
    const spec = maxSide === undefined || this.spec.maxSide === undefined ? this.spec : { ...this.spec, maxSide };
    return this.input.run(this.session, spec, img, (out, lb) =>
      this.decode(out, lb.inputWidth, lb.inputHeight, this.opts.scoreThreshold ?? this.model.scoreThreshold, {
        nmsThreshold: this.opts.nmsThreshold ?? this.defaultNms,
        scaleX: lb.scaleX,
        scaleY: lb.scaleY,
        maxDetections: this.opts.maxDetections,
      }),
    );
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** InsightFace SCRFD (2.5G/500M, with keypoints). */
export class ScrfdDetector extends LetterboxDetector {
  static async open(id: string, file: string, model: DetectorModel, opts: ScrfdOptions): Promise<ScrfdDetector> {
    return new ScrfdDetector(id, await openSession(file, opts.session), model, opts, decodeScrfd, 0.4);
  }
}
