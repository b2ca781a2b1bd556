import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FaceEngine } from '../../../src/inference/engine.js';
import { bulkEnroll, formatBulkSummary, parseCsv, peopleFromCsv, peopleFromDir } from '../../../src/matcher/bulk.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { faces, lfw, tempDir } from '../../helpers.js';
import { useEngine } from './engine.js';

const useResearch = useEngine();
let engine: FaceEngine;
beforeAll(() => {
  engine = useResearch();
});

describe('bulk enrollment', () => {
  it('--dir: one folder per person, resumable by sha256, refusals counted with their reason', async () => {
    const root = await tempDir();
    const dir = join(root, 'people');
    await mkdir(dir);
    for (const p of ['Colin_Powell', 'Tony_Blair']) await symlink(lfw(p), join(dir, p));
    await mkdir(join(dir, 'Nobody_Here'));
    await mkdir(join(dir, 'Group_Photo'));
    await symlink(faces('face_recognition', '_group', 'obama_and_biden.jpg'), join(dir, 'Group_Photo', 'group.jpg'));
    const people = peopleFromDir(dir);
    expect(people.map((p) => [p.id, p.name])).toEqual([
      ['colin_powell', 'Colin Powell'],
      ['group_photo', 'Group Photo'],
      ['nobody_here', 'Nobody Here'],
      ['tony_blair', 'Tony Blair'],
    ]);
    const store = await new WatchlistStore(root).load();
    const progress: number[] = [];
    const s1 = await bulkEnroll(engine, store, people, { maxPhotos: 2, duplicateThreshold: 0.3, onProgress: (d) => progress.push(d) });
    expect(s1).toMatchObject({ people: 4, enrolledPeople: 2, enrolledPhotos: 4, skippedPhotos: 0 });
    expect(s1.refused.VIGIL_ERR_ENROLL_MANY_FACES?.count).toBe(1);
    expect(s1.refused.NO_PHOTOS?.examples).toEqual(['Nobody Here']);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(store.get('colin_powell')!.images).toHaveLength(2);
    const lines = formatBulkSummary(s1).join('\n');
    expect(lines).toMatch(/refused 2 photo\(s\):\n {2}VIGIL_ERR_ENROLL_MANY_FACES: 1\n {4}e\.g\. .*group\.jpg/);
    // A second run (resumed, or with more photos allowed) skips what is stored and adds the rest.
    const s2 = await bulkEnroll(engine, store, people, { maxPhotos: 3, duplicateThreshold: 0.3 });
    expect(s2).toMatchObject({ enrolledPhotos: 2, skippedPhotos: 4 });
    expect(store.get('tony_blair')!.images).toHaveLength(3);
    expect(store.count()).toBe(2);
    store.close();
  });

  it('--csv: id,name,list,photos relative to the file, quoted fields', async () => {
    const dir = await tempDir();
    const csv = join(dir, 'people.csv');
    const rel = (p: string, n: number): string => relative(dir, lfw(p, `${p}_000${n}.jpg`));
    await writeFile(csv, `id,name,list,photos\n,"Powell, Colin",wanted;vip,${lfw('Colin_Powell', 'Colin_Powell_0001.jpg')}\nblair,Tony Blair,,${rel('Tony_Blair', 1)},${rel('Tony_Blair', 2)}\n`);
    const people = peopleFromCsv(csv);
    expect(people).toEqual([
      { id: 'powell_colin', name: 'Powell, Colin', lists: ['wanted', 'vip'], photos: [lfw('Colin_Powell', 'Colin_Powell_0001.jpg')] },
      { id: 'blair', name: 'Tony Blair', lists: [], photos: [lfw('Tony_Blair', 'Tony_Blair_0001.jpg'), lfw('Tony_Blair', 'Tony_Blair_0002.jpg')] },
    ]);
    const store = await new WatchlistStore(dir).load();
    const s = await bulkEnroll(engine, store, people, { duplicateThreshold: 0.3 });
    expect(s).toMatchObject({ enrolledPeople: 2, enrolledPhotos: 3 });
    expect(store.get('powell_colin')!.lists).toEqual(['vip', 'wanted']);
    store.close();
    expect(parseCsv('a,"b ""c""\nd",e\r\nf')).toEqual([['a', 'b "c"\nd', 'e'], ['f']]);
  });
});
