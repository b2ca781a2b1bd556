import { describe, expect, it } from 'vitest';
import type { ThroughputReport } from '../../bench/throughput.js';
import { dataDirWithModels, vigil } from '../integration/cli.js';

/** `vigil bench throughput` end to end, shortened: a tiny scene, one worker count, one live step. */
describe('vigil bench throughput', () => {
  it('replays the scene through the engine and the pipeline variants, scores their alerts, and runs a live step', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const r = await vigil(['bench', 'throughput', '--profile', 'research', '--enrolled', '1', '--strangers', '1', '--workers', '2', '--cameras', '1', '--live-seconds', '3', '--json'], env, 15 * 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as ThroughputReport;
    expect(report.replay.map((x) => x.variant)).toEqual(['engine alone (detect+align+embed every frame)', 'pipeline brute-force, 2 workers', 'pipeline scheduled, 2 workers']);
    const [engine, brute, scheduled] = report.replay;
    // Every variant saw every sampled frame of the same file.
    expect(brute!.frames).toBe(engine!.frames);
    expect(scheduled!.frames).toBe(engine!.frames);
    expect(brute!.counts!.fullDetections).toBe(brute!.frames);
    expect(scheduled!.counts!.fullDetections).toBeLessThan(scheduled!.frames);
    expect(scheduled!.counts!.embedded).toBeLessThan(brute!.counts!.embedded);
    expect(scheduled!.alerted_share).toBe(brute!.alerted_share);
    expect(report.live).toHaveLength(1);
    expect(report.live[0]!.fps_min).toBeGreaterThan(0);
  }, 15 * 60_000);

  it('refuses a bad --face-size with the bench argument error', async () => {
    const r = await vigil(['bench', 'throughput', '--face-size', '50'], {}, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/VIGIL_ERR_BENCH_ARGS.*--face-size/);
  });
});
