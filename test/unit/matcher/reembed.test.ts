import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { SubjectRecord } from '../../../src/contracts/messages.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { createLogger } from '../../../src/log.js';
import { FaceEngine } from '../../../src/inference/engine.js';
import { enroll, reembed } from '../../../src/matcher/enroll.js';
import { openIndex, SubjectIndex } from '../../../src/matcher/index.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { openRuntime } from '../../../src/runtime.js';
import { faces, tempDir, testModelsDir } from '../../helpers.js';

const log = createLogger('silent');

async function dataDir(): Promise<string> {
  const dir = await tempDir('vigil-reembed-');
  await mkdir(dir, { recursive: true });
  await symlink(testModelsDir(), join(dir, 'models'));
  return dir;
}

const cfgFor = (dir: string, profile: string) => parseConfig({ dataDir: dir, models: { profile } }, {});

describe('switching the model profile', () => {
  it('re-embeds the watchlist from the stored photos at start, and the index holds only the running model', async () => {
    const dir = await dataDir();
    const research = await openRuntime(cfgFor(dir, 'research'), log, { fetch: false });
    try {
      await enroll(research.engine, research.store, { name: 'Barack Obama', files: [faces('face_recognition', 'obama', 'obama.jpg'), faces('face_recognition', 'obama', 'obama2.jpg')] });
      await enroll(research.engine, research.store, { name: 'Joe Biden', files: [faces('face_recognition', 'biden', 'biden.jpg')] });
    } finally {
      await research.close();
    }

    // A target FPIR instead of a raw threshold: mapped through the profile's calibration table.
    const permissive = await openRuntime(parseConfig({ dataDir: dir, models: { profile: 'permissive' }, matcher: { targetFpir: 0.01 } }, {}), log, { fetch: false });
    const cal = loadManifest().profiles.permissive!.calibration!;
    expect(permissive.threshold).toBe(cal.points.find((p) => p.fpir === 0.01)!.threshold);
    try {
      const { engine, index, store } = permissive;
      expect(engine.model).toBe('mobilefacenet_128+flip');
      // Every stored photo now has an embedding of both models, kept apart by their model id.
      for (const s of store.list()) {
        const byModel = (m: string) => s.embeddings.filter((e) => e.model === m).map((e) => e.image).sort();
        expect(byModel('mobilefacenet_128+flip')).toEqual(s.images.map((i) => i.sha256).sort());
        expect(byModel('w600k_mbf_fp32+flip')).toEqual(s.images.map((i) => i.sha256).sort());
        for (const e of s.embeddings) expect(e.vector).toHaveLength(e.model.startsWith('mobilefacenet_128') ? 128 : 512);
      }
      expect(index.model).toBe('mobilefacenet_128+flip');
      expect(index.dim).toBe(128);
      expect(index.size).toBe(3); // three photos: the research vectors are not in it
      // A new photo of Obama, embedded by the running engine, finds him.
      const [face] = await engine.analyze(await loadRgb(faces('face_recognition', 'obama', 'obama.jpg')));
      expect(index.search(face!.embedding, 1)[0]!.subject.id).toBe('barack_obama');
    } finally {
      await permissive.close();
    }
    // The store on disk holds both models; nothing was lost.
    const reread = await new WatchlistStore(dir).load();
    expect([...reread.models()].sort()).toEqual(['mobilefacenet_128+flip', 'w600k_mbf_fp32+flip']);
  });
});

describe('flip test-time augmentation', () => {
  it('is part of the embedding model id, so turning it on or off re-embeds instead of mixing', async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), 'permissive');
    const plain = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { flip: false });
    const flip = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { flip: true });
    try {
      expect([plain.model, flip.model]).toEqual(['mobilefacenet_128', 'mobilefacenet_128+flip']);
      const store = await new WatchlistStore(await tempDir()).load();
      await enroll(plain, store, { name: 'Rose Leslie', files: [faces('face_recognition', 'rose_leslie', 'rose_leslie_img1.jpg')] });
      expect(await reembed(flip, store)).toEqual(['rose_leslie']);
      const s = store.get('rose_leslie')!;
      expect(s.embeddings.map((e) => e.model)).toEqual(['mobilefacenet_128', 'mobilefacenet_128+flip']);
      const [a, b] = s.embeddings.map((e) => e.vector);
      const sim = a!.reduce((acc, v, i) => acc + v * b![i]!, 0);
      expect(sim).toBeGreaterThan(0.8); // close, yet not the same function
      expect(sim).toBeLessThan(0.9999);
      expect(SubjectIndex.build(flip.model, 128, store.list()).size).toBe(1);
    } finally {
      await Promise.all([plain.close(), flip.close()]);
    }
  });
});

describe('SubjectIndex never mixes models', () => {
  const subject = (id: string, embs: [string, number][]): SubjectRecord => ({
    id,
    name: id,
    createdAt: '',
    updatedAt: '',
    images: embs.map((_, i) => ({ sha256: `${id}${i}`, name: `${id}${i}.jpg` })),
    embeddings: embs.map(([model, dim], i) => ({ model, image: `${id}${i}`, vector: Array.from({ length: dim }, (_, k) => (k === i ? 1 : 0)) })),
  });

  it('indexes only its own model\'s vectors of a subject enrolled with two models', () => {
    const s = subject('a', [['m1', 4], ['m2', 8], ['m1', 4]]);
    const idx = SubjectIndex.build('m1', 4, [s, subject('b', [['m2', 8]])]);
    expect(idx.size).toBe(2);
    expect(idx.subjects).toBe(1);
    idx.upsert(subject('b', [['m2', 8]]));
    expect(idx.subjects).toBe(1);
  });

  it('does not reuse an index persisted for another model', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await store.upsert(subject('a', [['m1', 4], ['m2', 4]]));
    const m1 = (await openIndex(join(dir, 'index'), store, 'm1', 4)).index;
    expect(m1.model).toBe('m1');
    const m2 = (await openIndex(join(dir, 'index'), store, 'm2', 4)).index;
    expect(m2.model).toBe('m2');
    expect(m2.size).toBe(1);
    expect(m2.search([1, 0, 0, 0], 1)[0]!.subject.id).toBe('a');
  });
});
