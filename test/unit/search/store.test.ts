import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppearanceIndex, type Appearance } from '../../../src/search/store.js';
import { tempDir } from '../../helpers.js';

const DIM = 16;
/** A unit vector near axis `i` (plus a little of axis `j`). */
function vec(i: number, j = (i + 1) % DIM, w = 0.1): Float32Array {
  const v = new Float32Array(DIM);
  v[i] = 1;
  v[j] = w;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
const T0 = Date.UTC(2026, 0, 1);
const app = (camera: string, axis: number, t: number): Appearance => ({
  camera, track: `${camera}-${axis}-${t}`, firstAt: T0 + t * 1000, lastAt: T0 + t * 1000 + 500, firstMedia: t, lastMedia: t + 0.5, bestAt: T0 + t * 1000, bestMedia: t,
  box: [1, 2, 3, 4], faces: 3, score: 0.9, crop: new Uint8Array([0xff, 0xd8]), vectors: [vec(axis), vec(axis, (axis + 2) % DIM, 0.3)],
});
const rec = (sha: string, camera: string) => ({ sha256: sha, file: `/x/${sha}.mp4`, bytes: 1, camera, duration: 10, fps: 5, frames: 50, status: 'complete' });

describe('AppearanceIndex', () => {
  it('ranks appearances by their best vector, filters inside the search, and persists across opens', async () => {
    const dir = await tempDir();
    const idx = new AppearanceIndex(dir, 'm', DIM);
    const r1 = idx.addRecording(rec('a', 'door'), [app('door', 0, 1), app('door', 5, 2), app('door', 0, 8)]);
    const r2 = idx.addRecording(rec('b', 'yard'), [app('yard', 0, 3), app('yard', 9, 4)]);
    expect(idx.recording('a')?.id).toBe(r1);
    const q = vec(0);
    const all = idx.search(q, 10);
    expect(all.slice(0, 3).every((h) => h.similarity > 0.9)).toBe(true);
    expect(all[3]!.similarity).toBeLessThan(0.3);
    const det = idx.details(all.slice(0, 3).map((h) => h.appearance));
    expect([...det.values()].map((d) => d.camera).sort()).toEqual(['door', 'door', 'yard']);
    // filters: camera, recording, time
    expect(idx.search(q, 10, { cameras: ['yard'] }).map((h) => det.get(h.appearance)?.camera ?? 'other')).toEqual(['yard', 'other']);
    expect(idx.search(q, 10, { recordings: [r2] })).toHaveLength(2);
    const late = idx.search(q, 10, { since: T0 + 5000 });
    expect(late).toHaveLength(1);
    expect(idx.details([late[0]!.appearance]).get(late[0]!.appearance)?.firstMedia).toBe(8);
    idx.close();
    for (const f of ['index.sqlite', 'index.hnsw']) expect(statSync(join(idx.dir, f)).mode & 0o777).toBe(0o600);
    expect(statSync(idx.dir).mode & 0o777).toBe(0o700);

    const again = new AppearanceIndex(dir, 'm', DIM);
    expect(again.search(q, 10)).toEqual(all);
    again.close();
    // The graph is a cache: without it, it is rebuilt from SQLite, same answers.
    unlinkSync(join(idx.dir, 'index.hnsw'));
    const rebuilt = new AppearanceIndex(dir, 'm', DIM);
    expect(rebuilt.search(q, 10).map((h) => h.appearance)).toEqual(all.map((h) => h.appearance));
    expect(existsSync(join(idx.dir, 'index.hnsw'))).toBe(true);
    // retention: old appearances go, and searches skip them
    expect(rebuilt.purgeBefore(T0 + 5000)).toBe(4);
    expect(rebuilt.search(q, 10).map((h) => rebuilt.details([h.appearance]).get(h.appearance)?.firstMedia)).toEqual([8]);
    rebuilt.close();
  });

  it('refuses an index of another dimension, naming the file', async () => {
    const dir = await tempDir();
    new AppearanceIndex(dir, 'm', DIM).close();
    expect(() => new AppearanceIndex(dir, 'm', 32)).toThrow(/VIGIL_ERR_SEARCH_INDEX|16-d vectors/);
  });
});
