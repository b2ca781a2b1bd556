import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../src/ingest/backoff.js';

describe('restart backoff', () => {
  const p = { initialMs: 1000, maxMs: 30_000 };
  it('doubles from the initial delay up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, p, () => 0.5))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });
  it('spreads restarts by +-20% and never exceeds the cap', () => {
    expect(backoffDelay(0, p, () => 0)).toBe(800);
    expect(backoffDelay(0, p, () => 0.999999)).toBe(1200);
    expect(backoffDelay(20, p, () => 0.999999)).toBe(30_000);
  });
});
