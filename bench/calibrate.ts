import { readFileSync } from 'node:fs';
import { VigilError } from '../src/errors.js';
import { writeFileAtomic } from '../src/matcher/atomic.js';
import { manifestSchema, type Calibration } from '../src/models/manifest.js';
import { benchIdent, CALIBRATION_FPIRS, type IdentOptions, type IdentResult } from './ident.js';
import { meanStd } from './metrics.js';

/**
 * A profile's threshold calibration: `bench ident` over several seeded watchlist draws, the
 * threshold for each FPIR averaged over the draws (one draw's 0.1% point rests on ~7 impostor
 * searches; the mean of several is steadier). The profile's default threshold is the one for
 * `defaultFpir`.
 */
export interface CalibrateOptions extends Omit<IdentOptions, 'seed'> {
  readonly seeds: readonly number[];
  readonly defaultFpir: number;
  /** Written into the table, so it can be re-run. */
  readonly command: string;
  readonly onRun?: (r: IdentResult) => void;
}

export interface CalibrationResult {
  readonly profile: string;
  readonly flip: boolean;
  readonly threshold: number;
  readonly thresholdNote: string;
  readonly calibration: Calibration;
  /** Spread of the default threshold over the draws. */
  readonly threshold_std: number;
  readonly runs: IdentResult[];
}

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

export async function calibrate(o: CalibrateOptions): Promise<CalibrationResult> {
  if (o.seeds.length === 0) throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench: 'calibrate', reason: 'give at least one seed' });
  const fpirs = [...new Set([...CALIBRATION_FPIRS, o.defaultFpir])].sort((a, b) => b - a);
  const runs: IdentResult[] = [];
  for (const seed of o.seeds) {
    const r = await benchIdent({ ...o, seed, fpirs });
    runs.push(r);
    o.onRun?.(r);
  }
  const at = (f: number, k: 'threshold' | 'tpir'): number[] => runs.map((r) => r.calibration.find((p) => p.targetFpir === f)![k]);
  const points = fpirs.map((fpir) => ({ fpir, threshold: r4(meanStd(at(fpir, 'threshold')).mean), tpir: r4(meanStd(at(fpir, 'tpir')).mean) }));
  const def = points.find((p) => p.fpir === o.defaultFpir)!;
  const date = new Date().toISOString().slice(0, 10);
  const first = runs[0]!;
  const range = (k: 'probes' | 'impostors'): string => {
    const v = runs.map((r) => r[k]);
    return Math.min(...v) === Math.max(...v) ? String(v[0]) : `${Math.min(...v)}-${Math.max(...v)}`;
  };
  const data = `LFW open-set identification (vigil bench ident): ${first.identities} enrolled identities, ${first.gallery_images} photo each, ${range('probes')} mated and ${range('impostors')} impostor probes per draw; flip TTA ${first.flip ? 'on' : 'off'}`;
  const calibration: Calibration = { data, identities: first.identities, seeds: [...o.seeds], date, command: o.command, points };
  const seeds = o.seeds.join(',');
  const thresholdNote = `calibrated: similarity giving FPIR ${o.defaultFpir} (TPIR ${(def.tpir * 100).toFixed(1)}%) on LFW, ${first.identities} identities, mean of ${o.seeds.length} draws (seeds ${seeds}), ${date}; see calibration and docs/accuracy.md`;
  return {
    profile: first.profile,
    flip: first.flip,
    threshold: def.threshold,
    thresholdNote,
    calibration,
    threshold_std: r4(meanStd(at(o.defaultFpir, 'threshold')).std),
    runs,
  };
}

/**
 * Writes a calibration into the manifest file (threshold, note, table), keeping the file's layout:
 * small objects stay on one line. The result is validated before it is written.
 */
export async function writeCalibration(file: string, profile: string, c: CalibrationResult): Promise<void> {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { profiles: Record<string, Record<string, unknown>> };
  const p = raw.profiles[profile];
  if (!p) throw new Error(`manifest ${file} has no profile "${profile}"`);
  const { calibration: _old, ...rest } = p;
  // Keep key order: threshold and its note where they were, the table after them.
  const next: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) {
    next[k] = k === 'threshold' ? c.threshold : k === 'thresholdNote' ? c.thresholdNote : v;
    if (k === 'thresholdNote') next.calibration = c.calibration;
  }
  raw.profiles[profile] = next;
  manifestSchema.parse(raw);
  await writeFileAtomic(file, `${formatJson(raw)}\n`);
}

/** JSON with 2-space indents; objects and arrays that fit in 110 characters and hold no objects stay on one line. */
export function formatJson(v: unknown, indent = ''): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const nestedObjects = Object.values(v as object).some((x) => x !== null && typeof x === 'object' && !Array.isArray(x));
  const inline = inlineJson(v);
  if (!nestedObjects && indent.length + inline.length <= 110) return inline;
  const inner = `${indent}  `;
  if (Array.isArray(v)) return `[\n${v.map((x) => inner + formatJson(x, inner)).join(',\n')}\n${indent}]`;
  return `{\n${Object.entries(v as object)
    .map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJson(x, inner)}`)
    .join(',\n')}\n${indent}}`;
}

function inlineJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(inlineJson).join(', ')}]`;
  const e = Object.entries(v as object);
  return e.length ? `{ ${e.map(([k, x]) => `${JSON.stringify(k)}: ${inlineJson(x)}`).join(', ')} }` : '{}';
}
