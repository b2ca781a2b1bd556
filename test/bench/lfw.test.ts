import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchFaces, faceEmbedding, pickCentral } from '../../bench/face-cache.js';
import { benchLfw, lfwFallback, lfwSpec, limitFold } from '../../bench/lfw.js';
import { readPairs } from '../../bench/lfw-data.js';
import { cosine } from '../../src/inference/embedder.js';
import { FaceEngine, fuseFlip } from '../../src/inference/engine.js';
import { loadRgb } from '../../src/inference/image-io.js';
import { loadManifest } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { lfw, tempDir, testModelsDir } from '../helpers.js';

let engine: FaceEngine;
beforeAll(async () => {
  const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
  engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { detectSize: 320, flip: false });
});
afterAll(async () => engine?.close());

describe('bench lfw (a few pairs)', () => {
  it('runs the 10-fold protocol on a subset, then answers from the cache', async () => {
    const cacheDir = await tempDir();
    const o = { engine, lfwDir: lfw(), cacheDir, detectSize: 320, flip: false, folds: 2, limit: 8 };
    const r = await benchLfw(o);
    expect(r.folds).toBe(2);
    expect(r.pairs).toBe(16);
    expect(r.images).toBeGreaterThan(20);
    expect(r.cache.computed).toBe(r.images);
    // 16 easy pairs: the research profile gets (nearly) all of them.
    expect(r.accuracy_mean).toBeGreaterThanOrEqual(0.875);
    expect(r.auc).toBeGreaterThan(0.95);
    expect(r.ms_per_image.n).toBe(r.images);
    expect(r.ms_per_image.total).toBeGreaterThan(0);
    const again = await benchLfw({ ...o, flip: true });
    expect(again.cache.computed).toBe(0);
    expect(again.flip).toBe(true);
    expect(again.ms_per_image.total).toBeGreaterThan(r.ms_per_image.total);
  });

  it('keeps both the crop and the mirror embedding, fused exactly as the engine does', async () => {
    const path = 'Aaron_Eckhart/Aaron_Eckhart_0001.jpg';
    const { faces } = await benchFaces(engine, 320, lfwSpec(lfw(), await tempDir()), [path]);
    const f = faces.get(path)!;
    expect(f.found).toBe(true);
    const flipEngine = await FaceEngine.open(engine.profile, await filesOf(), { provider: 'cpu', threads: 1 }, { detectSize: 320, flip: true });
    try {
      const img = await loadRgb(lfw(path));
      const d = pickCentral(await flipEngine.detect(img), img)!;
      const [viaEngine] = await flipEngine.embed([flipEngine.align(img, d)]);
      expect(cosine(viaEngine!, faceEmbedding(f, true))).toBeGreaterThan(0.9999);
      expect(cosine(faceEmbedding(f, true), fuseFlip(f.emb, f.embFlip))).toBeGreaterThan(0.99999);
      expect(cosine(f.emb, f.embFlip)).toBeLessThan(0.999); // the mirror is a different view
    } finally {
      await flipEngine.close();
    }
  });

  it('aligns an image without a detectable face with the mean LFW landmarks', async () => {
    const img = { width: 250, height: 250, data: new Uint8Array(250 * 250 * 3).fill(128) };
    const dir = await tempDir();
    const spec = { ...lfwSpec(lfw(), dir), load: async () => img };
    const { faces } = await benchFaces(engine, 320, spec, ['blank.jpg']);
    const f = faces.get('blank.jpg')!;
    expect(f.found).toBe(false);
    expect(f.empty).toBe(false);
    expect(f.landmarks).toEqual(lfwFallback(img));
  });

  it('limits a fold to half same, half different pairs', async () => {
    const [fold] = await readPairs(lfw());
    const l = limitFold(fold!, 10);
    expect(l.filter((p) => p.same)).toHaveLength(5);
    expect(l.filter((p) => !p.same)).toHaveLength(5);
  });
});

async function filesOf(): Promise<Record<string, string>> {
  return (await requireProfile(loadManifest(), testModelsDir(), 'research')).files;
}
