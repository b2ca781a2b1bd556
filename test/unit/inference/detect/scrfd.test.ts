import path from 'node:path';
import { faces, lfw, sharedDir } from '../../../helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from '../../../../src/inference/detect/index.js';
import { letterbox, letterboxGeometry } from '../../../../src/inference/detect/letterbox.js';
import { iou, nms } from '../../../../src/inference/detect/nms.js';
import { decodeScrfd, type TensorLike } from '../../../../src/inference/detect/scrfd.js';
import { loadRgb } from '../../../../src/inference/image-io.js';
import type { Detection, Detector } from '../../../../src/inference/types.js';
import { loadManifest, type DetectorModel } from '../../../../src/models/manifest.js';
import { expectFrontalLandmarks } from '../../../support/faces.js';

const t = (dims: number[], data: Float32Array): TensorLike => ({ dims, data });

/**
 * A 64x32 input: stride 8 -> 8x4 cells, 16 -> 4x2, 32 -> 2x1; 2 anchors per cell. Names are
 * deliberately meaningless and the order shuffled: the decoder must go by shape.
 */
function syntheticScrfd(batchDim: boolean): { outputs: Record<string, TensorLike>; set: (stride: number, k: number, score: number, dist: number[], kps: number[]) => void } {
  const rows: Record<number, number> = { 8: 64, 16: 16, 32: 4 };
  const buf: Record<string, Float32Array> = {};
  const outputs: Record<string, TensorLike> = {};
  let name = 900;
  for (const kind of [10, 1, 4]) {
    for (const s of [32, 8, 16]) {
      const data = new Float32Array(rows[s]! * kind);
      buf[`${s}/${kind}`] = data;
      outputs[String(name--)] = t(batchDim ? [1, rows[s]!, kind] : [rows[s]!, kind], data);
    }
  }
  return {
    outputs,
    set: (stride, k, score, dist, kps) => {
      buf[`${stride}/1`]![k] = score;
      buf[`${stride}/4`]!.set(dist, k * 4);
      buf[`${stride}/10`]!.set(kps, k * 10);
    },
  };
}

describe('decodeScrfd (synthetic tensors)', () => {
  it('decodes one anchor to the box and keypoints computed by hand', () => {
    for (const batchDim of [false, true]) {
      const { outputs, set } = syntheticScrfd(batchDim);
      // stride 16, row 1, col 2, anchor 1: k = (1*4 + 2)*2 + 1 = 13, anchor centre (32, 16)
      set(16, 13, 0.9, [1, 0.5, 1.5, 2], [-1, -0.5, 1, -0.5, 0, 0, -0.75, 1, 0.75, 1]);
      const dets = decodeScrfd(outputs, 64, 32, 0.5);
      expect(dets).toHaveLength(1);
      const d = dets[0]!;
      expect(d.score).toBeCloseTo(0.9, 6);
      expect(d.box).toEqual([32 - 16, 16 - 8, 32 + 24, 16 + 32]);
      expect(d.landmarks).toEqual([[16, 8], [48, 8], [32, 16], [20, 32], [44, 32]]);
    }
  });

  it('maps back to the image by dividing by the letterbox scale', () => {
    const { outputs, set } = syntheticScrfd(false);
    set(8, 0, 0.8, [0, 0, 1, 1], [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]); // centre (0, 0)
    const [d] = decodeScrfd(outputs, 64, 32, 0.5, { scaleX: 2, scaleY: 4 });
    expect(d!.box).toEqual([0, 0, 4, 2]);
    expect(d!.landmarks[0]).toEqual([2, 1]);
  });

  it('respects the score threshold and suppresses overlapping boxes', () => {
    const { outputs, set } = syntheticScrfd(false);
    const kps = new Array(10).fill(0);
    // two anchors of the same location (centre (24, 8) at stride 8): same box, scores 0.9 and 0.7
    set(8, 2 * (1 * 8 + 3), 0.9, [1, 1, 1, 1], kps);
    set(8, 2 * (1 * 8 + 3) + 1, 0.7, [1, 1, 1.2, 1], kps);
    // a separate face at stride 32 (centre (32, 0)), score 0.6; and one below threshold
    set(32, 2, 0.6, [0, 0, 0.5, 0.5], kps);
    set(16, 0, 0.49, [1, 1, 1, 1], kps);
    const dets = decodeScrfd(outputs, 64, 32, 0.5);
    expect(dets.map((d) => d.score)).toEqual([expect.closeTo(0.9, 6), expect.closeTo(0.6, 6)]);
    expect(decodeScrfd(outputs, 64, 32, 0.5, { nmsThreshold: 0.99 })).toHaveLength(3);
    expect(decodeScrfd(outputs, 64, 32, 0.95)).toHaveLength(0);
  });

  it('rejects outputs that do not fit the input size', () => {
    const { outputs } = syntheticScrfd(false);
    expect(() => decodeScrfd(outputs, 128, 128, 0.5)).toThrow(/scrfd/);
  });
});

describe('nms', () => {
  const det = (box: [number, number, number, number], score: number): Detection => ({ box, score, landmarks: [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]] });
  it('computes IoU', () => {
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(50 / 150, 12);
    expect(iou([0, 0, 10, 10], [10, 10, 20, 20])).toBe(0);
  });
  it('keeps the best of overlapping boxes, best first, and leaves the input alone', () => {
    const input = [det([0, 0, 10, 10], 0.5), det([1, 0, 11, 10], 0.9), det([50, 50, 60, 60], 0.7), det([0, 1, 10, 11], 0.6)];
    const kept = nms(input, 0.4);
    expect(kept.map((d) => d.score)).toEqual([0.9, 0.7]);
    expect(input.map((d) => d.score)).toEqual([0.5, 0.9, 0.7, 0.6]);
    expect(nms(input, 0.4, 1)).toHaveLength(1);
    expect(nms([], 0.4)).toEqual([]);
  });
});

describe('letterbox', () => {
  // 4x2 image: R = 10*x, G = 100 + y, B = 200
  const w = 4, h = 2;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([10 * x, 100 + y, 200], (y * w + x) * 3);
  const img = { width: w, height: h, data };

  it('pads bottom/right with black and normalises, RGB planes', async () => {
    const lb = await letterbox(img, { maxSide: 4, multiple: 8, colorOrder: 'RGB', mean: 127.5, std: 128 });
    expect([lb.inputWidth, lb.inputHeight, lb.resizedWidth, lb.resizedHeight, lb.scale]).toEqual([8, 8, 4, 2, 1]);
    const at = (c: number, x: number, y: number) => lb.data[c * 64 + y * 8 + x]!;
    expect(at(0, 3, 1)).toBeCloseTo((30 - 127.5) / 128, 6);
    expect(at(1, 3, 1)).toBeCloseTo((101 - 127.5) / 128, 6);
    expect(at(2, 0, 0)).toBeCloseTo((200 - 127.5) / 128, 6);
    expect(at(0, 4, 0)).toBeCloseTo(-127.5 / 128, 6); // right padding
    expect(at(2, 0, 2)).toBeCloseTo(-127.5 / 128, 6); // bottom padding
  });

  it('swaps to BGR planes and reuses the buffer', async () => {
    const a = await letterbox(img, { maxSide: 4, multiple: 4, colorOrder: 'BGR', mean: 0, std: 1 });
    expect(a.data[0]).toBe(200); // plane 0 = B
    expect(a.data[2 * 16 + 3]).toBe(30); // plane 2 = R, pixel (3, 0)
    const b = await letterbox(img, { maxSide: 4, multiple: 4, colorOrder: 'BGR', mean: 0, std: 1 }, a.data);
    expect(b.data).toBe(a.data);
  });

  it('resizes with sharp and reports the scale; fixed canvases keep the aspect', async () => {
    const lb = await letterbox(img, { maxSide: 8, colorOrder: 'RGB', mean: 0, std: 1 });
    expect([lb.resizedWidth, lb.resizedHeight, lb.inputWidth, lb.inputHeight, lb.scale]).toEqual([8, 4, 32, 32, 2]);
    expect(letterboxGeometry(640, 360, { maxSide: 640, colorOrder: 'RGB', mean: 0, std: 1 })).toEqual({ inputWidth: 640, inputHeight: 384, resizedWidth: 640, resizedHeight: 360 });
    expect(letterboxGeometry(1280, 720, { width: 640, height: 640, colorOrder: 'RGB', mean: 0, std: 1 })).toEqual({ inputWidth: 640, inputHeight: 640, resizedWidth: 640, resizedHeight: 360 });
    expect(letterboxGeometry(1280, 720, { width: 320, height: 240, stretch: true, colorOrder: 'RGB', mean: 0, std: 1 })).toEqual({ inputWidth: 320, inputHeight: 240, resizedWidth: 320, resizedHeight: 240 });
  });
});

// ---- real models ------------------------------------------------------------------------------

const manifest = loadManifest();
const LFW_SINGLE = ['Aaron_Eckhart', 'Colin_Powell', 'Serena_Williams'];
const GROUP = ['face_recognition', '_group', 'obama_and_biden.jpg'];
/** Centres of the faces in obama_and_biden.jpg (2000x1428): Biden, Obama, and the girl at the lower right. */
const GROUP_FACES: [number, number][] = [[850, 515], [1235, 482], [1705, 1128]];

/** The same expectations for any 5-point detector (yunet.test.ts repeats them for YuNet). */
function realDetectorSuite(modelId: string): void {
  describe(`${modelId} on real images`, () => {
    let det: Detector;
    beforeAll(async () => {
      const model = manifest.models[modelId] as DetectorModel;
      const file = path.join(sharedDir(), 'models', model.file);
      det = await createDetector(model, { detector: file }, { detectSize: 640, session: { provider: 'cpu', threads: 1 }, id: modelId });
    });
    afterAll(async () => det?.close());

    it.each(LFW_SINGLE)('finds exactly one central face on LFW %s with eyes above the nose above the mouth', async (name) => {
      const img = await loadRgb(lfw(name, `${name}_0001.jpg`));
      const dets = await det.detect(img);
      expect(dets).toHaveLength(1);
      const { box, score } = dets[0]!;
      expect(score).toBeGreaterThan(0.6);
      expect(Math.abs((box[0] + box[2]) / 2 - 125)).toBeLessThan(20);
      expect(Math.abs((box[1] + box[3]) / 2 - 125)).toBeLessThan(30);
      expect(box[2] - box[0]).toBeGreaterThan(60);
      expectFrontalLandmarks(dets[0]!);
    });

    it('finds Obama and Biden (and the girl at the lower right: 3 faces) on obama_and_biden.jpg', async () => {
      const img = await loadRgb(faces(...GROUP));
      const dets = await det.detect(img);
      expect(dets).toHaveLength(3);
      for (const [cx, cy] of GROUP_FACES) {
        const hit = dets.find((d) => d.box[0] < cx && cx < d.box[2] && d.box[1] < cy && cy < d.box[3]);
        expect(hit, `a face around (${cx}, ${cy})`).toBeDefined();
      }
      // best first
      for (let i = 1; i < dets.length; i++) expect(dets[i]!.score).toBeLessThanOrEqual(dets[i - 1]!.score);
    });
  });
}

realDetectorSuite('scrfd_2.5g_kps');
realDetectorSuite('scrfd_500m_kps');
