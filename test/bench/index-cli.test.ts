import { describe, expect, it } from 'vitest';
import { dataDirWithModels, vigil } from '../integration/cli.js';

const lastJson = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;

describe('vigil bench index (a small run through the real CLI)', () => {
  it('builds, saves, loads and starts up a watchlist of N subjects, scores recall against exact search; --reuse skips the build', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const args = ['bench', 'index', '--subjects', '3000', '--real', '12', '--queries', '40', '--profile', 'permissive', '--ef-sweep', '16', '--json'];
    const r = await vigil(args, env);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ subjects: 3000, real_people: 12, queries: 40 });
    for (const k of ['recall_at_1', 'recall_at_1_matchable', 'matchable', 'threshold', 'search_p50_ms', 'search_p99_ms', 'build_s', 'load_s', 'start_s', 'rss_mb']) expect(typeof j[k], k).toBe('number');
    expect(j.recall_at_1).toBeGreaterThanOrEqual(0.9); // 3,000 subjects: HNSW all but exact
    expect(r.stderr).toMatch(/start-up with 3000 subjects in watchlist\.db: index loaded \(checksum verified/);

    const again = await vigil([...args, '--reuse'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reusing the index built earlier/);
    expect(again.stderr).not.toMatch(/building:|exact search:/);
    const k = lastJson(again.stdout);
    expect(k.build_s).toBe(j.build_s);
    expect(k.recall_at_1).toBe(j.recall_at_1); // the same index, the same answers
  }, 120_000);

  it('--synthetic people --order shuffled: subjects drawn from the statistics of distinct LFW people, inserted in random order, built apart from the default', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const args = ['bench', 'index', '--subjects', '2000', '--real', '10', '--queries', '30', '--profile', 'permissive', '--synthetic', 'people', '--stats-people', '40', '--order', 'shuffled', '--json'];
    const r = await vigil(args, env);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ subjects: 2000, real_people: 10, synthetic: 'people', order: 'shuffled' });
    expect(r.stderr).toMatch(/embedding LFW people for the synthetic faces' statistics/);
    expect(j.recall_at_1).toBeGreaterThanOrEqual(0.9);
    expect(r.stderr).toMatch(/synthetic: people/);
    const bad = await vigil(['bench', 'index', '--subjects', '100', '--synthetic', 'random'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--synthetic: "random" is not mixture or people/);
  }, 120_000);
});
