import { describe, expect, it } from 'vitest';
import { FrameAssembler, LineSplitter, parseInputStream, parseShowinfo } from '../../../src/ingest/assembler.js';

const showinfo = (n: number, pts: string, w: number, h: number, key = 0): string =>
  `[Parsed_showinfo_2 @ 0x55d0c] n:${String(n).padStart(4)} pts:${pts === 'NOPTS' ? 'NOPTS' : Math.round(Number(pts) * 90000)} pts_time:${pts} duration:1 fmt:rgb24 sar:1/1 s:${w}x${h} i:P iskey:${key} type:I checksum:00000000`;

describe('showinfo and stream lines', () => {
  it('reads a frame\'s size, time and key flag from its showinfo line, and nothing from other lines', () => {
    expect(parseShowinfo(showinfo(3, '1.2', 320, 180, 1))).toEqual({ pts: 1.2, width: 320, height: 180, keyframe: true });
    expect(parseShowinfo(showinfo(0, 'NOPTS', 64, 36))).toEqual({ pts: null, width: 64, height: 36, keyframe: false });
    expect(parseShowinfo('[Parsed_showinfo_2 @ 0x55d0c] color_range:unknown color_space:unknown')).toBeNull();
    expect(parseShowinfo('frame=   10 fps=0.0 q=-0.0 size=N/A')).toBeNull();
  });

  it('reads the input video stream\'s codec, size and rate', () => {
    expect(parseInputStream('  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 640x360 [SAR 1:1 DAR 16:9], 301 kb/s, 25 fps, 25 tbr')).toEqual({
      codec: 'h264',
      width: 640,
      height: 360,
      fps: 25,
    });
    expect(parseInputStream('  Stream #0:1(und): Audio: aac (LC), 44100 Hz, stereo')).toBeNull();
  });

  it('splits chunks into lines whatever the chunk boundaries and line endings', () => {
    const l = new LineSplitter();
    expect(l.push('ab')).toEqual([]);
    expect(l.push('c\r\nde\rf')).toEqual(['abc', 'de']);
    expect(l.push('\n\n  \ng')).toEqual(['f']);
    expect(l.flush()).toEqual(['g']);
    expect(l.flush()).toEqual([]);
  });
});

describe('FrameAssembler', () => {
  it('joins raw RGB bytes split anywhere to their metadata, each frame its own size', () => {
    const a = new FrameAssembler('rgb');
    const f1 = Buffer.alloc(4 * 2 * 3, 1);
    const f2 = Buffer.alloc(2 * 2 * 3, 2);
    const bytes = Buffer.concat([f1, f2]);
    // Bytes before the metadata: nothing yet.
    a.addBytes(bytes.subarray(0, 5));
    expect(a.next()).toBeUndefined();
    a.addMeta({ pts: 0, width: 4, height: 2, keyframe: true });
    expect(a.next()).toBeUndefined(); // 5 of 24 bytes
    a.addBytes(bytes.subarray(5, 30));
    const first = a.next()!;
    expect(first).toMatchObject({ pts: 0, width: 4, height: 2, keyframe: true });
    expect(first.data).toEqual(f1);
    expect(a.next()).toBeUndefined(); // the second frame's line has not come
    a.addMeta({ pts: 0.2, width: 2, height: 2, keyframe: false });
    expect(a.next()).toBeUndefined(); // 6 of 12 bytes
    a.addBytes(bytes.subarray(30));
    expect(a.next()!.data).toEqual(f2);
    expect(a.buffered).toBe(0);
    expect(a.pendingMeta).toBe(0);
  });

  it('splits JPEGs at their end marker, even when the marker straddles two chunks', () => {
    const a = new FrameAssembler('jpeg');
    const j1 = Buffer.from([0xff, 0xd8, 1, 2, 0xff, 0xd9]);
    const j2 = Buffer.from([0xff, 0xd8, 3, 0xff, 0xd9]);
    a.addMeta({ pts: 0, width: 8, height: 8, keyframe: true });
    a.addMeta({ pts: 1, width: 8, height: 8, keyframe: false });
    a.addBytes(j1.subarray(0, 5)); // ends between 0xff and 0xd9
    expect(a.next()).toBeUndefined();
    a.addBytes(Buffer.concat([j1.subarray(5), j2]));
    expect(a.next()!.data).toEqual(j1);
    expect(a.next()!.data).toEqual(j2);
    expect(a.next()).toBeUndefined();
  });

  it('keeps order over many frames (the metadata list is compacted as it goes)', () => {
    const a = new FrameAssembler('rgb');
    const got: number[] = [];
    for (let i = 0; i < 1000; i++) {
      a.addMeta({ pts: i, width: 1, height: 1, keyframe: false });
      a.addBytes(Buffer.from([i & 255, 0, 0]));
      for (let f = a.next(); f; f = a.next()) got.push(f.pts!);
    }
    expect(got).toEqual([...Array(1000).keys()]);
  });
});
