import { describe, expect, it } from 'vitest';
import type { BenchIngestReport } from '../../bench/ingest.js';
import { vigil } from '../integration/cli.js';

/** `vigil bench ingest` end to end, shortened: it measures and reports (the numbers are the benchmark's business, not this test's). */
describe('vigil bench ingest', () => {
  it('measures simulated RTSP cameras and reports fps, lag and CPU per camera', async () => {
    const r = await vigil(['bench', 'ingest', '--variants', 'scale-640', '--cameras', '1,2', '--seconds', '2', '--json'], {}, 15 * 60_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as BenchIngestReport;
    expect(report.cores).toBeGreaterThan(0);
    expect(report.results.length).toBeGreaterThanOrEqual(1);
    for (const s of report.results) {
      expect(s.variant).toBe('scale-640');
      expect(s.fpsMean).toBeGreaterThan(0);
      expect(s.cpuPerCamera).toBeGreaterThan(0);
      expect(Number.isFinite(s.lagGrowthS)).toBe(true);
      expect(s.errors).toBe(0);
    }
    expect(report.commands['scale-640']).toContain('-rtsp_transport tcp');
    expect(r.stderr).toMatch(/scale-640 +1 cams: /);
  }, 15 * 60_000);
});
