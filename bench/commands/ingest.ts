import type { Command } from 'commander';
import { loadConfig } from '../../src/config/load.js';
import { benchIngest, VARIANTS } from '../ingest.js';

const list = (v: string): number[] => v.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);

export function register(bench: Command): void {
  bench
    .command('ingest')
    .description('how many simulated RTSP cameras (720p, 25 fps, sampled at 5 fps) this machine ingests without falling behind, CPU per camera, per decoding choice')
    .option('--variants <names>', `comma-separated: ${VARIANTS.map((v) => v.name).join(', ')}`, VARIANTS.map((v) => v.name).join(','))
    .option('--cameras <list>', 'camera counts to try, ascending; a variant stops at the first count it cannot keep up with', '1,2,4,8,12,16,24,32,48')
    .option('--fps <n>', 'frames sampled per second per camera', (v) => Number(v), 5)
    .option('--seconds <n>', 'measuring window per step, s', (v) => Number(v), 10)
    .option('--json', 'print the report as one JSON line on stdout')
    .action(async (opts: { variants: string; cameras: string; fps: number; seconds: number; json?: boolean }, cmd: Command) => {
      const cfg = loadConfig(cmd.optsWithGlobals<{ config?: string }>().config);
      const r = await benchIngest({
        variants: opts.variants.split(',').map((s) => s.trim()).filter(Boolean),
        cameras: list(opts.cameras),
        fps: opts.fps,
        seconds: opts.seconds,
        sharedDir: cfg.sharedDir,
        progress: (l) => process.stderr.write(`${l}\n`),
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const out = (l: string) => process.stdout.write(`${l}\n`);
      out(`source: ${r.source}; sampled at ${opts.fps} fps; ${r.cores} cores; load average before: ${r.loadBefore.map((x) => x.toFixed(2)).join(' ')}`);
      out('variant       cams  fps min/mean  lag+ s  CPU/cam %  ffmpeg/cam %  node %  server %  machine busy %  kept up');
      for (const s of r.results) {
        out(
          `${s.variant.padEnd(12)} ${String(s.cameras).padStart(5)}  ${s.fpsMin.toFixed(2).padStart(5)}/${s.fpsMean.toFixed(2).padEnd(5)}  ${s.lagGrowthS.toFixed(2).padStart(6)}  ${s.cpuPerCamera.toFixed(1).padStart(9)}  ${s.ffmpegCpuPerCamera.toFixed(1).padStart(12)}  ${s.nodeCpu.toFixed(0).padStart(6)}  ${s.serverCpu.toFixed(0).padStart(8)}  ${s.machineBusy.toFixed(0).padStart(14)}  ${s.keptUp ? 'yes' : 'NO'}`,
        );
      }
      out('most cameras kept up with:');
      for (const v of VARIANTS) if (v.name in r.maxCameras) out(`  ${v.name.padEnd(12)} ${String(r.maxCameras[v.name]).padStart(3)}   ${v.what}`);
    });
}
