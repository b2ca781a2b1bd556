import path from 'node:path';
import { faces, lfw, sharedDir } from '../../../helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDetector } from '../../../../src/inference/detect/index.js';
import type { TensorLike } from '../../../../src/inference/detect/scrfd.js';
import { decodeYunet } from '../../../../src/inference/detect/yunet.js';
import { loadRgb } from '../../../../src/inference/image-io.js';
import type { Detector } from '../../../../src/inference/types.js';
import { loadManifest, type DetectorModel } from '../../../../src/models/manifest.js';
import { expectFrontalLandmarks } from '../../../support/faces.js';

/** A 64x32 input: stride 8 -> 8x4 = 32 cells, 16 -> 4x2 = 8, 32 -> 2x1 = 2; one prior per cell. */
function syntheticYunet(): { outputs: Record<string, TensorLike>; set: (s: number, k: number, cls: number, obj: number, bbox: number[], kps: number[]) => void } {
  const rows: Record<number, number> = { 8: 32, 16: 8, 32: 2 };
  const outputs: Record<string, TensorLike> = {};
  const buf: Record<string, Float32Array> = {};
  for (const s of [8, 16, 32]) {
    for (const [kind, c] of [['cls', 1], ['obj', 1], ['bbox', 4], ['kps', 10]] as const) {
      const data = new Float32Array(rows[s]! * c);
      buf[`${kind}_${s}`] = data;
      outputs[`${kind}_${s}`] = { dims: [1, rows[s]!, c], data };
    }
  }
  return {
    outputs,
    set: (s, k, cls, obj, bbox, kps) => {
      buf[`cls_${s}`]![k] = cls;
      buf[`obj_${s}`]![k] = obj;
      buf[`bbox_${s}`]!.set(bbox, k * 4);
      buf[`kps_${s}`]!.set(kps, k * 10);
    },
  };
}

describe('decodeYunet (synthetic tensors)', () => {
  it('decodes one cell to the box and keypoints computed by hand', () => {
    const { outputs, set } = syntheticYunet();
    // stride 8, row 2, col 3: k = 2*8 + 3 = 19, cell origin (24, 16)
    set(8, 19, 0.81, 1, [0.5, 0.5, Math.log(2), 0], [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1]);
    const dets = decodeYunet(outputs, 64, 32, 0.6);
    expect(dets).toHaveLength(1);
    const d = dets[0]!;
    expect(d.score).toBeCloseTo(0.9, 6); // sqrt(0.81 * 1)
    // centre ((3 + 0.5)*8, (2 + 0.5)*8) = (28, 20), size (2*8, 1*8)
    d.box.forEach((v, i) => expect(v).toBeCloseTo([20, 16, 36, 24][i]!, 5));
    expect(d.landmarks).toEqual([[24, 16], [32, 16], [28, 20], [24, 24], [32, 24]]);
  });

  it('scales back to the image, respects the threshold, suppresses overlaps', () => {
    const { outputs, set } = syntheticYunet();
    const kps = new Array(10).fill(0);
    set(16, 5, 0.9, 0.9, [0.5, 0.5, 0, 0], kps); // row 1, col 1: box (16,16)-(32,32), score 0.9
    set(8, 2 * 8 + 2, 0.8, 0.8, [0, 0, Math.log(2), Math.log(2)], kps); // centre (16,16), 16x16: (8,8)-(24,24), IoU 1/7 with the first
    set(8, 2 * 8 + 3, 0.7, 0.7, [0, 0, Math.log(2), Math.log(2)], kps); // (16,8)-(32,24): IoU 1/3 with the first, suppressed at 0.3
    set(32, 0, 0.5, 0.5, [0.5, 0.5, 0, 0], kps); // score 0.5 < 0.6
    const dets = decodeYunet(outputs, 64, 32, 0.6, { scaleX: 2, scaleY: 2 });
    expect(dets.map((d) => d.score)).toEqual([expect.closeTo(0.9, 6), expect.closeTo(0.8, 6)]);
    dets[0]!.box.forEach((v, i) => expect(v).toBeCloseTo([8, 8, 16, 16][i]!, 5));
    expect(decodeYunet(outputs, 64, 32, 0.6, { nmsThreshold: 0.5 })).toHaveLength(3);
    expect(decodeYunet(outputs, 64, 32, 0.45)).toHaveLength(3);
    expect(decodeYunet(outputs, 64, 32, 0.45, { nmsThreshold: 1 })).toHaveLength(4);
  });

  it('rejects outputs that do not fit the input size', () => {
    const { outputs } = syntheticYunet();
    expect(() => decodeYunet(outputs, 128, 32, 0.5)).toThrow(/yunet/);
  });
});

// ---- real model (same expectations as the SCRFD suite) ----------------------------------------

const LFW_SINGLE = ['Aaron_Eckhart', 'Colin_Powell', 'Serena_Williams'];
/** Centres of the faces in obama_and_biden.jpg (2000x1428): Biden, Obama, and the girl at the lower right. */
const GROUP_FACES: [number, number][] = [[850, 515], [1235, 482], [1705, 1128]];

describe('yunet_n on real images', () => {
  let det: Detector;
  beforeAll(async () => {
    const model = loadManifest().models['yunet_n'] as DetectorModel;
    const file = path.join(sharedDir(), 'models', model.file);
    det = await createDetector(model, { detector: file }, { detectSize: 640, session: { provider: 'cpu', threads: 1 }, id: 'yunet_n' });
  });
  afterAll(async () => det?.close());

  it('reports its id', () => expect(det.id).toBe('yunet_n'));

  it.each(LFW_SINGLE)('finds exactly one central face on LFW %s with eyes above the nose above the mouth', async (name) => {
    const img = await loadRgb(lfw(name, `${name}_0001.jpg`));
    const dets = await det.detect(img);
    expect(dets).toHaveLength(1);
    const { box, score } = dets[0]!;
    expect(score).toBeGreaterThan(0.8);
    expect(Math.abs((box[0] + box[2]) / 2 - 125)).toBeLessThan(20);
    expect(Math.abs((box[1] + box[3]) / 2 - 125)).toBeLessThan(30);
    expectFrontalLandmarks(dets[0]!);
  });

  it('finds Obama and Biden (and the girl at the lower right: 3 faces) on obama_and_biden.jpg', async () => {
    const img = await loadRgb(faces('face_recognition', '_group', 'obama_and_biden.jpg'));
    const dets = await det.detect(img);
    expect(dets).toHaveLength(3);
    for (const [cx, cy] of GROUP_FACES) {
      expect(dets.some((d) => d.box[0] < cx && cx < d.box[2] && d.box[1] < cy && cy < d.box[3]), `a face around (${cx}, ${cy})`).toBe(true);
    }
  });

  it('gives lower scores when fed RGB instead of BGR (the model wants BGR)', async () => {
    const model = loadManifest().models['yunet_n'] as DetectorModel;
    const rgb = await createDetector({ ...model, colorOrder: 'RGB' }, { detector: path.join(sharedDir(), 'models', model.file) }, { detectSize: 640, session: { provider: 'cpu', threads: 1 } });
    try {
      let bgrSum = 0;
      let rgbSum = 0;
      for (const name of LFW_SINGLE) {
        const img = await loadRgb(lfw(name, `${name}_0001.jpg`));
        bgrSum += (await det.detect(img))[0]?.score ?? 0;
        rgbSum += (await rgb.detect(img))[0]?.score ?? 0;
      }
      expect(bgrSum).toBeGreaterThan(rgbSum);
    } finally {
      await rgb.close();
    }
  });
});
