import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceEngine, faceSize } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { openIndex, SubjectIndex } from '../../../src/matcher/index.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { lfw, tempDir, testModelsDir } from '../../helpers.js';

/**
 * Learning from dismissals, on real faces (LFW, research profile). A watchlist of 40 people; 60
 * other people walk by twice (two different photos each). The threshold is set so that about 10%
 * of the passers-by raise a false alert the first time (a deliberately loose operating point, so
 * the effect shows on a small set). The operator dismisses each of those alerts: the face becomes a
 * negative example of the subject. The second time, the same look-alikes should mostly not
 * alert again, while the watchlist people (their other photo) alert as before.
 */
let engine: FaceEngine;
beforeAll(async () => {
  const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
  // LFW photos are 250 px: letterboxed to 320 as the LFW benchmarks do.
  engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { detectSize: 320 });
});
afterAll(async () => {
  await engine?.close();
});

async function embed(person: string, n: number): Promise<Float32Array | undefined> {
  const fs = await engine.analyze(await loadRgb(lfw(person, `${person}_${String(n).padStart(4, '0')}.jpg`)));
  return fs.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0]?.embedding;
}

describe('negative examples from dismissals', () => {
  it('stop repeat false alerts of the same look-alikes without losing true alerts', async () => {
    const root = lfw();
    const people = readdirSync(root).sort().filter((p) => readdirSync(join(root, p)).length >= 2);
    const pick = people.filter((_, i) => i % Math.floor(people.length / 100) === 0).slice(0, 100);
    const faces = new Map<string, [Float32Array, Float32Array]>();
    for (const p of pick) {
      const [a, b] = [await embed(p, 1), await embed(p, 2)];
      if (a && b) faces.set(p, [a, b]);
    }
    const names = [...faces.keys()];
    const gallery = names.slice(0, 40);
    const passers = names.slice(40);
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    for (const p of gallery) {
      await store.upsert({ id: p.toLowerCase(), name: p, createdAt: 't', updatedAt: 't', images: [{ sha256: p, name: `${p}_0001.jpg` }], embeddings: [{ model: engine.model, image: p, vector: Array.from(faces.get(p)![0]) }] });
    }
    const { index, seq } = await openIndex(join(dir, 'index'), store, engine.model, engine.embedder.size);
    const plain = SubjectIndex.fromStore(store, engine.model, engine.embedder.size).index; // never learns

    // The loose operating point: the 90th percentile of the passers' first-visit top similarity.
    const firstTop = passers.map((p) => index.search(faces.get(p)![0], 1)[0]!.similarity).sort((a, b) => a - b);
    const threshold = firstTop[Math.floor(firstTop.length * 0.9)]!;
    const alerts = (idx: SubjectIndex, v: Float32Array): string | undefined => {
      const top = idx.search(v, 1)[0];
      return top && top.similarity >= threshold ? top.subject.id : undefined;
    };

    // First visit: every false alert is dismissed by the operator.
    const dismissed: [string, string][] = [];
    for (const p of passers) {
      const hit = alerts(index, faces.get(p)![0]);
      if (hit) {
        dismissed.push([p, hit]);
        expect(store.addNegative(hit, engine.model, faces.get(p)![0], 'test')).toBe(true);
      }
    }
    expect(index.catchUp(store, seq).applied).toBe(new Set(dismissed.map(([, s]) => s)).size);

    // Second visit (another photo of each look-alike): repeat false alerts with and without learning.
    const repeats = (idx: SubjectIndex): number => dismissed.filter(([p, s]) => alerts(idx, faces.get(p)![1]) === s).length;
    const trueAlerts = (idx: SubjectIndex): number => gallery.filter((p) => alerts(idx, faces.get(p)![1]) === p.toLowerCase()).length;
    const before = { repeats: repeats(plain), trueAlerts: trueAlerts(plain) };
    const after = { repeats: repeats(index), trueAlerts: trueAlerts(index) };
    console.log(
      `threshold ${threshold.toFixed(3)}: ${dismissed.length} false alerts dismissed on the first visit; second visit: repeat false alerts ${before.repeats} -> ${after.repeats}, true alerts of ${gallery.length} watchlist people ${before.trueAlerts} -> ${after.trueAlerts}`,
    );
    expect(dismissed.length).toBeGreaterThanOrEqual(4);
    expect(before.repeats).toBeGreaterThanOrEqual(2); // the probe is real: look-alikes do come back
    expect(after.repeats).toBeLessThan(before.repeats);
    expect(after.trueAlerts).toBe(before.trueAlerts);
    store.close();
  }, 300_000);
});
