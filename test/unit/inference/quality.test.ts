import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import { configSchema } from '../../../src/config/schema.js';
import type { FacesMsg, FrameMsg, Point, RgbImage } from '../../../src/contracts/messages.js';
import { smallFaceFrame } from '../../support/frames.js';
import { ARCFACE_TEMPLATE } from '../../../src/inference/align.js';
import { FaceEngine } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import {
  enrollmentIssues,
  failedDetectionGate,
  failedGate,
  headPose,
  interEyeDistance,
  measureQuality,
  NO_GATES,
  qualityLimits,
  sharpness,
  type FaceQuality,
  type QualityLimits,
} from '../../../src/inference/quality.js';
import { InferenceStage } from '../../../src/inference/stage.js';
import type { Detection } from '../../../src/inference/types.js';
import { createLogger } from '../../../src/log.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { lfw, testModelsDir } from '../../helpers.js';

type Five = Detection['landmarks'];
const template = ARCFACE_TEMPLATE as Five;
const map = (l: Five, f: (p: Point) => Point): Five => [f(l[0]), f(l[1]), f(l[2]), f(l[3]), f(l[4])];

describe('headPose', () => {
  it('reads the ArcFace template as frontal and about level', () => {
    const p = headPose(template);
    expect(Math.abs(p.yaw)).toBeLessThan(1);
    expect(Math.abs(p.pitch)).toBeLessThan(6);
  });

  it('ignores roll, scale and position (alignment removes those)', () => {
    const a = (33 * Math.PI) / 180;
    const moved = map(template, ([x, y]) => [3 * (x * Math.cos(a) - y * Math.sin(a)) + 500, 3 * (x * Math.sin(a) + y * Math.cos(a)) + 200]);
    const p = headPose(moved);
    expect(p.yaw).toBeCloseTo(headPose(template).yaw, 6);
    expect(p.pitch).toBeCloseTo(headPose(template).pitch, 6);
  });

  it('turns a nose off the midline into yaw, and along it into pitch, with sign', () => {
    const em = 92.3 - 51.6;
    const right = headPose([template[0], template[1], [template[2][0] + 0.1 * em, template[2][1]], template[3], template[4]]);
    expect(right.yaw).toBeGreaterThan(10);
    expect(right.yaw).toBeLessThan(20);
    const left = headPose([template[0], template[1], [template[2][0] - 0.3 * em, template[2][1]], template[3], template[4]]);
    expect(left.yaw).toBeLessThan(-40);
    const down = headPose([template[0], template[1], [template[2][0], template[2][1] + 0.15 * em], template[3], template[4]]);
    expect(down.pitch).toBeGreaterThan(10);
    expect(Math.abs(down.yaw)).toBeLessThan(1);
  });

  it('treats collapsed landmarks as unusable (90 degrees)', () => {
    const p = headPose([[5, 5], [5, 5], [5, 5], [5, 5], [5, 5]]);
    expect(p.yaw).toBe(90);
  });
});

describe('failedGate', () => {
  const good: FaceQuality = { interEye: 40, score: 0.8, sharpness: 200, yaw: 5, pitch: -3 };
  const lim: QualityLimits = { enabled: true, minInterEye: 12, minScore: 0.5, minSharpness: 30, maxYaw: 45, maxPitch: 40 };
  it('passes a good face and names the first failing gate', () => {
    expect(failedGate(good, lim)).toBeUndefined();
    expect(failedGate({ ...good, interEye: 8 }, lim)).toBe('interEye');
    expect(failedGate({ ...good, score: 0.3 }, lim)).toBe('score');
    expect(failedGate({ ...good, sharpness: 10 }, lim)).toBe('sharpness');
    expect(failedGate({ ...good, yaw: -60 }, lim)).toBe('yaw');
    expect(failedGate({ ...good, pitch: 50 }, lim)).toBe('pitch');
  });
  it('lets everything through when gating is off', () => {
    expect(failedGate({ interEye: 1, score: 0, sharpness: 0, yaw: 90, pitch: 90 }, NO_GATES)).toBeUndefined();
    expect(failedGate({ interEye: 1, score: 0, sharpness: 0, yaw: 90, pitch: 90 }, { ...lim, enabled: false })).toBeUndefined();
  });
  it('config section quality has defaults that pass a clean LFW-sized face', () => {
    const lim2 = qualityLimits(configSchema.parse({}).quality);
    expect(lim2.enabled).toBe(true);
    expect(failedGate(good, lim2)).toBeUndefined();
    expect(failedGate({ ...good, interEye: 3 }, lim2)).toBe('interEye');
  });
  it('flags poor enrollment photos', () => {
    expect(enrollmentIssues(good)).toEqual([]);
    expect(enrollmentIssues({ ...good, interEye: 20, yaw: 40 })).toEqual(['small', 'profile']);
  });
});

describe('on real faces', () => {
  let engine: FaceEngine;
  beforeAll(async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
    engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
  });
  afterAll(async () => engine?.close());

  async function blurred(img: RgbImage, sigma: number): Promise<RgbImage> {
    const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).blur(sigma).raw().toBuffer();
    return { width: img.width, height: img.height, data: new Uint8Array(buf) };
  }

  it('measures a blurred face as less sharp than the same face in focus', async () => {
    const img = await loadRgb(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'));
    const [d] = await engine.detect(img);
    expect(d).toBeDefined();
    const sharpQ = measureQuality(d!, engine.align(img, d!));
    const soft = sharpness(engine.align(await blurred(img, 2.5), d!));
    expect(sharpQ.interEye).toBeCloseTo(interEyeDistance(d!.landmarks), 6);
    expect(sharpQ.interEye).toBeGreaterThan(25);
    expect(soft).toBeLessThan(sharpQ.sharpness / 3);
  });

  it('drops faces in the inference stage before embedding, counting each gate', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 64, matches: 64 }, false));
    const got: FacesMsg[] = [];
    bus.subscribe('faces', { group: 't' }, (b) => void got.push(...b));
    // One CCTV-like frame with a face ~20 px between the eyes.
    const image = await smallFaceFrame(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'), 20 / 42.3);
    const frame = (seq: number): FrameMsg => ({ kind: 'frame', v: 1, camera: 'c', seq, capturedAt: 0, mediaTime: null, image });
    const run = async (quality: QualityLimits) => {
      const stage = new InferenceStage({ bus, engine, batchSize: 4, batchWaitMs: 0, minFaceSize: 0, quality, log: createLogger('silent') });
      got.length = 0;
      await stage.process([frame(0)]);
      await bus.idle();
      return { stage, faces: got.flatMap((m) => m.faces).length };
    };
    const open = await run(NO_GATES);
    expect(open.faces).toBe(1);
    const [det] = await engine.detect(image);
    expect(failedDetectionGate(det!, { ...NO_GATES, enabled: true, minInterEye: 15 })).toBeUndefined();
    const size = await run({ ...NO_GATES, enabled: true, minInterEye: 30 });
    expect(size.faces).toBe(0);
    expect(size.stage.dropped).toEqual({ interEye: 1, score: 0, sharpness: 0, yaw: 0, pitch: 0 });
    const blur = await run({ ...NO_GATES, enabled: true, minSharpness: 1e6 });
    expect(blur.faces).toBe(0);
    expect(blur.stage.dropped.sharpness).toBe(1);
    const score = await run({ ...NO_GATES, enabled: true, minScore: 0.999 });
    expect(score.stage.dropped.score).toBe(1);
    const defaults = await run(qualityLimits(configSchema.parse({}).quality));
    expect(defaults.faces).toBe(1);
    await bus.close();
  });
});
