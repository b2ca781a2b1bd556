import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../../src/errors.js';
import { cosine } from '../../../src/inference/embedder.js';
import { type FaceEngine, faceSize } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { enrollmentFace, enrollWithReport } from '../../../src/matcher/enroll.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { faces, lfw, tempDir } from '../../helpers.js';
import { useEngine } from './engine.js';

/**
 * Real press photos with a bystander (LFW photos in which the detector finds a second face, found
 * by running it over the first photo of LFW people; about 1 in 6 has one). The enrolled face must
 * be the person's: its embedding matches the person's other LFW photos, the bystander's does not.
 */
const useResearch = useEngine();
let engine: FaceEngine;
beforeAll(() => {
  engine = useResearch();
});

/** The person's own face in another of their LFW photos (single-face photos chosen). */
async function other(person: string, n: number): Promise<Float32Array> {
  const fs = await engine.analyze(await loadRgb(lfw(person, `${person}_${String(n).padStart(4, '0')}.jpg`)));
  return fs.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0]!.embedding;
}

// person, photo with a bystander, the kind of bystander (what the detector reports, 640 px letterbox)
const CASES = [
  ['Alec_Baldwin', 1, 'two smaller faces (52 and 33 px vs 96 px)'],
  ['Andre_Agassi', 1, 'a nearly as large face at the left edge (84 vs 95 px)'],
  ['Alex_Sink', 1, 'an as large face off-centre (95 vs 94 px)'],
  ['Antonio_Banderas', 1, 'a LARGER face at the left edge (100 vs 93 px)'],
  ['Calista_Flockhart', 1, 'a larger face at the top-left corner (107 vs 104 px)'],
] as const;

describe('enrolling photos with a bystander', () => {
  it.each(CASES)('%s_%i (%s): enrolls the person, not the bystander, with a warning', async (person, n) => {
    const file = lfw(person, `${person}_${String(n).padStart(4, '0')}.jpg`);
    const all = await engine.analyze(await loadRgb(file));
    expect(all.length).toBeGreaterThan(1); // the probe is real: the detector sees a second face
    const store = await new WatchlistStore(await tempDir()).load();
    const { subject, warnings } = await enrollWithReport(engine, store, { name: person, files: [file] });
    expect(warnings.find((w) => w.kind === 'others')?.message).toMatch(new RegExp(`${all.length - 1} other face\\(s\\) in the photo ignored`));
    const chosen = Float32Array.from(subject.embeddings[0]!.vector);
    const ref = await other(person, 2);
    const bystanders = all.filter((f) => cosine(f.embedding, chosen) < 0.99);
    expect(bystanders).toHaveLength(all.length - 1);
    const own = cosine(chosen, ref);
    console.log(`${person}_${n}: chosen face vs the person's other photo ${own.toFixed(3)}; bystander(s) ${bystanders.map((b) => cosine(b.embedding, ref).toFixed(3)).join(', ')}`);
    expect(own).toBeGreaterThan(engine.profile.profile.threshold); // the matcher would match the person with it
    for (const b of bystanders) expect(cosine(b.embedding, ref)).toBeLessThan(own - 0.2);
    store.close();
  });

  it('--face forces a choice: "largest" takes the bystander of Antonio_Banderas_0001, 2 the person', async () => {
    const file = lfw('Antonio_Banderas', 'Antonio_Banderas_0001.jpg');
    const bytes = await readFile(file);
    const ref = await other('Antonio_Banderas', 2);
    const largest = await enrollmentFace(engine, file, bytes, 'largest');
    const second = await enrollmentFace(engine, file, bytes, 2);
    expect(cosine(second.face.embedding, ref)).toBeGreaterThan(cosine(largest.face.embedding, ref) + 0.2);
    const e = await enrollmentFace(engine, file, bytes, 5).catch((x: unknown) => x);
    expect(isVigilError(e, 'VIGIL_ERR_ENROLL_MANY_FACES')).toBe(true);
    expect((e as Error).message).toContain('--face 5 asked for, the photo has 2 face(s)');
  });

  it('refuses a genuinely ambiguous photo (two people side by side), saying why and how to choose', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const file = faces('face_recognition', '_group', 'obama_and_biden.jpg');
    const e = await enrollWithReport(engine, store, { name: 'Who', files: [file] }).catch((x: unknown) => x);
    expect(isVigilError(e, 'VIGIL_ERR_ENROLL_MANY_FACES')).toBe(true);
    expect((e as Error).message).toMatch(/faces of comparable size .* px/);
    expect((e as Error).message).toContain('--face largest or --face N');
    expect(store.count()).toBe(0);
    store.close();
  });
});
