import { describe, expect, it } from 'vitest';
import { decodeLandmark68, fivePointsFrom68, grayCrop } from '../../../../src/inference/detect/landmark68.js';
import { decodeUltraface, decodeUltrafacePriors, ultrafacePriors } from '../../../../src/inference/detect/ultraface.js';
import type { RgbImage } from '../../../../src/contracts/messages.js';

const N = 4420;

function synthetic(): { scores: Float32Array; boxes: Float32Array } {
  const scores = new Float32Array(N * 2);
  for (let k = 0; k < N; k++) {
    scores[2 * k] = 0.99;
    scores[2 * k + 1] = 0.01;
  }
  return { scores, boxes: new Float32Array(N * 4) };
}
const T = (n: number, data: Float32Array) => ({ dims: [1, N, n], data });

describe('ultrafacePriors', () => {
  const p = ultrafacePriors();
  it('has 4420 priors for 320x240 in per-step, row, column, min-size order', () => {
    expect(p.length).toBe(N * 4);
    // first: step 8, row 0, col 0, min size 10
    expect(Array.from(p.subarray(0, 4))).toEqual([4 / 320, 4 / 240, 10 / 320, 10 / 240].map(Math.fround));
    // third of the first cell: min size 24; then the cell to the right
    expect(p[2 * 4 + 2]).toBeCloseTo(24 / 320, 7);
    expect(p[3 * 4]).toBeCloseTo(12 / 320, 7);
    // step 32 starts at 3600 + 600 = 4200: row 2, col 3, min size 64 is 4200 + (2*10 + 3)*2
    const k = 4200 + 46;
    expect(Array.from(p.subarray(4 * k, 4 * k + 4)).map((v) => +v.toFixed(6))).toEqual([0.35, +(80 / 240).toFixed(6), 0.2, +(64 / 240).toFixed(6)]);
  });
  it('clamps priors to [0, 1] (the 256 px prior is taller than 240)', () => {
    expect(p[4 * (N - 1) + 3]).toBe(1);
    expect(p[4 * (N - 1) + 2]).toBeCloseTo(0.8, 6);
  });
});

describe('decodeUltraface (synthetic tensors)', () => {
  it('reads already-decoded corner boxes (what fr_detect.onnx emits) and scales them to the image', () => {
    const { scores, boxes } = synthetic();
    scores.set([0.1, 0.9], 2 * 1234);
    boxes.set([0.25, 0.1, 0.5, 0.6], 4 * 1234);
    const dets = decodeUltraface(T(2, scores), T(4, boxes), 640, 480, 0.7);
    expect(dets).toHaveLength(1);
    expect(dets[0]!.score).toBeCloseTo(0.9, 6);
    dets[0]!.box.forEach((v, i) => expect(v).toBeCloseTo([160, 48, 320, 288][i]!, 3));
    // stand-in landmarks sit inside the box until the landmark model runs
    for (const [x, y] of dets[0]!.landmarks) {
      expect(x).toBeGreaterThan(160);
      expect(x).toBeLessThan(320);
      expect(y).toBeGreaterThan(48);
      expect(y).toBeLessThan(288);
    }
  });

  it('decodes SSD offsets against the priors when boxes are encoded', () => {
    const { scores, boxes } = synthetic();
    const k = 4246; // prior (0.35, 1/3, 0.2, 64/240)
    scores.set([0.05, 0.95], 2 * k);
    boxes.set([0.5, -0.5, Math.log(1.5) / 0.2, 0], 4 * k);
    // cx = 0.35 + 0.5*0.1*0.2 = 0.36; cy = 1/3 - 0.5*0.1*(64/240) = 0.32; w = 0.2*1.5 = 0.3; h = 64/240
    const [d] = decodeUltraface(T(2, scores), T(4, boxes), 640, 480, 0.7, { boxesEncoded: true });
    const expected = [(0.36 - 0.15) * 640, (0.32 - 32 / 240) * 480, (0.36 + 0.15) * 640, (0.32 + 32 / 240) * 480];
    d!.box.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    const direct = decodeUltrafacePriors(boxes);
    expect(direct[4 * k]).toBeCloseTo(0.21, 6);
  });

  it('respects the threshold, clips to the image and suppresses overlaps', () => {
    const { scores, boxes } = synthetic();
    const put = (k: number, s: number, b: number[]) => {
      scores.set([1 - s, s], 2 * k);
      boxes.set(b, 4 * k);
    };
    put(10, 0.95, [0.1, 0.1, 0.3, 0.3]);
    put(11, 0.9, [0.11, 0.1, 0.31, 0.31]); // overlaps the first: suppressed
    put(500, 0.8, [-0.1, 0.5, 0.2, 1.2]); // partly outside: clipped
    put(900, 0.69, [0.6, 0.6, 0.8, 0.8]); // below 0.7
    const dets = decodeUltraface(T(2, scores), T(4, boxes), 100, 100, 0.7);
    expect(dets.map((d) => d.score)).toEqual([expect.closeTo(0.95, 6), expect.closeTo(0.8, 6)]);
    dets[1]!.box.forEach((v, i) => expect(v).toBeCloseTo([0, 50, 20, 100][i]!, 4));
    expect(decodeUltraface(T(2, scores), T(4, boxes), 100, 100, 0.6)).toHaveLength(3);
    expect(decodeUltraface(T(2, scores), T(4, boxes), 100, 100, 0.7, { nmsThreshold: 0.99 })).toHaveLength(3);
  });
});

describe('landmark68', () => {
  it('maps the normalised output onto the box', () => {
    const v = new Float32Array(136);
    for (let i = 0; i < 68; i++) v.set([i / 68, 1 - i / 68], 2 * i);
    const p = decodeLandmark68({ dims: [1, 136], data: v }, [100, 50, 200, 250]);
    expect(p[0]).toBeCloseTo(100, 5);
    expect(p[1]).toBeCloseTo(250, 5);
    expect(p[2 * 34]).toBeCloseTo(150, 4);
    expect(p[2 * 34 + 1]).toBeCloseTo(150, 4);
  });

  it('reduces 68 points to eye centres, nose tip and outer mouth corners', () => {
    const p = new Float32Array(136);
    for (let i = 0; i < 68; i++) p.set([i, 1000 + 2 * i], 2 * i);
    const [le, re, nose, lm, rm] = fivePointsFrom68(p);
    expect(le).toEqual([(37 + 38 + 40 + 41) / 4, 1000 + (37 + 38 + 40 + 41) / 2]);
    expect(re).toEqual([(43 + 44 + 46 + 47) / 4, 1000 + (43 + 44 + 46 + 47) / 2]);
    expect(nose).toEqual([30, 1060]);
    expect(lm).toEqual([48, 1096]);
    expect(rm).toEqual([54, 1108]);
  });

  it('crops the box to a 64x64 gray input, pixel / 256', () => {
    // left half red (255,0,0), right half white; box = the whole 128x64 image
    const w = 128, h = 64;
    const data = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(x < 64 ? [255, 0, 0] : [255, 255, 255], (y * w + x) * 3);
    const img: RgbImage = { width: w, height: h, data };
    const out = grayCrop(img, [0, 0, 128, 64], 64, 0, 256);
    expect(out.length).toBe(64 * 64);
    expect(out[10 * 64 + 5]).toBeCloseTo((0.299 * 255) / 256, 5);
    expect(out[10 * 64 + 60]).toBeCloseTo(255 / 256, 4);
    // a box on the right half only sees white
    const right = grayCrop(img, [64, 0, 128, 64], 64, 0, 256, out);
    expect(right).toBe(out);
    expect(Math.min(...right)).toBeCloseTo(255 / 256, 4);
  });
});
