import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blurBystanders } from '../../../src/audit/blur.js';
import { FaceEngine } from '../../../src/inference/engine.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { faces, testModelsDir } from '../../helpers.js';

let engine: FaceEngine;
beforeAll(async () => {
  const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
  engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
});
afterAll(() => engine?.close());

/** Mean absolute difference of two same-size images over a box. */
async function diff(a: Buffer, b: Buffer, box: readonly number[]): Promise<number> {
  const [x1, y1, x2, y2] = box.map(Math.round) as [number, number, number, number];
  const region = { left: x1, top: y1, width: x2 - x1, height: y2 - y1 };
  const [ra, rb] = await Promise.all([a, b].map((i) => sharp(i).extract(region).raw().toBuffer()));
  let s = 0;
  for (let i = 0; i < ra!.length; i++) s += Math.abs(ra![i]! - rb![i]!);
  return s / ra!.length;
}

describe('blurBystanders', () => {
  it('blurs every face but the one nearest the centre', async () => {
    // Obama and Biden side by side; cut so that Obama's face is at the centre
    const src = await readFile(faces('face_recognition', '_group', 'obama_and_biden.jpg'));
    const img = await sharp(src).jpeg().toBuffer();
    const meta = await sharp(img).metadata();
    const dets = await engine.detect({ width: meta.width!, height: meta.height!, data: new Uint8Array(await sharp(img).removeAlpha().raw().toBuffer()) });
    expect(dets.length).toBeGreaterThanOrEqual(2);
    const out = await blurBystanders(engine, img);
    const cx = meta.width! / 2;
    const cy = meta.height! / 2;
    const byDist = [...dets].sort((a, b) => Math.hypot((a.box[0] + a.box[2]) / 2 - cx, (a.box[1] + a.box[3]) / 2 - cy) - Math.hypot((b.box[0] + b.box[2]) / 2 - cx, (b.box[1] + b.box[3]) / 2 - cy));
    const kept = await diff(img, out, byDist[0]!.box);
    const blurred = await diff(img, out, byDist[1]!.box);
    expect(kept).toBeLessThan(4); // JPEG re-encoding only
    expect(blurred).toBeGreaterThan(3 * kept + 4);
    // a crop with no other face comes back as it was
    const plain = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#888' } }).jpeg().toBuffer();
    expect(await blurBystanders(engine, plain)).toBe(plain);
  });
});
