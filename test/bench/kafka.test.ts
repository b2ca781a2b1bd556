import { describe, expect, it } from 'vitest';
import { formatBench, type ModeResult } from '../../bench/kafka.js';
import { percentile } from '../../bench/metrics.js';

describe('bench kafka report', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(xs, 0.5)).toBe(50);
    expect(percentile(xs, 0.95)).toBe(100);
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([], 0.5)).toBeNull();
  });

  it('prints one row per mode', () => {
    const r: ModeResult = { mode: 'kafka', frames: 50, framesPerSecond: 11.25, frameToFaces: { n: 150, p50: 104.4, p95: 432 }, frameToAlert: { n: 0, p50: null, p95: null }, events: 0, threshold: 0.4 };
    const lines = formatBench('clip.mp4', [r]);
    expect(lines[0]).toBe('video clip.mp4: 50 frames per pass');
    expect(lines[2]).toMatch(/^kafka\s+11\.3\s+104 \/ 432\s+- \/ - \(0\)\s+0\.4$/);
  });
});
