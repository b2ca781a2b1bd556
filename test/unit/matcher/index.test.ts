import { describe, expect, it } from 'vitest';
import type { SubjectRecord } from '../../../src/contracts/messages.js';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SubjectIndex, openIndex } from '../../../src/matcher/index.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { tempDir } from '../../helpers.js';

/** A unit vector along axis `i` tilted towards axis `j` by angle `a` (radians). */
function vec(dim: number, i: number, j = (i + 1) % dim, a = 0): number[] {
  const v = new Array<number>(dim).fill(0);
  v[i] = Math.cos(a);
  v[j]! += Math.sin(a);
  return v;
}

const subject = (id: string, vectors: number[][], model = 'm'): SubjectRecord => ({
  id, name: id.toUpperCase(), createdAt: '', updatedAt: '',
  images: vectors.map((_, k) => ({ sha256: `${id}${k}`, name: `${id}${k}.jpg` })),
  embeddings: vectors.map((vector, k) => ({ model, image: `${id}${k}`, vector })),
});

describe('SubjectIndex', () => {
  describe('#search', () => {
    it('ranks subjects by their best embedding and returns the top k with cosine similarities', () => {
      const idx = SubjectIndex.build('m', 8, [subject('a', [vec(8, 0), vec(8, 1)]), subject('b', [vec(8, 2)]), subject('c', [vec(8, 3)])]);
      const q = vec(8, 1, 2, 0.3); // close to a's second embedding, then b
      const r = idx.search(q, 2);
      expect(r.map((c) => c.subject.id)).toEqual(['a', 'b']);
      expect(r[0]!.similarity).toBeCloseTo(Math.cos(0.3), 4);
      expect(r[1]!.similarity).toBeCloseTo(Math.sin(0.3), 4);
      expect(r[0]!.subject.name).toBe('A');
      expect(idx.search(q, 10)).toHaveLength(3);
    });

    it('ignores embeddings of other models, and removed subjects', () => {
      const idx = SubjectIndex.build('m', 4, [subject('a', [vec(4, 0)]), subject('x', [vec(4, 1)], 'other')]);
      expect(idx.size).toBe(1);
      expect(idx.search(vec(4, 1), 3).map((c) => c.subject.id)).toEqual(['a']);
      idx.remove('a');
      expect(idx.search(vec(4, 0), 3)).toEqual([]);
      idx.upsert(subject('b', [vec(4, 2)]));
      expect(idx.search(vec(4, 2), 1)[0]).toMatchObject({ subject: { id: 'b' } });
    });

    it('grows past its initial capacity', () => {
      const idx = new SubjectIndex('m', 16, 4);
      for (let i = 0; i < 40; i++) idx.upsert(subject(`s${i}`, [vec(16, i % 16, (i + 3) % 16, i / 40)]));
      expect(idx.size).toBe(40);
      expect(idx.search(vec(16, 5, 8, 5 / 40), 1)[0]!.subject.id).toBe('s5');
    });
  });

  describe('openIndex', () => {
    const store = async (dir: string, subjects: SubjectRecord[]): Promise<WatchlistStore> => {
      const st = await new WatchlistStore(dir).load();
      for (const x of subjects) await st.upsert(x);
      return st;
    };

    it('persists the index, reloads it while the watchlist is unchanged, catches up with changes', async () => {
      const dir = await tempDir();
      const st = await store(dir, [subject('a', [vec(8, 0)]), subject('b', [vec(8, 4)])]);
      const idx = join(dir, 'index', 'm');
      const first = await openIndex(idx, st, 'm', 8);
      expect(first.how).toBe('rebuilt');
      expect(first.index.search(vec(8, 4), 1)[0]!.subject.id).toBe('b');
      const again = await openIndex(idx, st, 'm', 8);
      expect(again).toMatchObject({ how: 'loaded', applied: 0 });
      expect(again.index.search(vec(8, 4), 1)[0]).toMatchObject({ subject: { id: 'b', name: 'B' } });
      await st.upsert(subject('c', [vec(8, 6)]));
      await st.remove('a');
      const changed = await openIndex(idx, st, 'm', 8);
      expect(changed).toMatchObject({ how: 'loaded', applied: 2 });
      expect(changed.index.search(vec(8, 6), 1)[0]!.subject.id).toBe('c');
      expect(changed.index.has('a')).toBe(false);
      st.close();
    });

    it('rebuilds instead of loading a torn or altered index file (checked before hnswlib reads it)', async () => {
      const dir = await tempDir();
      const st = await store(dir, [subject('a', [vec(8, 0)]), subject('b', [vec(8, 4)])]);
      const idx = join(dir, 'index', 'm');
      await openIndex(idx, st, 'm', 8);
      const file = join(idx, 'index.hnsw');
      const bytes = await readFile(file);
      // A few bytes overwritten in the header (what made hnswlib segfault), then a truncated file.
      bytes.writeUInt32LE(100_000, 48); // maxlevel: hnswlib's loader segfaults on it
      await writeFile(file, bytes);
      const r1 = await openIndex(idx, st, 'm', 8);
      expect(r1.how).toBe('rebuilt');
      expect(r1.reason).toMatch(/checksum/);
      expect(r1.index.search(vec(8, 4), 1)[0]!.subject.id).toBe('b');
      await writeFile(file, (await readFile(file)).subarray(0, 100));
      expect((await openIndex(idx, st, 'm', 8)).reason).toMatch(/bytes/);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await stat(idx)).mode & 0o777).toBe(0o700);
      st.close();
    });
  });
});
