import type { Calibration } from '../models/manifest.js';

/** The threshold alerts are raised at and the false-positive identification rate it was calibrated to. */
export interface OperatingPoint {
  readonly profile: string | null;
  readonly threshold: number | null;
  /** FPIR at `threshold` per the profile's calibration table (log-interpolated); null without one. */
  readonly fpir: number | null;
  /** Watchlist size the FPIR was measured with (FPIR grows with it). */
  readonly identities: number | null;
}

export const unknownOperatingPoint: OperatingPoint = { profile: null, threshold: null, fpir: null, identities: null };

/** The inverse of manifest.thresholdForFpir: FPIR at a threshold, clamped to the calibrated range. */
export function fpirAt(cal: Calibration | undefined, threshold: number): number | null {
  if (!cal) return null;
  const pts = [...cal.points].sort((a, b) => a.threshold - b.threshold); // low threshold (high FPIR) first
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (threshold <= first.threshold) return first.fpir;
  if (threshold >= last.threshold) return last.fpir;
  for (let i = 1; i < pts.length; i++) {
    const lo = pts[i - 1]!;
    const hi = pts[i]!;
    if (threshold <= hi.threshold) {
      const t = (threshold - lo.threshold) / (hi.threshold - lo.threshold || 1);
      return Math.exp(Math.log(lo.fpir) + t * (Math.log(hi.fpir) - Math.log(lo.fpir)));
    }
  }
  return last.fpir;
}

export function operatingPointOf(profile: string, threshold: number, cal: Calibration | undefined): OperatingPoint {
  return { profile, threshold, fpir: fpirAt(cal, threshold), identities: cal?.identities ?? null };
}
