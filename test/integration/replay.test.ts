import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { faces, hamiltonClip, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from './cli.js';

const photo = (who: string, file: string) => faces('face_recognition', who, file);

interface EventLine {
  type: 'alert' | 'update';
  id: string;
  revision: number;
  rule: string;
  firstSeenAt: string;
  alertAt: string;
  subject: { id: string; name: string };
  similarity: number;
  threshold: number;
  camera: string;
  capturedAt: string;
  mediaTime: number;
  crop?: string;
}

const parse = (stdout: string): EventLine[] => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventLine);

describe('vigil replay (CLI, real models and ffmpeg)', () => {
  it('prints match events for an enrolled person in the clip, one JSON object per line', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const e = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', photo('lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stdout).toContain('enrolled Lin-Manuel Miranda [lin_manuel_miranda]');
    const r = await vigil(['replay', hamiltonClip(), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const events = parse(r.stdout);
    // One appearance (on stage from the start, then in close-up): one alert, then updates with better faces.
    const alerts = events.filter((ev) => ev.type === 'alert');
    expect(alerts).toHaveLength(1);
    expect(events.length).toBeGreaterThanOrEqual(2);
    events.forEach((ev, i) => {
      expect(ev.subject).toEqual({ id: 'lin_manuel_miranda', name: 'Lin-Manuel Miranda' });
      expect(ev.id).toBe(alerts[0]!.id);
      expect(ev.revision).toBe(i);
      expect(ev.similarity).toBeGreaterThanOrEqual(ev.threshold);
      expect(ev.camera).toBe('short_hamilton_clip');
      expect(new Date(ev.capturedAt).toISOString()).toBe(ev.capturedAt);
      expect(ev.mediaTime).toBeGreaterThanOrEqual(0);
      expect(ev.mediaTime).toBeLessThanOrEqual(10.1);
      expect(Buffer.from(ev.crop!, 'base64').subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8])); // a JPEG
    });
    // He is on stage from the start: alerted within the first second of video; the close-up (3.6-7.6 s) improves it.
    expect(alerts[0]!.mediaTime).toBeLessThan(1);
    expect(Date.parse(alerts[0]!.alertAt) - Date.parse(alerts[0]!.firstSeenAt)).toBeLessThanOrEqual(1000);
    expect(events.at(-1)!.similarity).toBeGreaterThan(0.55);
    expect(events.at(-1)!.mediaTime).toBeGreaterThan(3.5);
    expect(r.stderr).toMatch(/done in .* s: \d+ event\(s\) \(1 alert\(s\), \d+ update\(s\)\), 0 file\(s\) failed/);
  });

  it('prints nothing when nobody from the clip is enrolled', async () => {
    // Biden, Kit Harington and Rose Leslie are not in the clip (Obama is: he is in the audience at 7.8 s).
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    for (const [name, who, file] of [
      ['Joe Biden', 'biden', 'biden.jpg'],
      ['Kit Harington', 'kit_harington', 'john1.jpeg'],
      ['Rose Leslie', 'rose_leslie', 'rose_leslie_img1.jpg'],
    ] as const) {
      const e = await vigil(['enroll', '--name', name, photo(who, file)], env);
      expect(e.code, e.stderr).toBe(0);
    }
    const r = await vigil(['replay', hamiltonClip(), '--json', '--no-crop'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(': 0 event(s) (0 alert(s), 0 update(s))');
    expect(r.stderr).toMatch(/short_hamilton_clip: \d+ unknown appearance\(s\)/);
  });

  it('reports a corrupt file clearly, still replays the good one, and exits non-zero', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    await vigil(['enroll', '--name', 'Lin-Manuel Miranda', photo('lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    const bad = join(await tempDir(), 'broken.mp4');
    await writeFile(bad, Buffer.alloc(50_000, 7));
    const r = await vigil(['replay', bad, hamiltonClip(), '--json', '--no-crop'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken: VIGIL_ERR_INGEST_(OPEN|DECODE): camera broken: cannot open|broken: VIGIL_ERR_INGEST/);
    expect(parse(r.stdout).filter((ev) => ev.type === 'alert').map((ev) => ev.subject.id)).toEqual(['lin_manuel_miranda']);
  });

  it('without the model files, names the profile and the command that installs it', async () => {
    const env = { VIGIL_DATA_DIR: await tempDir(), VIGIL_PROFILE: 'research' };
    const r = await vigil(['replay', hamiltonClip(), '--json'], env);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain('VIGIL_ERR_MODEL_PROFILE_MISSING');
    expect(r.stderr).toContain('vigil models pull research');
  });

  it('refuses to enroll a group photo, with the file named and exit code 65', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const r = await vigil(['enroll', '--name', 'Group', faces('face_recognition', '_group', 'obama_and_biden.jpg')], env);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/VIGIL_ERR_ENROLL_MANY_FACES: .*obama_and_biden\.jpg: \d faces found/);
    const l = await vigil(['watchlist', 'list'], env);
    expect(l.stdout).toContain('the watchlist is empty');
  });
});
