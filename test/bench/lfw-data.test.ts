import { describe, expect, it } from 'vitest';
import { lfwImage, listPeople, parsePairs, readPairs, requireLfw } from '../../bench/lfw-data.js';
import { isVigilError } from '../../src/errors.js';
import { lfw, tempDir } from '../helpers.js';

describe('LFW protocol files', () => {
  it('reads View 2 as 10 folds of 300 same + 300 different pairs', async () => {
    const folds = await readPairs(lfw());
    expect(folds).toHaveLength(10);
    for (const f of folds) {
      expect(f.filter((p) => p.same)).toHaveLength(300);
      expect(f.filter((p) => !p.same)).toHaveLength(300);
    }
    expect(folds[0]![0]).toEqual({ a: 'Abel_Pacheco/Abel_Pacheco_0001.jpg', b: 'Abel_Pacheco/Abel_Pacheco_0004.jpg', same: true });
  });

  it('refuses a pairs file that does not add up', () => {
    expect(() => parsePairs('1\t1\nA 1 2\n')).toThrow(/promises 2 pairs, found 1/);
    expect(() => parsePairs('1\t1\nA 1 2\nB 1\n')).toThrow(/cannot read line/);
  });

  it('lists every person and image', async () => {
    const people = await listPeople(lfw());
    expect(people.size).toBe(5749);
    expect([...people.values()].flat()).toHaveLength(13233);
    expect([...people.values()].filter((v) => v.length >= 2)).toHaveLength(1680);
    expect(people.get('George_W_Bush')).toHaveLength(530);
    expect(lfwImage('A_B', 7)).toBe('A_B/A_B_0007.jpg');
  });

  it('names a folder that is not LFW', async () => {
    const dir = await tempDir();
    let err: unknown;
    try {
      requireLfw(dir);
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_ERR_BENCH_DATA')).toBe(true);
    expect((err as Error).message).toContain(dir);
  });
});
