import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FaceEngine } from '../src/inference/engine.js';
import { loadRgb } from '../src/inference/image-io.js';
import { faceSize } from '../src/inference/engine.js';
import { rng } from './metrics.js';
import { dot } from '../src/util/boxes.js';
import { SubjectIndex, openIndex, type HnswParams } from '../src/matcher/index.js';
import { WatchlistStore } from '../src/matcher/watchlist.js';

/**
 * `vigil bench index`: the watchlist index (SubjectIndex over hnswlib) at watchlist sizes no test
 * data set has. N subjects: real LFW gallery embeddings (one photo each of people with two or
 * more) plus synthetic faces (the normalised sum of two random gallery embeddings plus Gaussian
 * noise: they lie in the face-embedding region, spread rather than clustered). Queries: the other
 * LFW photo of each gallery person (real probes; recall_at_1 is theirs), then noisy copies of
 * random subjects (recall_at_1_synthetic: near-duplicates of a crowded region, a harder case).
 * recall@1 is against exact (brute force) search over the same vectors. The index is saved and
 * loaded the way `vigil start` does (sha256 checked before hnswlib reads the file).
 */
export interface IndexBenchOptions {
  readonly subjects: number;
  readonly queries: number;
  readonly params: HnswParams;
  readonly engine: FaceEngine;
  readonly lfwDir: string;
  /** real LFW people used (gallery + probe each) */
  readonly realPeople: number;
  readonly workDir: string;
  readonly seed: number;
  /** further ef values searched on the same index (tuning) */
  readonly sweep?: readonly number[];
  /** the operating point's match threshold: recall is also given over the probes whose exact best reaches it (those that can alert) */
  readonly threshold: number;
  /** load the index an earlier run with the same data and parameters built, instead of building it */
  readonly reuse?: boolean;
  /**
   * How synthetic subjects are made: `mixture` (default), the normalised sum of two random gallery
   * embeddings plus noise; `people`, drawn from a Gaussian with the mean and covariance of one
   * embedding each of `statsPeople` LFW people (distinct people, no shared parents).
   */
  readonly synthetic?: 'mixture' | 'people';
  readonly statsPeople?: number;
  /** Insertion order: the real gallery first (default), or everything shuffled (as enrollment order would mix them). */
  readonly order?: 'real-first' | 'shuffled';
  readonly progress: (line: string) => void;
}

export interface IndexBenchResult {
  readonly subjects: number;
  readonly dim: number;
  readonly model: string;
  readonly params: HnswParams;
  readonly real_people: number;
  /** how the synthetic subjects were made (IndexBenchOptions.synthetic) */
  readonly synthetic: 'mixture' | 'people';
  readonly order: 'real-first' | 'shuffled';
  readonly queries: number;
  readonly recall_at_1: number;
  readonly recall_at_1_synthetic: number;
  /** recall@1 over the real probes whose exact best similarity reaches the match threshold (those that can alert) */
  readonly recall_at_1_matchable: number;
  readonly matchable: number;
  readonly threshold: number;
  readonly search_p50_ms: number;
  readonly search_p99_ms: number;
  readonly build_s: number;
  readonly save_s: number;
  readonly load_s: number;
  /** what `vigil start` does with N subjects in watchlist.db and the saved index: openIndex (checksum, names and lists of every subject, negatives) */
  readonly start_s: number;
  /** resident memory the built index added to the process, MB */
  readonly rss_mb: number;
  readonly index_file_mb: number;
  readonly sweep: readonly { ef: number; recall_at_1: number; recall_at_1_matchable: number; recall_at_1_synthetic: number; search_p50_ms: number; search_p99_ms: number }[];
}

interface BuildRecord {
  readonly n: number;
  readonly seed: number;
  readonly real: number;
  readonly m: number;
  readonly efConstruction: number;
  /** absent for the default generator (records written before there was a choice) */
  readonly synthetic?: 'people';
  readonly order?: 'shuffled';
  readonly build_s: number;
  readonly rss_mb: number;
  readonly save_s: number;
}

async function readBuild(file: string, key: Omit<BuildRecord, 'build_s' | 'rss_mb' | 'save_s'>): Promise<BuildRecord | undefined> {
  const rec = (await readFile(file, 'utf8').then(JSON.parse, () => undefined)) as BuildRecord | undefined;
  const same = rec && (Object.keys(key) as (keyof typeof key)[]).every((k) => rec[k] === key[k]);
  return same ? rec : undefined;
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());
}

function normalise(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

/** base + noise of norm ~`spread` (cosine to base about 1/sqrt(1+spread^2)). */
function lookAlike(base: Float32Array, spread: number, r: () => number): Float32Array {
  const out = new Float32Array(base.length);
  const s = spread / Math.sqrt(base.length);
  for (let i = 0; i < out.length; i++) out[i] = base[i]! + gauss(r) * s;
  return normalise(out);
}

/** Embeddings of two photos each of LFW people with two or more, cached per model in workDir. */
async function realPairs(o: IndexBenchOptions): Promise<{ gallery: Float32Array[]; probes: Float32Array[] }> {
  const dim = o.engine.embedder.size;
  const cache = join(o.workDir, `real-${o.engine.model}-${o.realPeople}.f32`);
  if (existsSync(cache)) {
    const buf = await readFile(cache);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    const n = all.length / dim / 2;
    const at = (k: number): Float32Array => all.slice(k * dim, (k + 1) * dim);
    return { gallery: Array.from({ length: n }, (_, i) => at(2 * i)), probes: Array.from({ length: n }, (_, i) => at(2 * i + 1)) };
  }
  const people = readdirSync(o.lfwDir)
    .sort()
    .filter((p) => readdirSync(join(o.lfwDir, p)).length >= 2);
  const step = Math.max(1, Math.floor(people.length / o.realPeople));
  const gallery: Float32Array[] = [];
  const probes: Float32Array[] = [];
  for (let i = 0; i < people.length && gallery.length < o.realPeople; i += step) {
    const p = people[i]!;
    const files = readdirSync(join(o.lfwDir, p)).sort().slice(0, 2);
    const embs: Float32Array[] = [];
    for (const f of files) {
      const faces = await o.engine.analyze(await loadRgb(join(o.lfwDir, p, f)));
      // LFW photos are centred on their person: the most central of the large faces.
      const main = faces.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0];
      if (main) embs.push(main.embedding);
    }
    if (embs.length === 2) {
      gallery.push(embs[0]!);
      probes.push(embs[1]!);
    }
    if (gallery.length % 25 === 0) o.progress(`embedding LFW: ${gallery.length}/${o.realPeople} people`);
  }
  await mkdir(o.workDir, { recursive: true });
  const flat = new Float32Array(gallery.length * 2 * dim);
  gallery.forEach((g, i) => {
    flat.set(g, 2 * i * dim);
    flat.set(probes[i]!, (2 * i + 1) * dim);
  });
  await writeFile(cache, Buffer.from(flat.buffer));
  return { gallery, probes };
}

/** One embedding each (the first photo) of up to `count` LFW people spread over the alphabet, cached per model in workDir. */
async function peopleEmbeddings(o: IndexBenchOptions, count: number): Promise<Float32Array[]> {
  const dim = o.engine.embedder.size;
  const cache = join(o.workDir, `people-${o.engine.model}-${count}.f32`);
  if (existsSync(cache)) {
    const buf = await readFile(cache);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    return Array.from({ length: all.length / dim }, (_, i) => all.slice(i * dim, (i + 1) * dim));
  }
  const people = readdirSync(o.lfwDir).sort();
  const step = Math.max(1, people.length / count);
  const out: Float32Array[] = [];
  for (let i = 0; Math.floor(i) < people.length && out.length < count; i += step) {
    const p = people[Math.floor(i)]!;
    const file = readdirSync(join(o.lfwDir, p)).sort()[0];
    if (!file) continue;
    const faces = await o.engine.analyze(await loadRgb(join(o.lfwDir, p, file)));
    const main = faces.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0];
    if (main) out.push(main.embedding);
    if (out.length % 250 === 0) o.progress(`embedding LFW people for the synthetic faces' statistics: ${out.length}/${count}`);
  }
  o.progress(`embedding LFW people for the synthetic faces' statistics: ${out.length} people, done`);
  await mkdir(o.workDir, { recursive: true });
  const flat = new Float32Array(out.length * dim);
  out.forEach((v, i) => flat.set(v, i * dim));
  await writeFile(cache, Buffer.from(flat.buffer));
  return out;
}

/** Mean and lower Cholesky factor of the covariance of `xs` (with a small ridge, so it is positive definite). */
function gaussianOf(xs: readonly Float32Array[]): { mean: Float64Array; chol: Float64Array } {
  const d = xs[0]!.length;
  const m = xs.length;
  const mean = new Float64Array(d);
  for (const x of xs) for (let k = 0; k < d; k++) mean[k]! += x[k]! / m;
  const c = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (const x of xs) {
    for (let k = 0; k < d; k++) row[k] = x[k]! - mean[k]!;
    for (let i = 0; i < d; i++) {
      const ri = row[i]!;
      for (let j = 0; j <= i; j++) c[i * d + j]! += (ri * row[j]!) / (m - 1);
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += c[i * d + i]!;
  for (let i = 0; i < d; i++) c[i * d + i]! += (1e-3 * trace) / d;
  // Cholesky, lower triangle in place (Cholesky-Banachiewicz)
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = c[i * d + j]!;
      for (let k = 0; k < j; k++) s -= c[i * d + k]! * c[j * d + k]!;
      c[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / c[j * d + j]!;
    }
  }
  return { mean, chol: c };
}

/** A face drawn from the Gaussian (mean + L z), normalised, into `out`. */
function gaussianFace(g: { mean: Float64Array; chol: Float64Array }, r: () => number, z: Float64Array, out: Float32Array): Float32Array {
  const d = g.mean.length;
  for (let k = 0; k < d; k++) z[k] = gauss(r);
  for (let i = 0; i < d; i++) {
    let s = g.mean[i]!;
    const off = i * d;
    for (let k = 0; k <= i; k++) s += g.chol[off + k]! * z[k]!;
    out[i] = s;
  }
  return normalise(out);
}

/**
 * Start-up as `vigil start` does it: a watchlist.db holding the N subjects (written once, kept for
 * --reuse) and the index saved for it; openIndex verifies the checksum, loads the index and every
 * subject's name, lists and negatives. Returns its seconds.
 */
async function startUp(dir: string, index: SubjectIndex, data: Float32Array, n: number, dim: number, o: IndexBenchOptions): Promise<number> {
  const store = await new WatchlistStore(dir).load();
  try {
    if (store.count() !== n) {
      const at = new Date().toISOString();
      const t = performance.now();
      for (let from = 0; from < n; from += 10_000) {
        store.write(() => {
          for (let i = from; i < Math.min(n, from + 10_000); i++) {
            const image = `bench${String(i).padStart(59, '0')}`;
            const vector = Array.from(data.subarray(i * dim, (i + 1) * dim));
            store.putInTx({ id: `s${i}`, name: `Subject ${i}`, createdAt: at, updatedAt: at, images: [{ sha256: image, name: 'synthetic' }], embeddings: [{ model: o.engine.model, image, vector }] });
          }
        });
        if (from > 0 && from % 100_000 === 0) o.progress(`watchlist.db: ${from}/${n} subjects (${((performance.now() - t) / 1000).toFixed(0)} s)`);
      }
      await index.save(join(dir, 'index'), { instance: store.instance(), seq: store.head() });
    }
    const t = performance.now();
    const opened = await openIndex(join(dir, 'index'), store, o.engine.model, dim, o.params);
    const start_s = (performance.now() - t) / 1000;
    if (opened.how !== 'loaded') throw new Error(`start-up rebuilt the index instead of loading it: ${opened.reason}`);
    o.progress(`start-up with ${n} subjects in watchlist.db: index loaded (checksum verified, names and lists read) in ${start_s.toFixed(1)} s`);
    return start_s;
  } finally {
    store.close();
  }
}

/** The best dot product over every vector (all are L2-normalised), once per query. */
function exactSearch(data: Float32Array, n: number, dim: number, queries: readonly { v: Float32Array }[], progress: (l: string) => void): string[] {
  return queries.map((q, qi) => {
    let best = -1;
    let bestSim = -Infinity;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const off = i * dim;
      for (let k = 0; k < dim; k++) s += data[off + k]! * q.v[k]!;
      if (s > bestSim) (bestSim = s), (best = i);
    }
    if (qi > 0 && qi % 100 === 0) progress(`exact search: ${qi}/${queries.length}`);
    return `s${best}`;
  });
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const round = (v: number, d = 3): number => Math.round(v * 10 ** d) / 10 ** d;

export async function benchIndex(o: IndexBenchOptions): Promise<IndexBenchResult> {
  const r = rng(o.seed);
  const dim = o.engine.embedder.size;
  const { gallery, probes } = await realPairs(o);
  const n = Math.max(o.subjects, gallery.length);
  // Every vector in one flat matrix: the exact search's data, and the index's input.
  const data = new Float32Array(n * dim);
  gallery.forEach((g, i) => data.set(g, i * dim));
  const generator = o.synthetic ?? 'mixture';
  const mix = new Float32Array(dim);
  if (generator === 'people') {
    const g = gaussianOf(await peopleEmbeddings(o, o.statsPeople ?? 2000));
    const z = new Float64Array(dim);
    for (let i = gallery.length; i < n; i++) data.set(gaussianFace(g, r, z, mix), i * dim);
  } else {
    for (let i = gallery.length; i < n; i++) {
      const a = gallery[Math.floor(r() * gallery.length)]!;
      const b = gallery[Math.floor(r() * gallery.length)]!;
      for (let k = 0; k < dim; k++) mix[k] = a[k]! + b[k]!;
      data.set(lookAlike(normalise(mix), 1.0, r), i * dim);
    }
  }
  const queries: { v: Float32Array; real: boolean }[] = probes.map((v) => ({ v, real: true }));
  while (queries.length < o.queries) {
    const i = Math.floor(r() * n);
    queries.push({ v: lookAlike(data.subarray(i * dim, (i + 1) * dim), 0.8, r), real: false });
  }

  // A built index is kept with what its build measured: `--reuse` measures load and search again
  // (on an idle machine, say) without the hour a million-subject build takes here.
  // one folder per data and graph parameters, so builds with other parameters sit side by side
  const order = o.order ?? 'real-first';
  const dir = join(o.workDir, `index-${n}-m${o.params.m}-efc${o.params.efConstruction}${generator === 'mixture' ? '' : `-${generator}`}${order === 'real-first' ? '' : `-${order}`}`);
  const sidecar = join(dir, 'bench.json');
  const key = { n, seed: o.seed, real: gallery.length, m: o.params.m, efConstruction: o.params.efConstruction, ...(generator === 'mixture' ? {} : { synthetic: generator }), ...(order === 'real-first' ? {} : { order }) };
  const kept = o.reuse ? await readBuild(sidecar, key) : undefined;
  let build: BuildRecord;
  if (kept) {
    build = kept;
    o.progress(`reusing the index built earlier (build ${kept.build_s.toFixed(1)} s)`);
  } else {
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const idx = new SubjectIndex(o.engine.model, dim, n + 16, o.params);
    const row = new Array<number>(dim);
    const perm = Uint32Array.from({ length: n }, (_, i) => i);
    if (order === 'shuffled') {
      const rs = rng(o.seed + 1);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rs() * (i + 1));
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
    }
    for (let i = 0; i < n; i++) {
      const at = perm[i]!;
      for (let k = 0; k < dim; k++) row[k] = data[at * dim + k]!;
      idx.upsertVectors(`s${at}`, `s${at}`, [row]);
      if (i > 0 && i % 50_000 === 0) o.progress(`building: ${i}/${n} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    }
    const build_s = (performance.now() - t0) / 1000;
    global.gc?.();
    const rss_mb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    o.progress(`built ${n} in ${build_s.toFixed(1)} s`);
    await rm(dir, { recursive: true, force: true });
    const t1 = performance.now();
    await idx.save(dir, { instance: 'bench', seq: 0 });
    const save_s = (performance.now() - t1) / 1000;
    build = { ...key, build_s, rss_mb, save_s };
    await writeFile(sidecar, JSON.stringify(build));
  }
  const { build_s, rss_mb, save_s } = build;
  const index_file_mb = (await stat(join(dir, 'index.hnsw'))).size / 2 ** 20;
  const t2 = performance.now();
  const loaded = await SubjectIndex.load(dir, o.engine.model, dim, 'bench', () => new Map());
  const load_s = (performance.now() - t2) / 1000;
  if (!('index' in loaded)) throw new Error(`saved index did not load: ${loaded.reason}`);
  const index = loaded.index;
  o.progress(`saved in ${save_s.toFixed(1)} s, loaded (sha256 checked) in ${load_s.toFixed(1)} s`);

  const start_s = await startUp(join(dir, 'store'), index, data, n, dim, o);

  // exact: the best dot product over every vector (all are L2-normalised), once per query; kept
  // beside the index (the data and queries follow from the seed)
  const exactFile = join(dir, `exact-${queries.length}.json`);
  const exact = ((kept && (await readFile(exactFile, 'utf8').then(JSON.parse, () => undefined))) as string[] | undefined) ?? exactSearch(data, n, dim, queries, o.progress);
  await writeFile(exactFile, JSON.stringify(exact));
  const synthetic = queries.length - probes.length;
  const vectorOf = (id: string): Float32Array => data.subarray(Number(id.slice(1)) * dim, (Number(id.slice(1)) + 1) * dim);
  const exactSim = queries.map((q, qi) => dot(q.v, vectorOf(exact[qi]!)));
  const measure = (ef: number): { ef: number; matchable: number; recall_at_1_matchable: number; recall_at_1: number; recall_synthetic: number; search_p50_ms: number; search_p99_ms: number } => {
    index.setEf(ef);
    let hits = 0;
    let realHits = 0;
    const lat: number[] = [];
    const gaps: [number, number][] = [];
    let matchable = 0;
    let matchableHits = 0;
    for (const [qi, q] of queries.entries()) {
      const ts = performance.now();
      const top = index.search(q.v, 1)[0];
      lat.push(performance.now() - ts);
      const canAlert = q.real && exactSim[qi]! >= o.threshold;
      if (canAlert) matchable++;
      if (top?.subject.id === exact[qi]) {
        hits++;
        if (q.real) realHits++;
        if (canAlert) matchableHits++;
      } else if (q.real) {
        // How close the answer was: a near tie with the exact best is a different kind of miss than a far one.
        gaps.push([exactSim[qi]!, top ? dot(q.v, vectorOf(top.subject.id)) : NaN]);
      }
    }
    if (gaps.length) o.progress(`ef ${ef}: ${gaps.length} real probe(s) missed (similarity of the exact best / of the found): ${gaps.map(([e, f]) => `${e.toFixed(3)}/${f.toFixed(3)}`).join(', ')}`);
    return { ef, matchable, recall_at_1_matchable: round(matchableHits / Math.max(1, matchable), 4), recall_at_1: round(realHits / Math.max(1, probes.length), 4), recall_synthetic: round((hits - realHits) / Math.max(1, synthetic), 4), search_p50_ms: round(quantile(lat, 0.5)), search_p99_ms: round(quantile(lat, 0.99)) };
  };
  const sweep = (o.sweep ?? []).map((ef) => {
    const m = measure(ef);
    o.progress(`ef ${ef}: recall@1 ${m.recall_at_1} (of those that can alert ${m.recall_at_1_matchable}; synthetic ${m.recall_synthetic}), p50 ${m.search_p50_ms} ms, p99 ${m.search_p99_ms} ms`);
    return { ef, recall_at_1: m.recall_at_1, recall_at_1_matchable: m.recall_at_1_matchable, recall_at_1_synthetic: m.recall_synthetic, search_p50_ms: m.search_p50_ms, search_p99_ms: m.search_p99_ms };
  });
  const main = measure(o.params.ef);
  return {
    subjects: n,
    dim,
    model: o.engine.model,
    params: o.params,
    real_people: gallery.length,
    synthetic: generator,
    order,
    queries: queries.length,
    recall_at_1: main.recall_at_1,
    recall_at_1_synthetic: main.recall_synthetic,
    recall_at_1_matchable: main.recall_at_1_matchable,
    matchable: main.matchable,
    threshold: o.threshold,
    search_p50_ms: main.search_p50_ms,
    search_p99_ms: main.search_p99_ms,
    build_s: round(build_s, 1),
    save_s: round(save_s, 2),
    load_s: round(load_s, 2),
    start_s: round(start_s, 2),
    rss_mb: Math.round(rss_mb),
    index_file_mb: Math.round(index_file_mb),
    sweep,
  };
}
