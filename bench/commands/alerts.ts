import { join } from 'node:path';
import type { Command } from 'commander';
import { benchAlerts } from '../alerts.js';
import { faceRange, sceneOf } from './throughput.js';
import { warnWithoutHeapFloor } from '../../src/cli/heap.js';
import { setup } from '../../src/cli/setup.js';

export function register(bench: Command): void {
  bench
    .command('alerts')
    .description('alerting on a CCTV-like scene built from LFW: share alerted, false alerts per camera-hour, duplicates, time to alert')
    .option('--enrolled <n>', 'people on the watchlist who walk through', (v) => Number(v), 30)
    .option('--strangers <n>', 'people never enrolled who walk through', (v) => Number(v), 30)
    .option('--seed <n>', 'random seed', (v) => Number(v), 1)
    .option('--fps <n>', 'frames sampled per second', (v) => Number(v), 5)
    .option('--scene <name>', 'scene variant (as bench throughput --scene): default, quiet, hard', 'default')
    .option('--face-size <min,max>', 'face widths, px (default the scene\'s)')
    .option('--profile <name>', 'model profile')
    .option('--json', 'print the report as one JSON line on stdout')
    .action(async (opts: { enrolled: number; strangers: number; seed: number; fps: number; scene: string; faceSize?: string; profile?: string; json?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      warnWithoutHeapFloor(log);
      const { scene, faceSize, ...rest } = opts;
      const built = sceneOf(scene, faceSize === undefined ? undefined : faceRange(faceSize, 'alerts'), 'alerts');
      const r = await benchAlerts({ cfg, log, workDir: join(cfg.dataDir, 'bench', 'alerts'), ...rest, scene: built });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const line = (k: string, v: unknown) => process.stdout.write(`${k.padEnd(34)} ${String(v)}\n`);
      line('profile', r.profile);
      line('video (s)', r.video_seconds);
      line('enrolled appearances', `${r.enrolled_appearances} (+${r.enroll_failed} whose enrollment photo was refused)`);
      line('stranger appearances', r.stranger_appearances);
      line('enrolled appearances alerted', `${(r.alerted_share * 100).toFixed(1)}%${r.missed.length ? `  missed: ${r.missed.join(', ')}` : ''}`);
      line('false alerts', `${r.false_alerts} (${r.false_alerts_per_camera_hour} per camera-hour)`);
      line('duplicate alerts per appearance', r.duplicate_alerts_per_appearance.toFixed(3));
      line('time to alert p50 / p95 (video s)', `${r.time_to_alert_p50_s} / ${r.time_to_alert_p95_s}`);
      line('updates (better face, same alert)', r.updates);
    });
}
