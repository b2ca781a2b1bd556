import type { SubjectRecord } from '../src/contracts/messages.js';
import { l2normalize } from '../src/inference/embedder.js';
import type { FaceEngine } from '../src/inference/engine.js';
import { SubjectIndex } from '../src/matcher/index.js';
import { VigilError } from '../src/errors.js';
import { benchFaces, faceEmbedding, type BenchFace, type CacheSpec, type FillProgress } from './face-cache.js';
import { listPeople, mergeSamePerson } from './lfw-data.js';
import { lfwSpec, msPerImage, type MsPerImage } from './lfw.js';
import { operatingPoint, rng, shuffled, type MatedSearch, type OperatingPoint } from './metrics.js';

/**
 * Open-set watchlist identification on LFW. From the people with 2+ images, `identities` are drawn
 * (seeded) and enrolled with `galleryImages` image(s) each; their other images are mated probes.
 * Every image of the never-enrolled people is an impostor probe. Each probe is searched in the
 * matcher's own SubjectIndex (hnswlib) exactly as the pipeline searches a face.
 */
export interface WatchlistSplit {
  /** name -> gallery image paths */
  readonly gallery: Map<string, string[]>;
  readonly mated: { readonly path: string; readonly subject: string }[];
  readonly impostors: string[];
}

export interface SplitOptions {
  readonly identities: number;
  readonly seed: number;
  readonly galleryImages?: number;
  /**
   * Reserve the first `holdOut` photos of each person (seeded order) for enrollment even if fewer are
   * enrolled: people need more than that many photos and probes are the rest, so runs with different
   * `galleryImages` compare on the same people and probes. Default: `galleryImages`.
   */
  readonly holdOut?: number;
  /** Keep at most this many mated probes per identity (seeded choice); default all. */
  readonly probesPerIdentity?: number;
  /** Keep at most this many impostor probes (seeded choice); default all. */
  readonly impostors?: number;
}

/**
 * The seeded split. Only people with more than `galleryImages` images can be enrolled (each needs a
 * probe); `usable(path)` says whether an image may be a gallery image (the enrollment command refuses
 * photos without a face, so the split skips them too).
 */
export function splitWatchlist(people: ReadonlyMap<string, readonly string[]>, o: SplitOptions, usable: (path: string) => boolean = () => true): WatchlistSplit {
  const k = o.galleryImages ?? 1;
  const reserved = Math.max(k, o.holdOut ?? k);
  const eligible = [...people.keys()].filter((n) => people.get(n)!.length > reserved).sort();
  if (o.identities > eligible.length) {
    throw new VigilError('VIGIL_ERR_BENCH_DATA', { dir: 'LFW', reason: `${o.identities} identities asked for, only ${eligible.length} people have more than ${reserved} image(s)` });
  }
  const rand = rng(o.seed);
  const chosen = shuffled(eligible, rand).slice(0, o.identities).sort();
  const gallery = new Map<string, string[]>();
  const mated: { path: string; subject: string }[] = [];
  for (const name of chosen) {
    const imgs = shuffled(people.get(name)!, rand);
    const g = imgs.filter(usable).slice(0, k);
    if (g.length === 0) g.push(imgs[0]!); // no usable photo at all: enroll the first anyway (counted by the caller)
    gallery.set(name, g);
    let probes = imgs.slice(reserved).filter((p) => !g.includes(p));
    if (o.probesPerIdentity !== undefined) probes = probes.slice(0, o.probesPerIdentity);
    for (const p of probes) mated.push({ path: p, subject: name });
  }
  let impostors = [...people.entries()].filter(([n]) => !gallery.has(n)).flatMap(([, imgs]) => imgs);
  if (o.impostors !== undefined && o.impostors < impostors.length) impostors = shuffled(impostors, rand).slice(0, o.impostors).sort();
  return { gallery, mated, impostors };
}

export type Combine = 'max' | 'mean';

/**
 * Watchlist records as enrollment makes them. 'max': one embedding per image, a subject scores its
 * best one (what Vigil stores and SubjectIndex searches). 'mean': one normalised mean embedding.
 */
export function galleryRecords(gallery: ReadonlyMap<string, readonly string[]>, emb: (path: string) => Float32Array, model: string, combine: Combine): SubjectRecord[] {
  const now = new Date(0).toISOString();
  return [...gallery.entries()].map(([name, paths]) => {
    let vectors = paths.map((p) => ({ image: p, v: emb(p) }));
    if (combine === 'mean' && vectors.length > 1) {
      const sum = new Float32Array(vectors[0]!.v.length);
      for (const { v } of vectors) for (let i = 0; i < sum.length; i++) sum[i]! += v[i]!;
      vectors = [{ image: 'mean', v: l2normalize(sum) }];
    }
    return {
      id: name,
      name,
      createdAt: now,
      updatedAt: now,
      images: paths.map((p) => ({ sha256: p, name: p })),
      embeddings: vectors.map(({ image, v }) => ({ model, image, vector: Array.from(v) })),
    };
  });
}

export interface SearchOutcome {
  readonly mated: (MatedSearch & { readonly path: string; readonly subject: string; readonly found: string | null })[];
  /** Rank-1 similarity of each impostor probe (-1: no face detected, so no search). */
  readonly impostorTop: number[];
  readonly impostorPaths: string[];
  readonly searchMs: number;
}

/** Searches every probe in `index`; a probe whose face was not detected makes no search (no alert). */
export function searchProbes(index: SubjectIndex, split: WatchlistSplit, face: (path: string) => BenchFace, emb: (path: string) => Float32Array): SearchOutcome {
  let searches = 0;
  let ms = 0;
  const top = (path: string): { id: string | null; score: number } => {
    if (!face(path).found) return { id: null, score: -1 };
    const v = emb(path);
    const t0 = performance.now();
    const c = index.search(v, 1)[0];
    ms += performance.now() - t0;
    searches++;
    return c ? { id: c.subject.id, score: c.similarity } : { id: null, score: -1 };
  };
  const mated = split.mated.map((m) => {
    const r = top(m.path);
    return { path: m.path, subject: m.subject, found: r.id, correct: r.id === m.subject, score: r.score };
  });
  const impostorTop = split.impostors.map((p) => top(p).score);
  return { mated, impostorTop, impostorPaths: split.impostors, searchMs: searches ? ms / searches : 0 };
}

export interface IdentOptions extends SplitOptions {
  readonly engine: FaceEngine;
  readonly lfwDir: string;
  readonly cacheDir: string;
  readonly detectSize: number;
  readonly flip: boolean;
  readonly combine?: Combine;
  /** FPIRs of the calibration table; 1e-2 and 1e-3 are always included. */
  readonly fpirs?: readonly number[];
  readonly onProgress?: (p: FillProgress) => void;
  /** Image set; default the clean LFW set of {@link lfwSpec}. */
  readonly spec?: CacheSpec;
}

export interface IdentResult {
  readonly bench: 'ident';
  readonly profile: string;
  readonly flip: boolean;
  readonly identities: number;
  readonly seed: number;
  readonly gallery_images: number;
  readonly combine: Combine;
  readonly probes: number;
  readonly impostors: number;
  /** LFW names merged as one person (LFW_SAME_PERSON) before the draw. */
  readonly same_person_merged: number;
  readonly no_face: { readonly gallery: number; readonly probes: number; readonly impostors: number };
  readonly rank1: number;
  readonly tpir_at_fpir_1e2: number;
  readonly tpir_at_fpir_1e3: number;
  readonly threshold_at_fpir_1e2: number;
  readonly threshold_at_fpir_1e3: number;
  readonly calibration: OperatingPoint[];
  readonly search_ms_per_probe: number;
  readonly ms_per_image: MsPerImage;
}

export const CALIBRATION_FPIRS = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3] as const;

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

/**
 * The split, with gallery images that have a detectable face: images are embedded as the split
 * needs them (a gallery photo without a face moves the choice to the person's next photo, which
 * may then need embedding too), so a quick run embeds only what it uses.
 */
export async function resolveSplit(
  people: ReadonlyMap<string, readonly string[]>,
  o: SplitOptions,
  fill: (paths: string[]) => Promise<Map<string, BenchFace>>,
  probesOf: (s: WatchlistSplit) => string[] = (s) => [...s.mated.map((m) => m.path), ...s.impostors],
): Promise<{ split: WatchlistSplit; faces: Map<string, BenchFace> }> {
  let faces = new Map<string, BenchFace>();
  for (let round = 0; ; round++) {
    const split = splitWatchlist(people, o, (p) => faces.get(p)?.found ?? true);
    const paths = [...[...split.gallery.values()].flat(), ...probesOf(split)];
    if (round > 0 && paths.every((p) => faces.has(p))) return { split, faces };
    faces = await fill(paths);
  }
}

export async function benchIdent(o: IdentOptions): Promise<IdentResult> {
  const { people, merged } = mergeSamePerson(await listPeople(o.lfwDir));
  const spec = o.spec ?? lfwSpec(o.lfwDir, o.cacheDir);
  const { split, faces } = await resolveSplit(people, o, async (paths) => (await benchFaces(o.engine, o.detectSize, spec, paths, o.onProgress)).faces);
  const face = (p: string): BenchFace => faces.get(p)!;
  const emb = (p: string): Float32Array => faceEmbedding(face(p), o.flip);
  const combine = o.combine ?? 'max';
  const index = SubjectIndex.build(o.engine.model, o.engine.embedder.size, galleryRecords(split.gallery, emb, o.engine.model, combine));
  const out = searchProbes(index, split, face, emb);
  const fpirs = [...new Set([...(o.fpirs ?? CALIBRATION_FPIRS), 1e-2, 1e-3])].sort((a, b) => b - a);
  const points = fpirs.map((f) => operatingPoint(out.mated, out.impostorTop, f)).map((p) => ({ ...p, fpir: Math.round(p.fpir * 1e6) / 1e6, tpir: r4(p.tpir) }));
  const at = (f: number): OperatingPoint => points.find((p) => p.targetFpir === f)!;
  const galleryPaths = [...split.gallery.values()].flat();
  return {
    bench: 'ident',
    profile: o.engine.profile.name,
    flip: o.flip,
    identities: split.gallery.size,
    seed: o.seed,
    gallery_images: o.galleryImages ?? 1,
    combine,
    probes: split.mated.length,
    impostors: split.impostors.length,
    same_person_merged: merged,
    no_face: {
      gallery: galleryPaths.filter((p) => !face(p).found).length,
      probes: split.mated.filter((m) => !face(m.path).found).length,
      impostors: split.impostors.filter((p) => !face(p).found).length,
    },
    rank1: r4(out.mated.filter((m) => m.correct).length / Math.max(1, out.mated.length)),
    tpir_at_fpir_1e2: at(1e-2).tpir,
    tpir_at_fpir_1e3: at(1e-3).tpir,
    threshold_at_fpir_1e2: at(1e-2).threshold,
    threshold_at_fpir_1e3: at(1e-3).threshold,
    calibration: points,
    search_ms_per_probe: Math.round(out.searchMs * 1000) / 1000,
    ms_per_image: msPerImage([...galleryPaths, ...split.mated.map((m) => m.path), ...split.impostors].map(face), o.flip),
  };
}
