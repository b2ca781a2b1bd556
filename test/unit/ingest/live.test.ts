import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { camera, IngestRig } from './rig.js';
import { hamiltonClip, tempDir } from '../../helpers.js';

/** The live policy on files (the RTSP cases are in test/integration/rtsp-ingest.test.ts). */
describe('Camera, live policy', () => {
  it('runs a looped file as a live camera: mediaTime wraps at the file length, seq and capturedAt keep going', async () => {
    const rig = new IngestRig();
    try {
      // Not paced (realtime: false) so that it loops within the test; 10 s clip.
      await rig.set.apply([camera({ id: 'loop', url: hamiltonClip(), loop: true, realtime: false, fps: 2, maxWidth: 64 })]);
      await rig.until(() => rig.count('loop') >= 45, 20_000, 'two passes over the clip');
      const fs = rig.frames.get('loop')!;
      expect(fs.map((f) => f.seq)).toEqual([...fs.keys()]);
      expect(fs.every((f) => f.mediaTime !== null && f.mediaTime >= 0 && f.mediaTime < 10.1)).toBe(true);
      expect(fs.some((f, i) => i > 0 && f.mediaTime! < fs[i - 1]!.mediaTime!)).toBe(true); // it wrapped
      expect(fs.at(-1)!.streamTime!).toBeGreaterThan(10); // the stream clock did not
      expect(rig.statesOf('loop')).toEqual(['connecting', 'live']);
    } finally {
      await rig.close();
    }
  });

  it('a file that ends is "ended", not restarted', async () => {
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'once', url: hamiltonClip(), realtime: false, fps: 1, maxWidth: 64 })]);
      await rig.until(() => rig.lastStatus('once')?.state === 'ended', 10_000, 'the end of the file');
      await new Promise((r) => setTimeout(r, 600));
      expect(rig.statesOf('once')).toEqual(['connecting', 'live', 'ended']);
      expect(rig.count('once')).toBeGreaterThanOrEqual(9);
      expect(await rig.metric('vigil_camera_state', { camera: 'once', state: 'ended' })).toBe(1);
    } finally {
      await rig.close();
    }
  });

  it('backs off exponentially while the source is missing, and picks it up once it appears', async () => {
    const dir = await tempDir();
    const file = join(dir, 'later.mp4');
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'late', url: file, loop: true })]);
      await rig.until(() => rig.statuses.filter((s) => s.state === 'backoff').length >= 4, 10_000, 'four failures');
      const backoffs = rig.statuses.filter((s) => s.state === 'backoff');
      expect(backoffs.map((s) => s.retryInMs).slice(0, 4)).toEqual([250, 500, 1000, 2000]);
      expect(backoffs.map((s) => s.attempt).slice(0, 4)).toEqual([1, 2, 3, 4]);
      expect(backoffs[0]!.error).toEqual({ code: 'VIGIL_ERR_INGEST_NOT_FOUND', message: expect.stringContaining(`camera late: ${file} was not found`) });
      expect(await rig.metric('vigil_camera_restarts_total', { camera: 'late', reason: 'not_found' })).toBeGreaterThanOrEqual(4);
      await copyFile(hamiltonClip(), file);
      await rig.until(() => rig.count('late') > 0, 10_000, 'frames once the file exists');
      expect(rig.lastStatus('late')).toMatchObject({ state: 'live', error: null });
      expect(await rig.metric('vigil_camera_downtime_seconds_total', { camera: 'late' })).toBeGreaterThan(3);
    } finally {
      await rig.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a disabled camera connects to nothing until enabled; a stopped one leaves no metrics behind', async () => {
    const rig = new IngestRig();
    try {
      const cfg = { id: 'gate', url: hamiltonClip(), loop: true, realtime: true, fps: 2, maxWidth: 64 };
      await rig.set.apply([camera({ ...cfg, enabled: false })]);
      await new Promise((r) => setTimeout(r, 300));
      expect(rig.statesOf('gate')).toEqual(['disabled']);
      expect(await rig.metric('vigil_camera_state', { camera: 'gate', state: 'disabled' })).toBe(1);
      await rig.set.apply([camera(cfg)]);
      await rig.until(() => rig.count('gate') > 0, 5000, 'frames once enabled');
      await rig.set.apply([]);
      expect(rig.lastStatus('gate')!.state).toBe('stopped');
      const text = await rig.registry.metrics();
      expect(text).not.toContain('camera="gate"');
    } finally {
      await rig.close();
    }
  });
});
