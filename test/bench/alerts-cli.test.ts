import { describe, expect, it } from 'vitest';
import { dataDirWithModels, vigil } from '../integration/cli.js';

describe('vigil bench alerts (small scene)', () => {
  it('builds the LFW scene, replays it through the pipeline and reports alerting numbers', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' };
    const r = await vigil(['bench', 'alerts', '--enrolled', '4', '--strangers', '4', '--seed', '3', '--json'], env, 300_000);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    expect(rep.profile).toBe('research');
    expect(rep.enrolled_appearances! + rep.enroll_failed!).toBe(4);
    expect(rep.stranger_appearances).toBe(4);
    expect(rep.video_seconds).toBeGreaterThan(10);
    expect(rep.alerted_share).toBeGreaterThanOrEqual(0.5);
    expect(rep.duplicate_alerts_per_appearance).toBe(0);
    expect(rep.time_to_alert_p95_s).toBeLessThanOrEqual(2);
  }, 320_000);
});
