import { join } from 'node:path';
import type { Command } from 'commander';
import { warnWithoutHeapFloor } from '../../src/cli/heap.js';
import { setup } from '../../src/cli/setup.js';
import { VigilError } from '../../src/errors.js';
import { SCENE_PRESETS, type SceneOptions } from '../alerts-scene.js';
import { benchThroughput, line, liveLine, parseSchedule } from '../throughput.js';

const list = (v: string): number[] => v.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);

export function faceRange(v: string, bench = 'throughput'): [number, number] {
  const [a, b] = v.split(',').map(Number);
  if (!(a! > 0 && b! >= a!)) throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench, reason: `--face-size wants "min,max" px, got "${v}"` });
  return [a!, b!];
}

/** A named scene variant, with the face sizes asked for (if any) over the variant's. */
export function sceneOf(name: string, faceSize: [number, number] | undefined, bench = 'throughput'): Partial<SceneOptions> {
  if (!Object.hasOwn(SCENE_PRESETS, name)) throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench, reason: `--scene takes ${Object.keys(SCENE_PRESETS).join(', ')}; got "${name}"` });
  const preset: Partial<SceneOptions> = SCENE_PRESETS[name as keyof typeof SCENE_PRESETS];
  return faceSize ? { ...preset, faceSize } : preset;
}

function partsOf(v: string): ('engine' | 'brute' | 'scheduled')[] {
  const ps = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = ps.find((p) => !['engine', 'brute', 'scheduled'].includes(p));
  if (bad !== undefined) throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench: 'throughput', reason: `--parts takes engine, brute, scheduled; got "${bad}"` });
  return ps as ('engine' | 'brute' | 'scheduled')[];
}

function schedulesOf(spec: string): ReturnType<typeof parseSchedule> {
  try {
    return parseSchedule(spec);
  } catch (err) {
    throw new VigilError('VIGIL_ERR_BENCH_ARGS', { bench: 'throughput', reason: `--schedule: ${(err as Error).message}` });
  }
}

export function register(bench: Command): void {
  bench
    .command('throughput')
    .description('replay: real-time factor and frames/s of the pipeline vs the brute-force engine on the same frames, per-stage time, alerts; live: simulated RTSP cameras kept up with, frame-to-alert latency')
    .option('--video <file>', 'replay this file instead of the LFW scene (alerts are then not scored)')
    .option('--workers <list>', 'inference worker counts to compare', '1,2')
    .option('--cameras <list>', 'live camera counts to try, ascending ("" or 0: no live part)', '2,4,8')
    .option('--live-seconds <n>', 'measuring window per live step, s', (v) => Number(v), 10)
    .option('--parts <list>', 'replay parts: engine (alone), brute (pipeline, schedule off), scheduled', 'engine,brute,scheduled')
    .option('--schedule <specs>', 'scheduled variants, ";"-separated, each "key=value,..." overrides of inference.schedule (e.g. "default;fullEvery=30;motionRegions=false", "default" or an empty spec: the config\'s as it is); default: the config\'s', '')
    .option('--rounds <n>', 'replay rounds (variants interleaved within each round); 0: live part only', (v) => Number(v), 1)
    .option('--enrolled <n>', 'scene: people on the watchlist who walk through', (v) => Number(v), 6)
    .option('--strangers <n>', 'scene: people never enrolled who walk through', (v) => Number(v), 6)
    .option('--seed <n>', 'scene random seed', (v) => Number(v), 1)
    .option('--face-size <min,max>', 'scene: face widths, px (e.g. 27,50 for small CCTV faces; default the scene\'s, 44,90)')
    .option('--scene <name>', `scene variant: ${Object.keys(SCENE_PRESETS).join(', ')} (quiet: a few people a minute, empty corridor between; hard: smaller faces, dim, blurred, crowded, listed people reappearing)`, 'default')
    .option('--fps <n>', 'frames sampled per second', (v) => Number(v), 5)
    .option('--profile <name>', 'model profile')
    .option('--json', 'print the report as one JSON line on stdout')
    .action(async (opts: { video?: string; scene: string; parts: string; schedule: string; workers: string; cameras: string; liveSeconds: number; rounds: number; enrolled: number; strangers: number; seed: number; faceSize?: string; fps: number; profile?: string; json?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      warnWithoutHeapFloor(log);
      const out = (l: string): void => void process.stdout.write(`${l}\n`);
      const r = await benchThroughput({
        cfg,
        log,
        workDir: join(cfg.dataDir, 'bench', 'throughput'),
        profile: opts.profile,
        video: opts.video,
        enrolled: opts.enrolled,
        strangers: opts.strangers,
        seed: opts.seed,
        scene: sceneOf(opts.scene, opts.faceSize === undefined ? undefined : faceRange(opts.faceSize)),
        fps: opts.fps,
        workers: list(opts.workers),
        parts: partsOf(opts.parts),
        // "a;;b" or "a;default": an empty spec is the config's schedule as it is.
        schedules: opts.schedule.trim() === '' ? [] : opts.schedule.split(';').map((x) => schedulesOf(x.trim() === 'default' ? '' : x.trim())),
        rounds: Math.max(0, opts.rounds),
        cameras: list(opts.cameras),
        liveSeconds: opts.liveSeconds,
        progress: (l) => process.stderr.write(`${l}\n`),
      });
      if (opts.json) return out(JSON.stringify(r));
      out(`${r.cores} cores, load average before ${r.load_before.map((x) => x.toFixed(2)).join(' ')}; ${r.video} (${r.video_seconds} s at ${r.fps} fps); decoding alone ${r.decode_frames_per_s} frames/s`);
      for (const x of r.replay) out(line(x));
      for (const s of r.live) out(liveLine(s));
    });
}
