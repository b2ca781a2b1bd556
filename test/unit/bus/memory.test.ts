import { describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { FrameMsg, WatchlistChange } from '../../../src/contracts/messages.js';

const frame = (seq: number): FrameMsg => ({ kind: 'frame', v: 1, camera: 'c', seq, capturedAt: seq, mediaTime: null, image: { width: 1, height: 1, data: new Uint8Array(3) } });
const change = (id: string): WatchlistChange => ({ kind: 'watchlist', v: 1, op: 'remove', id });
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('MemoryBus', () => {
  describe('#publish drop-oldest (live frames)', () => {
    it('drops the oldest frames of a full queue, counts them, and delivers the newest in order', async () => {
      const bus = new MemoryBus(embeddedPolicies({ frames: 3, faces: 8, matches: 8 }, true));
      const seen: number[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      bus.subscribe('frames', { group: 'inf' }, async (msgs) => {
        seen.push(...msgs.map((m) => m.seq));
        await gate;
      });
      for (let i = 0; i < 10; i++) await bus.publish('frames', frame(i));
      release();
      await bus.idle();
      // frame 0 was taken before the queue filled; of 1..9 only the last 3 survive
      expect(seen).toEqual([0, 7, 8, 9]);
      expect(bus.stats().frames.dropped).toBe(6);
      expect(bus.stats().frames.published).toBe(10);
    });
  });

  describe('#publish block (replay frames, matches)', () => {
    it('makes the publisher wait for room instead of dropping', async () => {
      const bus = new MemoryBus(embeddedPolicies({ frames: 2, faces: 8, matches: 8 }, false));
      const seen: number[] = [];
      bus.subscribe('frames', { group: 'inf' }, async (msgs) => {
        await tick(2);
        seen.push(...msgs.map((m) => m.seq));
      });
      let maxDepth = 0;
      for (let i = 0; i < 20; i++) {
        await bus.publish('frames', frame(i));
        maxDepth = Math.max(maxDepth, bus.stats().frames.depth);
      }
      await bus.idle();
      expect(seen).toEqual([...Array(20).keys()]);
      expect(bus.stats().frames.dropped).toBe(0);
      expect(maxDepth).toBeLessThanOrEqual(2);
    });
  });

  describe('#subscribe', () => {
    it('hands a batch of up to maxBatch queued messages at once', async () => {
      const bus = new MemoryBus(embeddedPolicies({ frames: 16, faces: 8, matches: 8 }, false));
      const sizes: number[] = [];
      bus.subscribe('frames', { group: 'inf', maxBatch: 4, maxWaitMs: 20 }, (msgs) => void sizes.push(msgs.length));
      for (let i = 0; i < 10; i++) void bus.publish('frames', frame(i));
      await bus.idle();
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
      expect(Math.max(...sizes)).toBe(4);
    });

    it('gives every group every message, and a failing handler does not stop the next messages', async () => {
      const errors: unknown[] = [];
      const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false), (_t, _g, err) => errors.push(err));
      const a: string[] = [];
      const b: string[] = [];
      bus.subscribe('watchlist', { group: 'a' }, (m) => {
        if (m[0]!.op === 'remove' && m[0]!.id === 'bad') throw new Error('boom');
        a.push(m[0]!.op === 'remove' ? m[0]!.id : '');
      });
      bus.subscribe('watchlist', { group: 'b' }, (m) => void b.push(...m.map((x) => (x.op === 'remove' ? x.id : ''))));
      for (const id of ['x', 'bad', 'y']) await bus.publish('watchlist', change(id));
      await bus.idle();
      expect(a).toEqual(['x', 'y']);
      expect(b).toEqual(['x', 'bad', 'y']);
      expect(errors).toHaveLength(1);
      expect(bus.stats().watchlist.failed).toBe(1);
    });
  });

  describe('#idle', () => {
    it('waits for messages that handlers publish downstream', async () => {
      const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
      const got: string[] = [];
      bus.subscribe('frames', { group: 'inf' }, async (msgs) => {
        await tick(10);
        for (const m of msgs) await bus.publish('watchlist', change(`f${m.seq}`));
      });
      bus.subscribe('watchlist', { group: 'm' }, async (msgs) => {
        await tick(10);
        for (const m of msgs) got.push(m.op === 'remove' ? m.id : '');
      });
      await bus.publish('frames', frame(1));
      await bus.idle();
      expect(got).toEqual(['f1']);
    });
  });
});
