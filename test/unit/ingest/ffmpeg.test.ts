import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../../src/errors.js';
import { decode, ffmpegArgs, IngestFailure, type DecodedFrame, type DecodeOptions } from '../../../src/ingest/ffmpeg.js';
import { hamiltonClip, tempDir } from '../../helpers.js';

const run = promisify(execFile);

async function frames(o: DecodeOptions, limit = Infinity): Promise<DecodedFrame[]> {
  const out: DecodedFrame[] = [];
  const h = decode(o, {
    onFrame: (f) => {
      out.push(f);
      if (out.length >= limit) h.stop();
    },
  });
  await h.done;
  return out;
}

describe('ffmpeg decode', () => {
  it('live sampling keeps the first frame of each 1/fps slot of the stream clock, never a duplicate', async () => {
    // The clip runs at 29.97 fps for 10 s; its video starts at 0.85 s (no padding in live mode).
    const fs = await frames({ url: hamiltonClip(), fps: 5, sampling: 'live', size: { maxWidth: 320 } });
    expect(fs.length).toBeGreaterThanOrEqual(45);
    expect(fs.length).toBeLessThanOrEqual(46);
    for (let i = 1; i < fs.length; i++) {
      const dt = fs[i]!.pts! - fs[i - 1]!.pts!;
      expect(dt).toBeGreaterThan(0.15);
      expect(dt).toBeLessThan(0.25);
    }
    expect(fs[0]).toMatchObject({ width: 320, height: 180, index: 0 });
    expect(fs[0]!.data.length).toBe(320 * 180 * 3);
  });

  it('outputs JPEGs when asked, one per frame, at the source size', async () => {
    const fs = await frames({ url: hamiltonClip(), fps: 2, sampling: 'live', output: 'jpeg' }, 4);
    expect(fs).toHaveLength(4);
    for (const f of fs) {
      const meta = await sharp(f.data).metadata();
      expect(meta).toMatchObject({ format: 'jpeg', width: 640, height: 360 });
    }
  });

  it('decodes key frames only with keyframesOnly', async () => {
    const fs = await frames({ url: hamiltonClip(), fps: 5, sampling: 'live', size: { maxWidth: 160 }, tuning: { keyframesOnly: true, threads: 1 } });
    // The clip has a key frame every ~2 s: 6 in 10 s.
    expect(fs.length).toBe(6);
    expect(fs.every((f) => f.keyframe)).toBe(true);
    expect(ffmpegArgs({ url: 'rtsp://h/x', fps: 5, tuning: { keyframesOnly: true, threads: 1 } })).toEqual(
      expect.arrayContaining(['-rtsp_transport', 'tcp', '-threads', '1', '-skip_frame', 'nokey']),
    );
  });

  it('follows a stream that changes resolution mid-way (each frame has its own size)', async () => {
    const dir = await tempDir();
    const part = async (name: string, size: string) => {
      const f = join(dir, name);
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=10:duration=1`, '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', f]);
      return f;
    };
    const a = await part('a.ts', '320x240');
    const b = await part('b.ts', '160x90');
    // MPEG-TS parts join byte for byte (the concat: protocol is refused, see input.ts).
    const joined = join(dir, 'ab.ts');
    await writeFile(joined, Buffer.concat([await readFile(a), await readFile(b)]));
    const fs = await frames({ url: joined, fps: 5, sampling: 'live', size: { maxWidth: 1280 } });
    const sizes = [...new Set(fs.map((f) => `${f.width}x${f.height}`))];
    expect(sizes).toEqual(['320x240', '160x90']);
    for (const f of fs) expect(f.data.length).toBe(f.width * f.height * 3);
  });

  it('reports a missing file as not-found and a missing ffmpeg as VIGIL_ERR_FFMPEG_MISSING', async () => {
    const err = await frames({ url: '/nonexistent/clip.mp4', fps: 1 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IngestFailure);
    expect((err as IngestFailure).kind).toBe('not-found');
    const saved = process.env.FFMPEG_PATH;
    process.env.FFMPEG_PATH = '/nonexistent/ffmpeg';
    try {
      const e2 = await frames({ url: hamiltonClip(), fps: 1 }).then(() => undefined, (e: unknown) => e);
      expect(isVigilError(e2, 'VIGIL_ERR_FFMPEG_MISSING')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
    }
  });

  it('pauses ffmpeg while a frame is being handled (backpressure) and delivers in order', async () => {
    const seen: number[] = [];
    let inFlight = 0;
    const h = decode({ url: hamiltonClip(), fps: 5, size: { width: 160, height: 90 } }, {
      onFrame: async (f) => {
        inFlight++;
        expect(inFlight).toBe(1);
        await new Promise((r) => setTimeout(r, 2));
        seen.push(f.index);
        inFlight--;
      },
    });
    await h.done;
    expect(seen).toEqual([...Array(50).keys()]);
  });
});
