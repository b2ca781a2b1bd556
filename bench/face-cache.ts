import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { base64Of, float32FromBase64 } from '../src/util/base64.js';
import { fuseFlip, mirror, type FaceEngine } from '../src/inference/engine.js';
import { headPose, interEyeDistance, measureQuality, type FaceQuality } from '../src/inference/quality.js';
import type { Box, Point, RgbImage } from '../src/contracts/messages.js';
import type { Detection } from '../src/inference/types.js';

/**
 * What the face engine made of one benchmark image, kept on disk so that re-running a benchmark
 * (another fold split, another seed, another threshold) costs seconds instead of a full pass.
 * Both the crop's and its mirror's embeddings are kept, so plain and flip-TTA results come from
 * one pass; the engine fuses them with the same {@link fuseFlip}.
 */
export interface BenchFace {
  readonly path: string;
  /** The detector found a face (else `fallback` landmarks were used, if the caller gave any). */
  readonly found: boolean;
  /** No face and no fallback: there is no embedding. */
  readonly empty: boolean;
  readonly box: Box;
  readonly landmarks: Detection['landmarks'];
  readonly quality: FaceQuality;
  readonly emb: Float32Array;
  readonly embFlip: Float32Array;
  /** Wall time, ms: load+detect(+pick), align+embed of the crop, embed of the mirror. */
  readonly ms: { readonly detect: number; readonly embed: number; readonly flip: number };
}

/** The embedding the engine would produce for this face (with or without flip TTA). */
export function faceEmbedding(f: BenchFace, flip: boolean): Float32Array {
  return flip ? fuseFlip(f.emb, f.embFlip) : f.emb;
}

/** Picks the face a benchmark image is about among the detections (e.g. the most central large one). */
export type FacePicker = (dets: readonly Detection[], img: RgbImage) => Detection | undefined;

/**
 * InsightFace's choice for centred benchmark images: the largest box, penalised by twice its
 * squared distance from the image centre (so a large bystander at the edge loses to the subject).
 */
export const pickCentral: FacePicker = (dets, img) => {
  let best: Detection | undefined;
  let bestVal = -Infinity;
  for (const d of dets) {
    const area = (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]);
    const dx = (d.box[0] + d.box[2]) / 2 - img.width / 2;
    const dy = (d.box[1] + d.box[3]) / 2 - img.height / 2;
    const val = area - 2 * (dx * dx + dy * dy);
    if (val > bestVal) {
      bestVal = val;
      best = d;
    }
  }
  return best;
};

export interface CacheSpec {
  /** Folder the cache files live in. */
  readonly dir: string;
  /** Names the image set and how images are made (e.g. "lfw", "lfw-degrade-s7"). */
  readonly variant: string;
  /** Loads one image by its name. */
  readonly load: (path: string) => Promise<RgbImage>;
  readonly pick: FacePicker;
  /** Landmarks to align with when no face is found (e.g. the mean LFW face); undefined: leave it empty. */
  readonly fallback?: (img: RgbImage) => Detection['landmarks'];
}

const CACHE_VERSION = 2;

/**
 * Cache file key: the profile's model entries (checksums and preprocessing), the detect size, the
 * variant and the cache format, so a manifest change never reads stale results.
 */
export function cacheKey(engine: FaceEngine, detectSize: number, variant: string): string {
  const p = engine.profile;
  const h = createHash('sha256')
    .update(JSON.stringify([CACHE_VERSION, p.detector, p.landmarker ?? null, p.recognizer, detectSize, variant]))
    .digest('hex')
    .slice(0, 12);
  return `${variant}-${p.name}-${detectSize}-${h}`;
}

interface Line {
  p: string;
  f: 0 | 1;
  x: 0 | 1;
  b: number[];
  l: number[];
  q: FaceQuality;
  t: [number, number, number];
  e: string;
  ef: string;
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

function toFace(l: Line): BenchFace {
  const pt = (i: number): Point => [l.l[2 * i]!, l.l[2 * i + 1]!];
  const landmarks: Detection['landmarks'] = [pt(0), pt(1), pt(2), pt(3), pt(4)];
  return {
    path: l.p,
    found: l.f === 1,
    empty: l.x === 1,
    box: [l.b[0]!, l.b[1]!, l.b[2]!, l.b[3]!],
    landmarks: [pt(0), pt(1), pt(2), pt(3), pt(4)],
    // Pose and eye distance are recomputed from the landmarks, so their definitions can be tuned without re-embedding.
    quality: { ...l.q, interEye: l.x === 1 ? 0 : interEyeDistance(landmarks), ...(l.x === 1 ? {} : headPose(landmarks)) },
    emb: float32FromBase64(l.e),
    embFlip: float32FromBase64(l.ef),
    ms: { detect: l.t[0], embed: l.t[1], flip: l.t[2] },
  };
}

function toLine(f: BenchFace): Line {
  return {
    p: f.path,
    f: f.found ? 1 : 0,
    x: f.empty ? 1 : 0,
    b: f.box.map(r2),
    l: f.landmarks.flatMap(([x, y]) => [r2(x), r2(y)]),
    q: { interEye: r2(f.quality.interEye), score: Math.round(f.quality.score * 1e4) / 1e4, sharpness: r2(f.quality.sharpness), yaw: r2(f.quality.yaw), pitch: r2(f.quality.pitch) },
    t: [r2(f.ms.detect), r2(f.ms.embed), r2(f.ms.flip)],
    e: base64Of(f.emb),
    ef: base64Of(f.embFlip),
  };
}

/** Runs one image through the engine: detect, pick the face, align, embed crop and mirror. */
export async function analyzeImage(engine: FaceEngine, spec: CacheSpec, path: string): Promise<BenchFace> {
  const t0 = performance.now();
  const img = await spec.load(path);
  const det = spec.pick(await engine.detect(img), img);
  const t1 = performance.now();
  let landmarks = det?.landmarks ?? spec.fallback?.(img);
  const empty = landmarks === undefined;
  const zeros = new Float32Array(engine.embedder.size);
  if (!landmarks) {
    landmarks = [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]];
    const q: FaceQuality = { interEye: 0, score: 0, sharpness: 0, yaw: 0, pitch: 0 };
    return { path, found: false, empty, box: [0, 0, 0, 0], landmarks, quality: q, emb: zeros, embFlip: zeros, ms: { detect: t1 - t0, embed: 0, flip: 0 } };
  }
  const d: Detection = det ?? { box: boxAround(landmarks), score: 0, landmarks };
  const aligned = engine.align(img, d);
  const [emb] = await engine.embedder.embed([aligned]);
  const t2 = performance.now();
  const [embFlip] = await engine.embedder.embed([mirror(aligned)]);
  const t3 = performance.now();
  return { path, found: det !== undefined, empty, box: d.box, landmarks, quality: measureQuality(d, aligned), emb: emb!, embFlip: embFlip!, ms: { detect: t1 - t0, embed: t2 - t1, flip: t3 - t2 } };
}

function boxAround(l: Detection['landmarks']): Box {
  const xs = l.map((p) => p[0]);
  const ys = l.map((p) => p[1]);
  const w = Math.max(...xs) - Math.min(...xs);
  return [Math.min(...xs) - 0.4 * w, Math.min(...ys) - 0.7 * w, Math.max(...xs) + 0.4 * w, Math.max(...ys) + 0.5 * w];
}

export interface FillProgress {
  readonly done: number;
  readonly total: number;
  readonly computed: number;
}

/**
 * The engine's result for every image in `paths`, from the cache where present; missing ones are
 * computed and appended to the cache file as they come (an interrupted run keeps its progress).
 */
export async function benchFaces(
  engine: FaceEngine,
  detectSize: number,
  spec: CacheSpec,
  paths: readonly string[],
  onProgress?: (p: FillProgress) => void,
): Promise<{ faces: Map<string, BenchFace>; file: string; computed: number }> {
  await mkdir(spec.dir, { recursive: true });
  const file = join(spec.dir, `${cacheKey(engine, detectSize, spec.variant)}.jsonl`);
  const faces = await readCache(file);
  await endWithNewline(file);
  const todo = [...new Set(paths)].filter((p) => !faces.has(p));
  let pending: string[] = [];
  let computed = 0;
  const flush = async (): Promise<void> => {
    if (pending.length) await appendFile(file, pending.join(''));
    pending = [];
  };
  for (const p of todo) {
    const f = await analyzeImage(engine, spec, p);
    faces.set(p, f);
    pending.push(`${JSON.stringify(toLine(f))}\n`);
    computed++;
    if (pending.length >= 200) await flush();
    if (onProgress && (computed % 250 === 0 || computed === todo.length)) onProgress({ done: paths.length - todo.length + computed, total: paths.length, computed });
  }
  await flush();
  return { faces, file, computed };
}

/** After a torn last line, start the next record on a line of its own. */
async function endWithNewline(file: string): Promise<void> {
  if (!existsSync(file)) return;
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 1);
    if (b[0] === 0x0a) return;
  } finally {
    await fh.close();
  }
  await appendFile(file, '\n');
}

async function readCache(file: string): Promise<Map<string, BenchFace>> {
  const out = new Map<string, BenchFace>();
  if (!existsSync(file)) return out;
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line) continue;
    try {
      const f = toFace(JSON.parse(line) as Line);
      out.set(f.path, f);
    } catch {
      // A torn last line from an interrupted run: that image is computed again.
    }
  }
  return out;
}
