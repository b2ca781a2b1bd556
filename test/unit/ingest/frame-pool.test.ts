import { describe, expect, it } from 'vitest';
import { FramePool } from '../../../src/ingest/frame-pool.js';

describe('FramePool', () => {
  it('hands a given-back frame buffer out again for the next frame of that size', () => {
    const pool = new FramePool(2);
    const a = pool.take(1280 * 720 * 3);
    pool.give(a);
    expect(pool.idle).toBe(1);
    const b = pool.take(1280 * 720 * 3);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.idle).toBe(0);
    // Another size gets its own buffer.
    expect(pool.take(640 * 360 * 3).buffer).not.toBe(a.buffer);
  });

  it('never takes back a buffer it did not make, a view of one, the same buffer twice, or more than its cap', () => {
    const pool = new FramePool(2);
    pool.give(new Uint8Array(300));
    pool.give(Buffer.alloc(300));
    const a = pool.take(300);
    pool.give(a.subarray(0, 150));
    expect(pool.idle).toBe(0);
    pool.give(a);
    pool.give(a);
    expect(pool.idle).toBe(1);
    const [x, y, z] = [pool.take(300), pool.take(300), pool.take(300)];
    expect(x.buffer).toBe(a.buffer);
    pool.give(x);
    pool.give(y);
    pool.give(z);
    expect(pool.idle).toBe(2);
  });
});
