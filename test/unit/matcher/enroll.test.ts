import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVigilError, type ErrorCode } from '../../../src/errors.js';
import { FaceEngine } from '../../../src/inference/engine.js';
import sharp from 'sharp';
import { enroll, enrollWithReport, reembed } from '../../../src/matcher/enroll.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { faces, hamiltonClip, sharedDir, tempDir, testModelsDir } from '../../helpers.js';

let engine: FaceEngine;
let engine2: FaceEngine;

beforeAll(async () => {
  const m = loadManifest();
  const r = await requireProfile(m, testModelsDir(), 'research');
  engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
  const p = await requireProfile(m, testModelsDir(), 'permissive');
  engine2 = await FaceEngine.open(p.resolved, p.files, { provider: 'cpu', threads: 1 });
});
afterAll(async () => {
  await engine?.close();
  await engine2?.close();
});

async function refused(p: Promise<unknown>, code: ErrorCode): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isVigilError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
  return (err as Error).message;
}

describe('enroll', () => {
  it('enrolls from several photos, one embedding each, tagged with the model', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const s = await enroll(engine, store, { name: 'Barack Obama', files: [faces('face_recognition', 'obama', 'obama.jpg'), faces('face_recognition', 'obama', 'obama2.jpg')] });
    expect(s.id).toBe('barack_obama');
    expect(s.embeddings.map((e) => e.model)).toEqual(['w600k_mbf_fp32+flip', 'w600k_mbf_fp32+flip']); // research embeds with flip TTA
    expect(s.embeddings[0]!.vector).toHaveLength(512);
    // two photos of one man are closer than the threshold-ish 0.4
    const a = s.embeddings[0]!.vector;
    const b = s.embeddings[1]!.vector;
    expect(a.reduce((acc, v, i) => acc + v * b[i]!, 0)).toBeGreaterThan(0.4);
  });

  it('refuses a photo with no face, several faces, or no image at all, naming the file and storing nothing', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await enroll(engine, store, { name: 'Biden', files: [faces('face_recognition', 'biden', 'biden.jpg')] });
    const before = store.head();
    const noFace = join(dir, 'curtain.png');
    // A real frame region without a face: the curtains above the stage.
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', '0.4', '-i', hamiltonClip(), '-frames:v', '1', '-vf', 'crop=160:120:230:0', noFace]);
    const group = faces('face_recognition', '_group', 'obama_and_biden.jpg');
    const notImage = join(sharedDir(), 'README.md');
    const good = faces('face_recognition', 'obama', 'obama.jpg');
    expect(await refused(enroll(engine, store, { name: 'X', files: [good, noFace] }), 'VIGIL_ERR_ENROLL_NO_FACE')).toContain('curtain.png');
    expect(await refused(enroll(engine, store, { name: 'X', files: [group] }), 'VIGIL_ERR_ENROLL_MANY_FACES')).toContain('obama_and_biden.jpg');
    expect(await refused(enroll(engine, store, { name: 'X', files: [notImage] }), 'VIGIL_ERR_IMAGE_DECODE')).toContain('README.md');
    expect(await refused(enroll(engine, store, { name: 'X', files: [join(dir, 'missing.jpg')] }), 'VIGIL_ERR_IMAGE_DECODE')).toContain('missing.jpg');
    expect(store.head()).toBe(before);
    expect((await new WatchlistStore(dir).load()).list().map((s) => s.id)).toEqual(['biden']);
  });

  it('re-embeds the watchlist from stored photos for another model, keeping both models apart', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await enroll(engine, store, { name: 'Rose Leslie', files: [faces('face_recognition', 'rose_leslie', 'rose_leslie_img1.jpg')] });
    expect(await reembed(engine2, store)).toEqual(['rose_leslie']);
    const s = store.get('rose_leslie')!;
    expect(s.embeddings.map((e) => [e.model, e.vector.length])).toEqual([
      ['w600k_mbf_fp32+flip', 512],
      ['mobilefacenet_128+flip', 128],
    ]);
    expect(await reembed(engine2, store)).toEqual([]); // nothing missing any more
  });
});

describe('enrollment warnings', () => {
  const obama = faces('face_recognition', 'obama', 'obama.jpg');
  const obama2 = faces('face_recognition', 'obama', 'obama2.jpg');
  const biden = faces('face_recognition', 'biden', 'biden.jpg');

  it('says nothing about a good, single-person enrollment', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const { warnings } = await enrollWithReport(engine, store, { name: 'Barack Obama', files: [obama, obama2] });
    expect(warnings).toEqual([]);
  });

  it('flags a photo that matches a subject already on the watchlist', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    await enroll(engine, store, { name: 'Barack Obama', files: [obama] });
    // Adding photos to the same subject is not a duplicate.
    const more = await enrollWithReport(engine, store, { name: 'Barack Obama', id: 'barack_obama', files: [obama2] });
    expect(more.warnings).toEqual([]);
    const { subject, warnings } = await enrollWithReport(engine, store, { name: 'B. Obama', files: [obama2] });
    expect(subject.id).toBe('b_obama'); // still enrolled: a warning, not a refusal
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ kind: 'duplicate', file: obama2, subject: { id: 'barack_obama' } });
    expect(warnings[0]!.message).toContain('Barack Obama');
  });

  it('flags photos of one request that show different people', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const { warnings } = await enrollWithReport(engine, store, { name: 'Mixed', files: [obama, biden] });
    expect(warnings.map((w) => w.kind)).toEqual(['inconsistent']);
  });

  it('warns about a small face', async () => {
    const dir = await tempDir();
    const small = join(dir, 'small.jpg');
    const meta = await sharp(obama).metadata();
    await sharp(obama).resize(Math.round(meta.width! / 6)).jpeg({ quality: 95 }).toFile(small);
    const store = await new WatchlistStore(dir).load();
    const { warnings } = await enrollWithReport(engine, store, { name: 'Small', files: [small] });
    const q = warnings.find((w) => w.kind === 'quality');
    expect(q && q.kind === 'quality' ? q.issues : []).toContain('small');
    expect(q!.message).toMatch(/small\.jpg: the face is small/);
  });
});

describe('FaceEngine.open', () => {
  it('names the missing model file and the command that installs it', async () => {
    const m = loadManifest();
    const r = await requireProfile(m, testModelsDir(), 'research');
    const files = { ...r.files, w600k_mbf_fp32: join(await tempDir(), 'w600k_mbf_fp32.onnx') };
    const msg = await refused(FaceEngine.open(r.resolved, files, { provider: 'cpu', threads: 1 }), 'VIGIL_ERR_MODEL_MISSING');
    expect(msg).toContain('w600k_mbf_fp32.onnx');
  });
});
