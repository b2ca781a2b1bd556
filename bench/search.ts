import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../src/config/schema.js';
import type { Logger } from '../src/log.js';
import { openEngine } from '../src/runtime.js';
import { indexRecording } from '../src/search/indexer.js';
import { AppearanceIndex, blob } from '../src/search/store.js';
import { rng } from './metrics.js';

export interface SearchBenchOptions {
  readonly cfg: Config;
  readonly log: Logger;
  /** recording to index for the indexing speed */
  readonly recording: string;
  readonly fps: number;
  readonly profile?: string;
  /** stored appearance counts to measure search latency at */
  readonly sizes: readonly number[];
  /** vector size of the synthetic appearances (default: the profile's embedding size) */
  readonly dim?: number;
  readonly queries: number;
  readonly progress: (line: string) => void;
}

export interface SearchBenchReport {
  readonly profile: string;
  readonly cores: number;
  readonly loadBefore: readonly number[];
  readonly indexing: { readonly recording: string; readonly videoSeconds: number; readonly wallSeconds: number; readonly videoSecondsPerSecond: number; readonly cpuSeconds: number; readonly videoSecondsPerCpuSecond: number; readonly appearances: number; readonly fps: number };
  readonly search: readonly {
    readonly appearances: number;
    readonly dim: number;
    readonly insertSeconds: number;
    readonly buildSeconds: number;
    readonly loadSeconds: number;
    readonly p50Ms: number;
    readonly p95Ms: number;
    readonly maxMs: number;
    readonly filteredP50Ms: number;
    readonly recallAt10: number;
  }[];
}

const gauss = (r: () => number): number => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

/**
 * Face-like synthetic appearances: people as random directions, each appearance one of them plus
 * noise (cosine ~0.6-0.7 to its person, as real embeddings of one person across frames and days).
 */
function* synthetic(n: number, dim: number, seed: number): Generator<Float32Array> {
  const r = rng(seed);
  const people = Math.max(1, Math.round(n / 20));
  const centres: Float32Array[] = [];
  for (let p = 0; p < Math.min(people, 50_000); p++) centres.push(unit(Float32Array.from({ length: dim }, () => gauss(r))));
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(r() * centres.length)]!;
    const v = new Float32Array(dim);
    for (let d = 0; d < dim; d++) v[d] = c[d]! + 0.85 * gauss(r) / Math.sqrt(dim);
    yield unit(v);
  }
}

/** CPU seconds of this process's finished children (ffmpeg), from /proc (0 where there is none). */
function childCpu(): number {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** Synthetic appearances straight into the index's tables (one transaction per batch); the graph picks them up at load(). */
function addSynthetic(idx: AppearanceIndex, recordingId: number, camera: string, vectors: readonly Float32Array[], t0: number): void {
  const insApp = idx.db.prepare(
    "INSERT INTO appearances (recording_id, camera, track, first_at, last_at, first_media, last_media, best_at, best_media, box, faces, score, crop) VALUES (?, ?, 'synthetic', ?, ?, 0, 0, ?, 0, '[0,0,1,1]', 1, 1, x'')",
  );
  const insVec = idx.db.prepare('INSERT INTO vectors (appearance_id, vector) VALUES (?, ?)');
  idx.db.transaction(() => {
    vectors.forEach((v, i) => {
      const aid = Number(insApp.run(recordingId, camera, t0 + i, t0 + i, t0 + i).lastInsertRowid);
      insVec.run(aid, blob(v));
    });
  })();
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/** `vigil bench search`: indexing speed on a real recording with real models, and search latency over many stored appearances. */
export async function benchSearch(o: SearchBenchOptions): Promise<SearchBenchReport> {
  const loadBefore = loadavg();
  const work = await mkdtemp(join(tmpdir(), 'vigil-bench-search-'));
  try {
    const engine = await openEngine(o.cfg, o.log, { profile: o.profile, fetch: false });
    let indexing: SearchBenchReport['indexing'];
    try {
      const idx = new AppearanceIndex(join(work, 'real'), engine.model, engine.embedder.size);
      o.progress(`indexing ${o.recording} at ${o.fps} fps with ${engine.profile.name}`);
      // CPU time too (this process and the ffmpeg it waits for): on a shared machine wall time says more about the neighbours.
      const cpu0 = process.cpuUsage();
      const child0 = childCpu();
      const r = await indexRecording({ cfg: o.cfg, log: o.log, engine, index: idx, file: o.recording, fps: o.fps });
      const c = process.cpuUsage(cpu0);
      const cpuSeconds = (c.user + c.system) / 1e6 + (childCpu() - child0);
      idx.close();
      indexing = { recording: o.recording, videoSeconds: r.videoSeconds, wallSeconds: r.wallSeconds, videoSecondsPerSecond: r.videoSeconds / r.wallSeconds, cpuSeconds, videoSecondsPerCpuSecond: r.videoSeconds / cpuSeconds, appearances: r.appearances, fps: o.fps };
    } finally {
      await engine.close();
    }
    const dim = o.dim ?? engine.embedder.size;
    const search: SearchBenchReport['search'][number][] = [];
    for (const n of o.sizes) {
      const dir = join(work, `synthetic-${n}`);
      const idx = new AppearanceIndex(dir, 'synthetic', dim);
      const rec = idx.addRecording({ sha256: `synthetic-${n}`, file: 'synthetic', bytes: 0, camera: 'cam0', duration: null, fps: 0, frames: 0, status: 'complete' }, []);
      o.progress(`${n} synthetic appearances (${dim}-d): storing`);
      let t = performance.now();
      const gen = synthetic(n, dim, 7);
      const sample: Float32Array[] = [];
      for (let done = 0; done < n; ) {
        const batch: Float32Array[] = [];
        for (let i = 0; i < 20_000 && done < n; i++, done++) {
          const v = gen.next().value as Float32Array;
          if (done % Math.max(1, Math.floor(n / 200)) === 0) sample.push(v);
          batch.push(v);
        }
        addSynthetic(idx, rec, done % 2 ? 'cam0' : 'cam1', batch, Date.UTC(2026, 0, 1) + done);
      }
      const insertSeconds = (performance.now() - t) / 1000;
      o.progress(`${n}: building the HNSW graph`);
      t = performance.now();
      idx.load();
      const buildSeconds = (performance.now() - t) / 1000;
      idx.close();
      // A fresh open, as a search command does: the graph is read from disk, not rebuilt.
      t = performance.now();
      const fresh = new AppearanceIndex(dir, 'synthetic', dim);
      fresh.load();
      fresh.search(sample[0]!, 50); // also loads the label -> appearance table
      const loadSeconds = (performance.now() - t) / 1000;
      const r = rng(99);
      const queries = Array.from({ length: o.queries }, (_, i) => {
        // a new face of a stored person: a stored appearance plus fresh noise
        const base = sample[i % sample.length]!;
        return unit(Float32Array.from(base, (x) => x + (0.5 * gauss(r)) / Math.sqrt(dim)));
      });
      const lat: number[] = [];
      for (const q of queries) {
        const s = performance.now();
        fresh.search(q, 50);
        lat.push(performance.now() - s);
      }
      const filtered: number[] = [];
      for (const q of queries.slice(0, Math.min(50, queries.length))) {
        const s = performance.now();
        fresh.search(q, 50, { cameras: ['cam1'] });
        filtered.push(performance.now() - s);
      }
      // recall@10 against exact search over the stored vectors, on a few queries
      const exactN = Math.min(10, queries.length);
      let hit = 0;
      const rows = fresh.db.prepare('SELECT appearance_id AS a, vector FROM vectors').raw(false);
      const top = queries.slice(0, exactN).map(() => [] as { a: number; s: number }[]);
      for (const row of rows.iterate() as Iterable<{ a: number; vector: Buffer }>) {
        const v = new Float32Array(row.vector.buffer, row.vector.byteOffset, dim);
        top.forEach((list, qi) => {
          const q = queries[qi]!;
          let s = 0;
          for (let d = 0; d < dim; d++) s += q[d]! * v[d]!;
          if (list.length < 10 || s > list[9]!.s) {
            list.push({ a: row.a, s });
            list.sort((x, y) => y.s - x.s);
            if (list.length > 10) list.pop();
          }
        });
      }
      top.forEach((list, qi) => {
        const got = new Set(fresh.search(queries[qi]!, 10).map((h) => h.appearance));
        hit += list.filter((x) => got.has(x.a)).length;
      });
      fresh.close();
      await rm(dir, { recursive: true, force: true });
      const row = { appearances: n, dim, insertSeconds, buildSeconds, loadSeconds, p50Ms: pct(lat, 0.5), p95Ms: pct(lat, 0.95), maxMs: Math.max(...lat), filteredP50Ms: pct(filtered, 0.5), recallAt10: hit / (exactN * 10) };
      o.progress(`${n}: search p50 ${row.p50Ms.toFixed(2)} ms, p95 ${row.p95Ms.toFixed(2)} ms, recall@10 ${row.recallAt10.toFixed(3)}`);
      search.push(row);
    }
    return { profile: engine.profile.name, cores: cpus().length, loadBefore, indexing, search };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
