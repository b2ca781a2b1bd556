import { open, copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { outputSize } from '../../../src/ingest/camera.js';
import { hamiltonClip, tempDir } from '../../helpers.js';
import { replay } from './rig.js';

describe('Camera, replay policy', () => {
  it('samples a real file at the configured fps with sequence numbers and its own timeline', async () => {
    const { result, frames } = await replay(hamiltonClip(), { fps: 5, maxWidth: 320 });
    expect(result).toMatchObject({ frames: 50, dropped: 0, error: null }); // 10 s at 5 fps
    expect(result.duration).toBeCloseTo(10, 0);
    expect(frames.map((f) => f.seq)).toEqual([...Array(50).keys()]);
    expect(frames[0]!.image).toMatchObject({ width: 320, height: 180 });
    expect(frames[0]!.image.data.length).toBe(320 * 180 * 3);
    expect(frames[10]!.mediaTime).toBeCloseTo(2, 6);
    expect(frames[10]!.capturedAt - frames[0]!.capturedAt).toBeCloseTo(2000, 0);
  });

  it('gives a clear error naming the camera for a corrupt video and for a file that is not video, and goes on', async () => {
    const dir = await tempDir();
    const truncated = join(dir, 'truncated.mp4');
    // The clip's first 64 KiB: the index (moov) is missing, so nothing can be decoded.
    const fh = await open(hamiltonClip());
    const head = Buffer.alloc(65536);
    await fh.read(head, 0, head.length, 0);
    await fh.close();
    await writeFile(truncated, head);
    const text = join(dir, 'notes.mp4');
    await writeFile(text, 'this is not a video\n'.repeat(100));
    for (const [f, code] of [
      [truncated, 'VIGIL_ERR_INGEST_TRUNCATED'],
      [text, 'VIGIL_ERR_INGEST_NOT_VIDEO'],
    ] as const) {
      const { result } = await replay(f);
      expect(result.error?.code).toBe(code);
      expect(result.error?.message).toContain('camera clip');
    }
    // A copy of the real clip still plays after those failures.
    await copyFile(hamiltonClip(), join(dir, 'ok.mp4'));
    expect((await replay(join(dir, 'ok.mp4'), { fps: 1 })).result.frames).toBe(10);
  });

  it('redacts credentials from errors', async () => {
    const { result } = await replay('rtsp://admin:hunter2@127.0.0.1:9/stream');
    expect(result.error?.code).toBe('VIGIL_ERR_INGEST_UNREACHABLE');
    expect(result.error?.message).not.toContain('hunter2');
    expect(result.error?.message).toContain('admin:***@');
  });

  it('scales to maxWidth keeping even sides', () => {
    expect(outputSize({ width: 1920, height: 1080 }, 1280)).toEqual({ width: 1280, height: 720 });
    expect(outputSize({ width: 641, height: 361 }, 1280)).toEqual({ width: 642, height: 362 });
  });
});
