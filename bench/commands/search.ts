import { join } from 'node:path';
import type { Command } from 'commander';
import { setup } from '../../src/cli/setup.js';
import { benchSearch } from '../search.js';

const list = (v: string): number[] => v.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);

/** `vigil bench search`, added to the bench group. */
export function register(bench: Command): void {
  bench
    .command('search')
    .description('forensic search: indexing speed (video seconds per second) on a real recording, and search latency over 100k / 1M stored appearances')
    .option('--recording <file>', 'recording to index (default: the hamilton clip in the shared data)')
    .option('--fps <n>', 'frames sampled per second when indexing', (v) => Number(v), 5)
    .option('--sizes <list>', 'stored appearance counts to measure search at', '100000,1000000')
    .option('--dim <n>', 'vector size of the synthetic appearances (default: the profile\'s embedding size)', (v) => Number(v))
    .option('--queries <n>', 'searches timed per size', (v) => Number(v), 200)
    .option('--profile <name>', 'model profile')
    .option('--json', 'print the report as one JSON line on stdout')
    .action(async (opts: { recording?: string; fps: number; sizes: string; dim?: number; queries: number; profile?: string; json?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      const recording = opts.recording ?? join(cfg.sharedDir, 'data', 'faces', 'face_recognition', '_video', 'short_hamilton_clip.mp4');
      const r = await benchSearch({ cfg, log, recording, fps: opts.fps, profile: opts.profile, sizes: list(opts.sizes), dim: opts.dim, queries: opts.queries, progress: (l) => process.stderr.write(`${l}\n`) });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const out = (l: string): void => void process.stdout.write(`${l}\n`);
      out(`profile ${r.profile}; ${r.cores} cores; load average before: ${r.loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
      const i = r.indexing;
      out(`indexing: ${i.videoSeconds.toFixed(1)} s of video in ${i.wallSeconds.toFixed(1)} s = ${i.videoSecondsPerSecond.toFixed(2)} video s per s; ${i.cpuSeconds.toFixed(1)} CPU s = ${i.videoSecondsPerCpuSecond.toFixed(2)} video s per CPU s (${i.fps} fps sampled, ${i.appearances} appearances)`);
      out('appearances  dim  store s  build s  open s  search p50 ms  p95 ms  max ms  filtered p50 ms  recall@10');
      for (const s of r.search) {
        out(`${String(s.appearances).padStart(11)}  ${String(s.dim).padStart(3)}  ${s.insertSeconds.toFixed(1).padStart(7)}  ${s.buildSeconds.toFixed(1).padStart(7)}  ${s.loadSeconds.toFixed(1).padStart(6)}  ${s.p50Ms.toFixed(2).padStart(13)}  ${s.p95Ms.toFixed(2).padStart(6)}  ${s.maxMs.toFixed(2).padStart(6)}  ${s.filteredP50Ms.toFixed(2).padStart(15)}  ${s.recallAt10.toFixed(3).padStart(9)}`);
      }
    });
}
