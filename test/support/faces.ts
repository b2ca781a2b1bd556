import { expect } from 'vitest';
import type { Detection } from '../../src/inference/types.js';

/** A frontal face's 5 landmarks in ArcFace order (eyes, nose, mouth corners), all inside its box. */
export function expectFrontalLandmarks({ box, landmarks: [le, re, nose, lm, rm] }: Detection): void {
  expect(le[0]).toBeLessThan(nose[0]);
  expect(re[0]).toBeGreaterThan(nose[0]);
  expect(Math.max(le[1], re[1])).toBeLessThan(nose[1]);
  expect(nose[1]).toBeLessThan(Math.min(lm[1], rm[1]));
  expect(lm[0]).toBeLessThan(rm[0]);
  for (const [x, y] of [le, re, nose, lm, rm]) {
    expect(x).toBeGreaterThan(box[0]);
    expect(x).toBeLessThan(box[2]);
    expect(y).toBeGreaterThan(box[1]);
    expect(y).toBeLessThan(box[3]);
  }
}
