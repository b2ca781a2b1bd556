import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchIdent, galleryRecords, splitWatchlist } from '../../bench/ident.js';
import { listPeople } from '../../bench/lfw-data.js';
import { FaceEngine } from '../../src/inference/engine.js';
import { loadManifest } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { lfw, tempDir, testModelsDir } from '../helpers.js';

describe('watchlist split', () => {
  it('is seeded, keeps enrolled people out of the impostors, and gives every identity a probe', async () => {
    const people = await listPeople(lfw());
    const a = splitWatchlist(people, { identities: 50, seed: 3 });
    const b = splitWatchlist(people, { identities: 50, seed: 3 });
    const c = splitWatchlist(people, { identities: 50, seed: 4 });
    expect([...a.gallery.entries()]).toEqual([...b.gallery.entries()]);
    expect([...a.gallery.keys()]).not.toEqual([...c.gallery.keys()]);
    expect(a.gallery.size).toBe(50);
    const enrolled = new Set(a.gallery.keys());
    for (const p of a.impostors) expect(enrolled.has(p.split('/')[0]!)).toBe(false);
    for (const name of enrolled) expect(a.mated.some((m) => m.subject === name)).toBe(true);
    const galleryImgs = new Set([...a.gallery.values()].flat());
    for (const m of a.mated) expect(galleryImgs.has(m.path)).toBe(false);
    expect(a.impostors.length + a.mated.length + galleryImgs.size).toBe(13233);
  });

  it('skips gallery photos without a usable face and refuses more identities than LFW has', async () => {
    const people = await listPeople(lfw());
    const first = splitWatchlist(people, { identities: 5, seed: 1 });
    const [name, [img]] = [...first.gallery.entries()][0]!;
    const again = splitWatchlist(people, { identities: 5, seed: 1 }, (p) => p !== img);
    expect(again.gallery.get(name)).not.toContain(img);
    expect(() => splitWatchlist(people, { identities: 1681, seed: 1 })).toThrow(/only 1680 people/);
  });

  it('combines several photos as best-of (one vector each) or one mean vector', () => {
    const v = (x: number, y: number) => new Float32Array([x, y]);
    const emb: Record<string, Float32Array> = { a: v(1, 0), b: v(0, 1) };
    const g = new Map([['p', ['a', 'b']]]);
    expect(galleryRecords(g, (p) => emb[p]!, 'm', 'max')[0]!.embeddings).toHaveLength(2);
    const [mean] = galleryRecords(g, (p) => emb[p]!, 'm', 'mean')[0]!.embeddings;
    expect(mean!.vector[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(mean!.model).toBe('m');
  });
});

describe('bench ident (tiny run)', () => {
  let engine: FaceEngine;
  beforeAll(async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), 'permissive');
    engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { detectSize: 320, flip: false });
  });
  afterAll(async () => engine?.close());

  it('enrolls, searches the SubjectIndex and reports TPIR at FPIR with thresholds', async () => {
    const r = await benchIdent({ engine, lfwDir: lfw(), cacheDir: await tempDir(), detectSize: 320, flip: false, identities: 12, seed: 5, probesPerIdentity: 1, impostors: 40 });
    expect(r.identities).toBe(12);
    expect(r.probes).toBe(12);
    expect(r.impostors).toBe(40);
    expect(r.rank1).toBeGreaterThan(0.8);
    expect(r.threshold_at_fpir_1e3).toBeGreaterThanOrEqual(r.threshold_at_fpir_1e2);
    expect(r.tpir_at_fpir_1e2).toBeGreaterThanOrEqual(r.tpir_at_fpir_1e3);
    expect(r.calibration.map((p) => p.targetFpir)).toEqual([0.1, 0.03, 0.01, 0.003, 0.001]);
    for (const p of r.calibration) expect(p.fpir).toBeLessThanOrEqual(p.targetFpir);
    expect(r.search_ms_per_probe).toBeGreaterThan(0);
  });
});
