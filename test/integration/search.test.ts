import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readAudit } from '../../src/audit/log.js';
import { faces, hamiltonClip, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from './cli.js';

interface Hit {
  mediaTime: number;
  capturedAt: string;
  camera: string;
  similarity: number;
  file: string;
  firstMediaTime: number;
  lastMediaTime: number;
}
const hits = (stdout: string): Hit[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Hit);
const photo = (who: string, file: string) => faces('face_recognition', who, file);

describe('vigil index / search (real models and ffmpeg)', () => {
  let env: Record<string, string>;
  beforeAll(async () => {
    env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
  });

  it('finds people who are not enrolled at the right times, and nobody who is not there', async () => {
    const obama = await vigil(['search', '--face', photo('obama', 'obama.jpg'), hamiltonClip(), '--json'], env);
    expect(obama.code, obama.stderr).toBe(0);
    expect(obama.stderr).toContain('1 recording(s) indexed now');
    // Obama in profile in the audience near 7.8-9.8 s
    const o = hits(obama.stdout);
    expect(o.length).toBeGreaterThanOrEqual(1);
    expect(o[0]).toMatchObject({ camera: 'short_hamilton_clip', file: hamiltonClip() });
    expect(o[0]!.mediaTime).toBeGreaterThanOrEqual(7.6);
    expect(o[0]!.mediaTime).toBeLessThanOrEqual(10);
    expect(new Date(o[0]!.capturedAt).toISOString()).toBe(o[0]!.capturedAt);

    // Miranda on stage (0-1.4 s) and in close-up (3.6-7.6 s); already indexed: nothing decoded
    const lmm = await vigil(['search', '--face', photo('lin_manuel_miranda', 'lin-manuel-miranda.png'), hamiltonClip(), '--json'], env);
    expect(lmm.stderr).toContain('0 recording(s) indexed now (0 frames decoded), 1 already indexed');
    const m = hits(lmm.stdout);
    expect(m[0]!.mediaTime).toBeGreaterThan(3.5);
    expect(m[0]!.mediaTime).toBeLessThan(7.7);
    expect(m.some((h) => h.firstMediaTime < 1)).toBe(true);
    for (const h of [...o, ...m]) expect(h.similarity).toBeGreaterThanOrEqual(0.35);

    // Biden is not in the clip
    const biden = await vigil(['search', '--face', photo('biden', 'biden.jpg'), hamiltonClip(), '--json'], env);
    expect(biden.code, biden.stderr).toBe(0);
    expect(biden.stdout.trim()).toBe('');
    expect(biden.stderr).toMatch(/0 appearance\(s\) at or above the threshold/);

    expect(readAudit(env.VIGIL_DATA_DIR!, { action: 'search.face' })).toHaveLength(3);
    expect(readAudit(env.VIGIL_DATA_DIR!, { action: 'recording.index' })).toHaveLength(1);
  }, 180_000);

  it('indexes a long recording once, then searches it several times without decoding again', async () => {
    const dir = await tempDir('vigil-long-');
    const list = join(dir, 'list.txt');
    await writeFile(list, Array.from({ length: 3 }, () => `file '${hamiltonClip()}'`).join('\n'));
    const long = join(dir, 'long.mp4');
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', long]);
    const ix = await vigil(['index', long, '--fps', '2'], env, 300_000);
    expect(ix.code, ix.stderr).toBe(0);
    expect(ix.stderr).toMatch(/1 recording\(s\) indexed now \((\d+) frames decoded\)/);
    for (const who of [photo('lin_manuel_miranda', 'lin-manuel-miranda.png'), photo('obama', 'obama.jpg'), photo('biden', 'biden.jpg')]) {
      const s = await vigil(['search', '--face', who, long, '--json', '--fps', '2'], env);
      expect(s.code, s.stderr).toBe(0);
      expect(s.stderr).toContain('0 recording(s) indexed now (0 frames decoded), 1 already indexed, 0 failed');
    }
    // Miranda is in each of the 3 copies
    const again = await vigil(['search', '--face', photo('lin_manuel_miranda', 'lin-manuel-miranda.png'), long, '--json'], env);
    const found = hits(again.stdout);
    expect(new Set(found.map((h) => Math.floor(h.mediaTime / 10))).size).toBeGreaterThanOrEqual(3);
  }, 300_000);

  it('refuses a photo with no face before decoding anything', async () => {
    const dir = await tempDir('vigil-noface-');
    const blank = join(dir, 'wall.png');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 200, g: 190, b: 180 } } }).png().toFile(blank);
    const r = await vigil(['search', '--face', blank, hamiltonClip()], { ...env, VIGIL_DATA_DIR: await dataDirWithModels() });
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('VIGIL_ERR_SEARCH_NO_FACE');
    expect(r.stderr).not.toContain('indexed now');
  });
});
