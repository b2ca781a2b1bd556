import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchDegrade, degradedFrame, degradeParams, FRAME } from '../../bench/degrade.js';
import { configSchema } from '../../src/config/schema.js';
import { FaceEngine } from '../../src/inference/engine.js';
import { interEyeDistance, qualityLimits } from '../../src/inference/quality.js';
import { loadManifest } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { lfw, tempDir, testModelsDir } from '../helpers.js';

let engine: FaceEngine;
let clean: FaceEngine;
beforeAll(async () => {
  const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
  engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { flip: false });
  clean = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { detectSize: 320, flip: false });
});
afterAll(async () => Promise.all([engine?.close(), clean?.close()]));

describe('degraded probes', () => {
  it('draws the same degradation for the same seed and path', () => {
    const a = degradeParams(1, 'A/A_0001.jpg');
    expect(degradeParams(1, 'A/A_0001.jpg')).toEqual(a);
    expect(degradeParams(2, 'A/A_0001.jpg')).not.toEqual(a);
    const many = Array.from({ length: 400 }, (_, i) => degradeParams(1, `p${i}`));
    expect(Math.min(...many.map((p) => p.interEye))).toBeGreaterThanOrEqual(6);
    expect(Math.max(...many.map((p) => p.interEye))).toBeLessThanOrEqual(42);
    expect(many.filter((p) => p.blur > 0).length).toBeGreaterThan(150);
    expect(many.filter((p) => p.brightness < 1).length).toBeGreaterThan(150);
  });

  it('puts a face of the asked size into a 640x360 frame', async () => {
    const img = await degradedFrame(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'), { interEye: 24, blur: 0, brightness: 1, jpeg: 80 });
    expect([img.width, img.height]).toEqual([FRAME.width, FRAME.height]);
    const [d] = await engine.detect(img);
    expect(interEyeDistance(d!.landmarks)).toBeGreaterThan(18);
    expect(interEyeDistance(d!.landmarks)).toBeLessThan(30);
  });

  it('reports false and true alerts with and without the gates (tiny run)', async () => {
    const r = await benchDegrade({
      engine,
      cleanEngine: clean,
      lfwDir: lfw(),
      cacheDir: await tempDir(),
      detectSize: 640,
      cleanDetectSize: 320,
      flip: false,
      identities: 6,
      seed: 2,
      probesPerIdentity: 1,
      impostors: 8,
      threshold: engine.profile.profile.threshold,
      limits: qualityLimits(configSchema.parse({}).quality),
    });
    expect(r.probes).toBe(6);
    expect(r.impostors).toBe(8);
    const none = r.outcomes.find((o) => o.gates === 'none')!;
    const all = r.outcomes.find((o) => o.gates === 'all')!;
    expect(none.faces_dropped).toBe(0);
    expect(none.true_alerts_lost).toBe(0);
    expect(r.outcomes.map((o) => o.gates)).toEqual(['none', 'all', 'interEye', 'score', 'sharpness', 'yaw', 'pitch']);
    // Gating only removes faces: never more alerts of either kind.
    for (const o of r.outcomes) {
      expect(o.false_alerts).toBeLessThanOrEqual(none.false_alerts);
      expect(o.true_alerts + o.true_alerts_lost).toBe(none.true_alerts);
      expect(o.faces_dropped).toBeLessThanOrEqual(all.faces_dropped);
    }
    expect(r.clean.true_alerts).toBeGreaterThanOrEqual(5);
  });
});
