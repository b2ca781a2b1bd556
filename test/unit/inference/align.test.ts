import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lfw, repoRoot, sharedDir } from '../../helpers.js';
import { alignFace, ARCFACE_TEMPLATE, estimateSimilarity, invertAffine, transformPoint, warpAffine, type Affine } from '../../../src/inference/align.js';
import { createDetector } from '../../../src/inference/detect/index.js';
import { cropRgb, encodeJpeg, loadRgb } from '../../../src/inference/image-io.js';
import type { Point, RgbImage } from '../../../src/contracts/messages.js';
import { loadManifest, type DetectorModel } from '../../../src/models/manifest.js';


function similarity(scale: number, angleDeg: number, tx: number, ty: number): Affine {
  const r = (angleDeg * Math.PI) / 180;
  const a = scale * Math.cos(r);
  const b = scale * Math.sin(r);
  return [a, -b, tx, b, a, ty];
}

describe('estimateSimilarity', () => {
  it('maps the template onto itself with the identity', () => {
    const m = estimateSimilarity(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE);
    [1, 0, 0, 0, 1, 0].forEach((v, i) => expect(m[i]).toBeCloseTo(v, 10));
  });

  it('recovers a known rotation + scale + translation exactly', () => {
    for (const [s, deg, tx, ty] of [[2.5, 17, 300, -40], [0.4, -75, 12.5, 800], [1, 180, 0, 0]] as const) {
      const truth = similarity(s, deg, tx, ty);
      const src = ARCFACE_TEMPLATE.map((p) => transformPoint(invertAffine(truth), p));
      // src -> template must be `truth`
      const m = estimateSimilarity(src, ARCFACE_TEMPLATE);
      truth.forEach((v, i) => expect(m[i]).toBeCloseTo(v, 8));
    }
  });

  it('never reflects: a mirrored face gets a proper rotation (det > 0)', () => {
    const mirrored = ARCFACE_TEMPLATE.map(([x, y]) => [112 - x, y] as Point);
    const m = estimateSimilarity(mirrored, ARCFACE_TEMPLATE);
    expect(m[0] * m[4] - m[1] * m[3]).toBeGreaterThan(0);
    expect(m[0]).toBeCloseTo(m[4], 12);
    expect(m[1]).toBeCloseTo(-m[3], 12);
  });

  it('rejects degenerate input', () => {
    expect(() => estimateSimilarity([[1, 1], [1, 1]], [[0, 0], [1, 1]])).toThrow();
  });
});

describe('warpAffine', () => {
  // A linear gradient, R = x, G = y, B = (x + y) / 2: bilinear sampling of it is exact.
  const W = 200, H = 150;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data.set([x, y, (x + y) >> 1], (y * W + x) * 3);
  const img: RgbImage = { width: W, height: H, data };
  const px = (im: RgbImage, x: number, y: number) => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));

  it('is the identity for the identity matrix', () => {
    const out = warpAffine(img, [1, 0, 0, 0, 1, 0], W, H);
    expect(Buffer.from(out.data).equals(Buffer.from(data))).toBe(true);
  });

  it('samples the source through the inverse matrix, black outside', () => {
    const m = similarity(0.5, 30, 20, -10);
    const inv = invertAffine(m);
    const out = warpAffine(img, m, 112, 112);
    let checked = 0;
    for (const [u, v] of [[60, 20], [80, 50], [100, 90], [70, 70], [90, 10]] as const) {
      const [sx, sy] = transformPoint(inv, [u, v]);
      if (sx < 0 || sy < 0 || sx > W - 1 || sy > H - 1) continue;
      const [r, g] = px(out, u, v);
      expect(Math.abs(r! - sx)).toBeLessThanOrEqual(0.51);
      expect(Math.abs(g! - sy)).toBeLessThanOrEqual(0.51);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(3);
    // (0, 111) maps far outside the source
    const [sx, sy] = transformPoint(inv, [0, 111]);
    expect(sx < -1 || sy < -1 || sx > W || sy > H).toBe(true);
    expect(px(out, 0, 111)).toEqual([0, 0, 0]);
  });

  it('reuses the output buffer and does a pure translation with integer shift exactly', () => {
    const buf = new Uint8Array(112 * 112 * 3);
    const out = warpAffine(img, [1, 0, -10, 0, 1, -20], 112, 112, buf);
    expect(out.data).toBe(buf);
    expect(px(out, 0, 0)).toEqual(px(img, 10, 20));
    expect(px(out, 111, 111)).toEqual(px(img, 121, 131));
  });
});

describe('alignFace on real landmarks', () => {
  it('puts SCRFD landmarks of LFW faces within ~3 px of the template (mean over the 5 points)', async () => {
    const model = loadManifest().models['scrfd_2.5g_kps'] as DetectorModel;
    const file = path.join(sharedDir(), 'models', model.file);
    const det = await createDetector(model, { detector: file }, { detectSize: 320, session: { provider: 'cpu', threads: 1 } });
    try {
      for (const name of ['Aaron_Eckhart', 'Colin_Powell', 'Serena_Williams']) {
        const img = await loadRgb(lfw(name, `${name}_0001.jpg`));
        const [face] = await det.detect(img);
        expect(face).toBeDefined();
        const m = estimateSimilarity(face!.landmarks, ARCFACE_TEMPLATE);
        // Faces differ from the template (nose length, smile), so a perfect fit is impossible: measured on
        // 63 LFW faces the worst point per face is ~5 px (median; nose tip), the mean ~2 px.
        const res = face!.landmarks.map((p, i) => {
          const [x, y] = transformPoint(m, p);
          return Math.hypot(x - ARCFACE_TEMPLATE[i]![0], y - ARCFACE_TEMPLATE[i]![1]);
        });
        expect(res.reduce((a, b) => a + b) / 5).toBeLessThan(3);
        expect(Math.max(...res)).toBeLessThan(6);
        const aligned = alignFace(img, face!.landmarks);
        expect([aligned.width, aligned.height, aligned.data.length]).toEqual([112, 112, 112 * 112 * 3]);
        // the aligned face must come from the face, not from black border: the centre is not black
        const c = (56 * 112 + 56) * 3;
        expect(aligned.data[c]! + aligned.data[c + 1]! + aligned.data[c + 2]!).toBeGreaterThan(60);
      }
    } finally {
      await det.close();
    }
  });
});

describe('image-io', () => {
  it('loads RGB, crops with a clipped margin, and encodes JPEG', async () => {
    const img = await loadRgb(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'));
    expect([img.width, img.height, img.data.length]).toEqual([250, 250, 250 * 250 * 3]);
    const crop = cropRgb(img, [100, 100, 150, 160], 0.5);
    expect([crop.width, crop.height]).toEqual([100, 120]);
    expect(Array.from(crop.data.subarray(0, 3))).toEqual(Array.from(img.data.subarray((70 * 250 + 75) * 3, (70 * 250 + 75) * 3 + 3)));
    const edge = cropRgb(img, [-20, 200, 40, 260], 0);
    expect([edge.width, edge.height]).toEqual([40, 50]);
    const jpg = await encodeJpeg(crop, 80);
    expect(jpg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('throws VIGIL_ERR_IMAGE_DECODE for a file that is not an image', async () => {
    await expect(loadRgb(path.join(repoRoot, 'package.json'))).rejects.toMatchObject({ code: 'VIGIL_ERR_IMAGE_DECODE' });
  });
});
