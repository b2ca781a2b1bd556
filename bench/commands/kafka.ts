import { cpus } from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, setRootLogger } from '../../src/log.js';
import { benchEmbedded, benchKafka, formatBench } from '../kafka.js';
import { kafkaConfigOf } from '../../src/services/kafka-config.js';

/** `vigil bench kafka <video>`: throughput and latency of the distributed mode against the embedded one. */
export function register(bench: Command): void {
  bench
    .command('kafka')
    .description('the same video through the embedded pipeline and through Kafka (vigil infer + vigil match as processes): frames/s, frame-to-alert latency p50/p95')
    .argument('<video>', 'video file (e.g. ../shared/data/faces/face_recognition/_video/short_hamilton_clip.mp4) with someone on the watchlist')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .option('--fps <n>', 'frames sampled per second', (v) => Number(v), 5)
    .option('--runs <n>', 'real-time passes per mode for the latency figures', (v) => Number(v), 3)
    .option('--json', 'print the results as one JSON line on stdout')
    .action(async (video: string, o: { profile?: string; fps: number; runs: number; json?: boolean }, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ config?: string }>();
      const cfg = loadConfig(g.config);
      kafkaConfigOf(cfg, 'bench kafka');
      const log = createLogger(process.env.VIGIL_LOG_LEVEL ?? 'warn');
      setRootLogger(log);
      const progress = (line: string): void => void process.stderr.write(`  ${line}\n`);
      const opts = { cfg, log, video, profile: o.profile, fps: o.fps, runs: o.runs, progress };
      const results = [await benchEmbedded(opts), await benchKafka(opts)];
      const machine = `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} logical cores`;
      if (o.json) process.stdout.write(`${JSON.stringify({ video, fps: o.fps, runs: o.runs, machine, results })}\n`);
      else process.stdout.write(`${[...formatBench(video, results), `machine: ${machine}`].join('\n')}\n`);
    });
}
