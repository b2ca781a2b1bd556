import { describe, expect, it } from 'vitest';
import type { Box } from '../../../src/contracts/messages.js';
import { CameraTracker } from '../../../src/matcher/tracker.js';

/** A unit embedding mostly along axis `i`, with a little per-frame noise. */
function emb(i: number, noise = 0, dim = 16): Float32Array {
  const v = new Float32Array(dim);
  v[i] = 1;
  v[(i + 5) % dim] = noise;
  const n = Math.hypot(1, noise);
  return v.map((x) => x / n);
}
const box = (cx: number, cy: number, s = 40): Box => [cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2];

describe('CameraTracker', () => {
  describe('#update', () => {
    it('links one person walking across the frame into one track', () => {
      const t = new CameraTracker('cam');
      const ids = new Set<string>();
      for (let f = 0; f < 20; f++) ids.add(t.update([{ box: box(50 + f * 15, 100), embedding: emb(0, (f % 3) * 0.2) }], f * 200).assigned[0]!.id);
      expect(ids.size).toBe(1);
      expect(t.active[0]!.faces).toBe(20);
    });

    it('keeps two people apart when they cross (boxes overlap, faces differ)', () => {
      const t = new CameraTracker('cam');
      const a = new Set<string>();
      const b = new Set<string>();
      for (let f = 0; f <= 20; f++) {
        // A walks left to right, B right to left; they overlap around frame 10.
        const faces = [
          { box: box(100 + f * 20, 100), embedding: emb(0, 0.1) },
          { box: box(500 - f * 20, 104), embedding: emb(1, 0.1) },
        ];
        const { assigned } = t.update(f % 2 ? faces : [faces[1]!, faces[0]!], f * 200);
        const [ta, tb] = f % 2 ? assigned : [assigned[1], assigned[0]];
        a.add(ta!.id);
        b.add(tb!.id);
      }
      expect(a.size).toBe(1);
      expect(b.size).toBe(1);
      expect([...a][0]).not.toBe([...b][0]);
    });

    it('survives a short miss, and closes a track after maxGapMs', () => {
      const t = new CameraTracker('cam');
      const first = t.update([{ box: box(100, 100), embedding: emb(2) }], 0).assigned[0]!;
      expect(t.update([], 500).closed).toEqual([]);
      expect(t.update([{ box: box(110, 100), embedding: emb(2) }], 1500).assigned[0]!.id).toBe(first.id);
      const later = t.update([{ box: box(110, 100), embedding: emb(2) }], 4000);
      expect(later.closed.map((x) => x.id)).toEqual([first.id]);
      expect(later.assigned[0]!.id).not.toBe(first.id);
    });

    it('starts a new track for a different face at the same place', () => {
      const t = new CameraTracker('cam');
      const a = t.update([{ box: box(100, 100), embedding: emb(3) }], 0).assigned[0]!;
      const b = t.update([{ box: box(100, 100), embedding: emb(4) }], 200).assigned[0]!;
      expect(b.id).not.toBe(a.id);
    });
  });
});
