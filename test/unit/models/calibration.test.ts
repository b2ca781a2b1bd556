import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { isVigilError } from '../../../src/errors.js';
import { loadManifest, matchThreshold, thresholdForFpir, type Calibration, type Profile } from '../../../src/models/manifest.js';

const cal: Calibration = {
  data: 'test',
  identities: 1000,
  seeds: [1],
  date: '2026-01-01',
  command: 'x',
  points: [
    { fpir: 0.001, threshold: 0.5 },
    { fpir: 0.1, threshold: 0.3 },
    { fpir: 0.01, threshold: 0.4 },
  ],
};

describe('thresholdForFpir', () => {
  it('returns the measured thresholds at the measured FPIRs', () => {
    expect(thresholdForFpir(cal, 0.01)).toEqual({ threshold: 0.4, clamped: false });
    expect(thresholdForFpir(cal, 0.001).threshold).toBeCloseTo(0.5, 12);
  });
  it('interpolates in log FPIR between points', () => {
    // sqrt(0.01 * 0.001) is halfway in log space
    expect(thresholdForFpir(cal, Math.sqrt(0.01 * 0.001)).threshold).toBeCloseTo(0.45, 10);
    const t = thresholdForFpir(cal, 0.05).threshold;
    expect(t).toBeGreaterThan(0.3);
    expect(t).toBeLessThan(0.4);
  });
  it('clamps outside the table and says so', () => {
    expect(thresholdForFpir(cal, 1e-5)).toEqual({ threshold: 0.5, clamped: true });
    expect(thresholdForFpir(cal, 0.3)).toEqual({ threshold: 0.3, clamped: true });
  });
});

describe('matchThreshold', () => {
  const p = { threshold: 0.42, calibration: cal } as unknown as Profile;
  it('prefers matcher.threshold, then matcher.targetFpir, then the profile default', () => {
    expect(matchThreshold(p, { threshold: 0.6 }).threshold).toBe(0.6);
    expect(matchThreshold(p, { targetFpir: 0.01 }).threshold).toBe(0.4);
    expect(matchThreshold(p, {}).threshold).toBe(0.42);
    expect(matchThreshold(p, { targetFpir: 1e-6 }).from).toMatch(/outside the calibrated range/);
  });
  it('refuses a config that sets both', () => {
    let err: unknown;
    try {
      parseConfig({ matcher: { threshold: 0.5, targetFpir: 0.01 } }, {});
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/threshold or targetFpir/);
  });
});

describe('shipped manifest', () => {
  it('gives every profile a calibration table whose FPIR of the default threshold is stated in its note', () => {
    const m = loadManifest();
    for (const [name, p] of Object.entries(m.profiles)) {
      expect(p.calibration, name).toBeDefined();
      const c = p.calibration!;
      expect(c.points.length, name).toBeGreaterThanOrEqual(3);
      // Thresholds rise as the FPIR falls.
      const byFpir = [...c.points].sort((a, b) => b.fpir - a.fpir);
      for (let i = 1; i < byFpir.length; i++) expect(byFpir[i]!.threshold, name).toBeGreaterThan(byFpir[i - 1]!.threshold);
      // The default threshold is one of the table's points, named in the note.
      const point = c.points.find((pt) => pt.threshold === p.threshold);
      expect(point, `${name}: threshold ${p.threshold} is not a calibration point`).toBeDefined();
      expect(p.thresholdNote, name).toContain('FPIR');
      expect(p.thresholdNote, name).toContain(`seeds ${c.seeds.join(',')}`);
    }
  });
});
