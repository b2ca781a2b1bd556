import { describe, expect, it } from 'vitest';
import { lfw, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from '../integration/cli.js';

const lastJson = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;

describe('vigil bench lfw / ident (quick runs through the real CLI)', () => {
  it('prints LFW accuracy, AUC, TAR@FAR, no-face count and ms per image; --json ends with one object', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const r = await vigil(['bench', 'lfw', '--profile', 'permissive', '--folds', '2', '--limit', '6', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ profile: 'permissive', folds: 2, pairs: 12, no_face: 0 });
    for (const k of ['accuracy_mean', 'accuracy_std', 'auc', 'tar_at_far_1e3', 'images']) expect(typeof j[k], k).toBe('number');
    expect(r.stderr).toMatch(/accuracy\s+\d+\.\d\d% ± /);
    const human = await vigil(['bench', 'lfw', '--profile', 'permissive', '--folds', '2', '--limit', '6'], env);
    expect(human.stdout).toMatch(/ms per image/);
    expect(human.stdout).toMatch(/0 image\(s\) computed this run/); // from the cache
  });

  it('prints TPIR at FPIR 1% and 0.1% with their thresholds', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const r = await vigil(['bench', 'ident', '--profile', 'permissive', '--identities', '6', '--seed', '3', '--probes-per-identity', '1', '--impostors', '12', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({ profile: 'permissive', identities: 6, seed: 3, probes: 6, impostors: 12 });
    for (const k of ['tpir_at_fpir_1e2', 'tpir_at_fpir_1e3', 'threshold_at_fpir_1e2', 'threshold_at_fpir_1e3']) expect(typeof j[k], k).toBe('number');
  });

  it('names a missing LFW folder', async () => {
    const env = { VIGIL_DATA_DIR: await dataDirWithModels() };
    const dir = await tempDir();
    const r = await vigil(['bench', 'lfw', '--data', dir], env);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain('VIGIL_ERR_BENCH_DATA');
    expect(r.stderr).toContain(dir);
    expect(lfw()).toBeTruthy();
  });
});
