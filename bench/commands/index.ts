import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { FaceEngine } from '../../src/inference/engine.js';
import { defaultHnsw } from '../../src/matcher/index.js';
import { matchThreshold } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { chooseProfile, modelsDirOf } from '../../src/runtime.js';
import { setup } from '../../src/cli/setup.js';
import { benchIndex } from '../index.js';

const int = (v: string): number => {
  const n = Number(v.replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
  if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number: ${v}`);
  return n;
};

/** `vigil bench index --subjects N [--json]`: build, save, load, recall@1 and latency of the watchlist index (bench/index.ts). */
export function register(bench: Command): void {
  bench
    .command('index')
    .description('watchlist index at scale: build time, memory, load time, recall@1 against exact search, search p50/p99 (synthetic look-alikes + real LFW embeddings)')
    .requiredOption('--subjects <n>', 'watchlist size (e.g. 10000, 100k, 1m)', int)
    .option('--queries <n>', 'queries (real LFW probes first, then synthetic)', int, 500)
    .option('--real <n>', 'real LFW people (gallery + probe photo each; their probes are the recall@1 queries)', int, 300)
    .option('--m <n>', 'HNSW M', int, defaultHnsw.m)
    .option('--ef-construction <n>', 'HNSW efConstruction', int, defaultHnsw.efConstruction)
    .option('--ef <n>', 'HNSW ef (search)', int, defaultHnsw.ef)
    .option('--data <dir>', 'LFW folder (default: <sharedDir>/data/lfw)')
    .option('--profile <name>', 'model profile whose embeddings are used')
    .option('--ef-sweep <list>', 'also search with these ef values (comma-separated), for tuning', (v) => v.split(',').map(int))
    .option('--synthetic <kind>', 'how synthetic subjects are made: mixture (two gallery faces plus noise) or people (a Gaussian fitted to one embedding each of --stats-people LFW people)', 'mixture')
    .option('--stats-people <n>', 'LFW people whose embeddings fit the people generator', int, 2000)
    .option('--order <order>', 'insertion order: real-first (the LFW gallery, then the synthetic subjects) or shuffled', 'real-first')
    .option('--seed <n>', 'random seed', int, 1)
    .option('--reuse', 'load the index an earlier run built with the same data and parameters (and its measured build), instead of building it again')
    .option('--json', 'one JSON object on the last stdout line')
    .action(async (o: { subjects: number; queries: number; real: number; m: number; efConstruction: number; ef: number; data?: string; profile?: string; seed: number; efSweep?: number[]; reuse?: boolean; json?: boolean; synthetic: string; statsPeople: number; order: string }, cmd: Command) => {
      if (o.order !== 'real-first' && o.order !== 'shuffled') throw new Error(`--order: "${o.order}" is not real-first or shuffled`);
      const order = o.order;
      if (o.synthetic !== 'mixture' && o.synthetic !== 'people') throw new Error(`--synthetic: "${o.synthetic}" is not mixture or people`);
      const synthetic = o.synthetic;
      const { cfg, log } = setup(cmd);
      const { manifest, name } = await chooseProfile(cfg, log, { profile: o.profile, fetch: false });
      const { resolved, files } = await requireProfile(manifest, modelsDirOf(cfg), name);
      // LFW photos are 250 px: letterboxed to 320 as the LFW benchmarks do.
      const engine = await FaceEngine.open(resolved, files, { provider: cfg.inference.provider, threads: cfg.inference.threads }, { detectSize: 320, flip: cfg.inference.flip });
      try {
        const r = await benchIndex({
          subjects: o.subjects,
          queries: o.queries,
          realPeople: o.real,
          params: { m: o.m, efConstruction: o.efConstruction, ef: o.ef },
          engine,
          lfwDir: resolve(o.data ?? join(cfg.sharedDir, 'data', 'lfw')),
          workDir: join(cfg.dataDir, 'bench', 'index'),
          seed: o.seed,
          sweep: o.efSweep,
          reuse: o.reuse,
          synthetic,
          statsPeople: o.statsPeople,
          order,
          threshold: matchThreshold(engine.profile.profile, cfg.matcher).threshold,
          progress: (l) => process.stderr.write(`${l}\n`),
        });
        const human = [
          `index of ${r.subjects} subjects (${r.dim}-d ${r.model}, M=${r.params.m} efConstruction=${r.params.efConstruction} ef=${r.params.ef}; ${r.real_people} real LFW people; synthetic: ${r.synthetic}, ${r.order})`,
          `  build ${r.build_s} s, +${r.rss_mb} MB RSS, file ${r.index_file_mb} MB, save ${r.save_s} s, load (sha256 checked) ${r.load_s} s, start-up with watchlist.db ${r.start_s} s`,
          `  recall@1 vs exact ${r.recall_at_1} over ${r.real_people} real LFW probes (${r.recall_at_1_matchable} over the ${r.matchable} whose best match reaches the threshold ${r.threshold}; ${r.recall_at_1_synthetic} over ${r.queries - r.real_people} synthetic near-duplicates); search p50 ${r.search_p50_ms} ms, p99 ${r.search_p99_ms} ms`,
        ];
        for (const l of human) (o.json ? process.stderr : process.stdout).write(`${l}\n`);
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await engine.close();
      }
    });
}
