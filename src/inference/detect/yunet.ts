import type { DetectorModel } from '../../models/manifest.js';
import { openSession } from '../onnx.js';
import type { Point } from '../../contracts/messages.js';
import type { Detection } from '../types.js';
import { nms } from './nms.js';
import { floatData, LetterboxDetector, type DecodeOptions, type ScrfdOptions, type TensorMap } from './scrfd.js';

export const YUNET_STRIDES = [8, 16, 32] as const;

/**
 * Decodes YuNet's outputs for an inputW x inputH input (multiples of 32). Per stride s there are
 * (H/s)*(W/s) locations, one prior each, row-major, named cls_s, obj_s, bbox_s, kps_s:
 *   score = sqrt(cls * obj) (both already sigmoids);
 *   centre = ((col + bbox0) * s, (row + bbox1) * s), size = (exp(bbox2) * s, exp(bbox3) * s);
 *   keypoint i = ((col + kps[2i]) * s, (row + kps[2i+1]) * s).
 * (The same decoding as OpenCV's FaceDetectorYN.) Returns faces with score >= scoreThreshold after NMS,
 * best first, in image coordinates (canvas / scale).
 */
export function decodeYunet(outputs: TensorMap, inputW: number, inputH: number, scoreThreshold: number, opts: DecodeOptions = {}): Detection[] {
  const sx = 1 / (opts.scaleX ?? 1);
  const sy = 1 / (opts.scaleY ?? 1);
  const cands: Detection[] = [];
  for (const s of YUNET_STRIDES) {
    const get = (kind: string, width: number): Float32Array => {
      const t = outputs[`${kind}_${s}`];
      if (!t) throw new Error(`yunet: no output ${kind}_${s}`);
      const d = floatData(t, `yunet output ${kind}_${s}`);
      if (d.length !== rows * width) throw new Error(`yunet: ${kind}_${s} has ${d.length / width} rows, expected ${rows} for ${inputW}x${inputH}`);
      return d;
    };
    const fw = Math.ceil(inputW / s);
    const rows = fw * Math.ceil(inputH / s);
    const cls = get('cls', 1);
    const obj = get('obj', 1);
    const bbox = get('bbox', 4);
    const kps = get('kps', 10);
    // sqrt(cls*obj) >= t  <=>  cls*obj >= t^2: skip the sqrt for the ~all cells that fail.
    const t2 = scoreThreshold * scoreThreshold;
    for (let k = 0; k < rows; k++) {
      const c = clamp01(cls[k]!);
      const o = clamp01(obj[k]!);
      const p = c * o;
      if (p < t2) continue;
      const col = k % fw;
      const row = (k / fw) | 0;
      const b = k * 4;
      const cx = (col + bbox[b]!) * s;
      const cy = (row + bbox[b + 1]!) * s;
      const hw = (Math.exp(bbox[b + 2]!) * s) / 2;
      const hh = (Math.exp(bbox[b + 3]!) * s) / 2;
      const q = k * 10;
      const pt = (i: number): Point => [(col + kps[q + 2 * i]!) * s * sx, (row + kps[q + 2 * i + 1]!) * s * sy];
      cands.push({
        box: [(cx - hw) * sx, (cy - hh) * sy, (cx + hw) * sx, (cy + hh) * sy],
        score: Math.sqrt(p),
        landmarks: [pt(0), pt(1), pt(2), pt(3), pt(4)],
      });
    }
  }
  return nms(cands, opts.nmsThreshold ?? 0.3, opts.maxDetections);
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** The letterbox detectors' options; YuNet's NMS default is 0.3 (OpenCV FaceDetectorYN's). */
export type YunetOptions = ScrfdOptions;

/** YuNet-n (libfacedetection.train), input BGR 0..255; NMS 0.3 by default (OpenCV FaceDetectorYN's). */
export class YunetDetector extends LetterboxDetector {
  static async open(id: string, file: string, model: DetectorModel, opts: YunetOptions): Promise<YunetDetector> {
    return new YunetDetector(id, await openSession(file, opts.session), model, opts, decodeYunet, 0.3);
  }
}
