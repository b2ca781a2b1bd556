import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { FacesMsg, FrameMsg, RgbImage } from '../../../src/contracts/messages.js';
import { FaceEngine } from '../../../src/inference/engine.js';
import { NO_GATES } from '../../../src/inference/quality.js';
import { CameraSchedule, defaultScheduleOptions } from '../../../src/inference/schedule.js';
import { InferenceStage } from '../../../src/inference/stage.js';
import type { Detection } from '../../../src/inference/types.js';
import { createLogger } from '../../../src/log.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { iou } from '../../../src/util/boxes.js';
import { smallFaceFrame } from '../../support/frames.js';
import { lfw, testModelsDir } from '../../helpers.js';

const W = 640;
const H = 360;
/** A grey frame with a bright square (a "person") at x..x+s, y..y+s. */
function frame(squares: readonly [number, number, number][] = []): RgbImage {
  const data = new Uint8Array(W * H * 3).fill(100);
  for (const [x0, y0, s] of squares) {
    for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) data.fill(230, (y * W + x) * 3, (y * W + x) * 3 + 3);
  }
  return { width: W, height: H, data };
}

/** A frontal-looking detection whose box is x..x+s, y..y+s. */
function det(x: number, y: number, s: number, score = 0.9): Detection {
  const p = (fx: number, fy: number): [number, number] => [x + fx * s, y + fy * s];
  return { box: [x, y, x + s, y + s], score, landmarks: [p(0.3, 0.4), p(0.7, 0.4), p(0.5, 0.6), p(0.35, 0.8), p(0.65, 0.8)] };
}

const emb = new Float32Array(4).fill(0.5);

describe('CameraSchedule', () => {
  it('detects the whole first frame, nothing when nothing moves and nobody is tracked, the region of what appears at native resolution', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    expect(s.plan(frame(), 0).kind).toBe('full');
    expect(s.plan(frame(), 200)).toEqual({ kind: 'still', detections: [] });
    const p = s.plan(frame([[300, 100, 60]]), 400);
    expect(p.kind).toBe('rois');
    if (p.kind !== 'rois') return;
    expect(p.rois).toEqual([]);
    expect(p.moved).toHaveLength(1);
    const [m] = p.moved;
    // The whole square with a margin, and far less than the frame.
    expect(m![0]).toBeLessThanOrEqual(300 - 16);
    expect(m![1]).toBeLessThanOrEqual(100 - 16);
    expect(m![2]).toBeGreaterThanOrEqual(360 + 16);
    expect(m![3]).toBeGreaterThanOrEqual(160 + 16);
    expect((m![2] - m![0]) * (m![3] - m![1])).toBeLessThan((W * H) / 8);
    // The first version of the schedule: a full pass.
    const old = new CameraSchedule({ ...defaultScheduleOptions, motionRegions: false });
    old.plan(frame(), 0);
    expect(old.plan(frame([[300, 100, 60]]), 200).kind).toBe('full');
  });

  it('groups nearby moved cells into one region, far apart ones into two, and takes a full pass when regions would cost as much', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    s.plan(frame(), 0);
    const two = s.plan(frame([[40, 40, 40], [100, 50, 30], [500, 250, 40]]), 200);
    expect(two.kind).toBe('rois');
    if (two.kind === 'rois') expect(two.moved).toHaveLength(2);
    // Most of the frame changes (lights, a crowd): one full pass is cheaper than the regions.
    expect(s.plan(frame([[0, 0, 340]]), 400).kind).toBe('full');
  });

  it('looks at motion below a tracked face (someone walking beneath it) in a region of its own', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    s.plan(frame([[300, 60, 50]]), 0);
    s.assign([det(300, 60, 50)], 0, 0);
    // A second face appears under the first one, where its body would be.
    const p = s.plan(frame([[300, 60, 50], [305, 230, 40]]), 200);
    expect(p.kind).toBe('rois');
    if (p.kind !== 'rois') return;
    expect(p.moved).toEqual([]);
    expect(p.rois).toHaveLength(2);
    const below = p.rois.find((r) => r[1] > 150)!;
    expect(below[0]).toBeLessThanOrEqual(305);
    expect(below[3]).toBeGreaterThanOrEqual(270);
  });

  it('takes a full pass after a region pass face of an undecided track failed the gates, at most three times a track', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    s.plan(frame([[300, 100, 60]]), 0);
    const [a] = s.assign([det(300, 100, 60)], 0, 0);
    const kinds: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const p = s.plan(frame([[300 + i * 10, 100, 60]]), i * 200);
      kinds.push(p.kind);
      s.assign([det(300 + i * 10, 100, 60)], i, i * 200);
      if (p.kind === 'rois') s.askFull(a!.track!);
    }
    expect(kinds).toEqual(['rois', 'full', 'rois', 'full', 'rois', 'full', 'rois', 'rois']);
  });

  it('takes the periodic full pass only when something moved since the last one', () => {
    const s = new CameraSchedule({ ...defaultScheduleOptions, fullEvery: 3 });
    expect(s.plan(frame(), 0).kind).toBe('full');
    for (let i = 1; i <= 6; i++) expect(s.plan(frame(), i * 200).kind).toBe('still');
    expect(s.plan(frame([[300, 100, 20]]), 1400).kind).toBe('full');
  });

  it('does not keep a track alive on still frames: a face that left is not sent on through an empty scene', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    s.plan(frame([[600, 100, 30]]), 0);
    s.assign([det(600, 100, 30)], 0, 0);
    let last: ReturnType<CameraSchedule['plan']> | undefined;
    for (let i = 1; i <= 10; i++) {
      last = s.plan(frame([[600, 100, 30]]), i * 200);
      expect(last.kind).toBe('still');
      if (last.kind === 'still') s.assign(last.detections, i, i * 200, true);
    }
    // 2 s without a sighting: the track is gone, nothing is sent on.
    expect(last).toEqual({ kind: 'still', detections: [] });
  });

  it('links a new face to its track across a walker\'s first step (about a face width), not to a far one', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    const [a] = s.assign([det(100, 100, 50)], 0, 0);
    const [b] = s.assign([det(160, 102, 50)], 1, 200);
    expect(b!.track).toBe(a!.track);
    // With its velocity known, the next step is predicted; a face three widths off the prediction is someone else.
    const [c] = s.assign([det(220, 100, 50)], 2, 400);
    expect(c!.track).toBe(a!.track);
    const [d] = s.assign([det(430, 100, 50)], 3, 600);
    expect(d!.track).not.toBe(a!.track);
  });

  it('detects regions around a moving tracked face, the whole frame when something moves elsewhere or the schedule says so', () => {
    const o = { ...defaultScheduleOptions, fullEvery: 4 };
    const s = new CameraSchedule(o);
    s.plan(frame([[300, 100, 60]]), 0);
    s.assign([det(300, 100, 60)], 0, 0);
    const p1 = s.plan(frame([[310, 100, 60]]), 200);
    expect(p1.kind).toBe('rois');
    if (p1.kind !== 'rois') return;
    expect(p1.rois).toHaveLength(1);
    const [r] = p1.rois;
    // The region holds the face where it is now, and is much smaller than the frame.
    expect(r![0]).toBeLessThanOrEqual(310);
    expect(r![2]).toBeGreaterThanOrEqual(370);
    expect((r![2] - r![0]) * (r![3] - r![1])).toBeLessThan((W * H) / 4);
    s.assign([det(310, 100, 60)], 1, 200);
    // Something new far from the face: its region too, at native resolution.
    const p2 = s.plan(frame([[320, 100, 60], [20, 250, 40]]), 400);
    expect(p2.kind === 'rois' && p2.rois.length === 1 && p2.moved.length === 1).toBe(true);
    if (p2.kind === 'rois') expect(p2.moved[0]![0]).toBeLessThanOrEqual(20);
    s.assign([det(320, 100, 60), det(20, 250, 40)], 2, 400);
    // Nothing moves: the last detections stand, no model call.
    const still = s.plan(frame([[320, 100, 60], [20, 250, 40]]), 600);
    expect(still.kind).toBe('still');
    // fullEvery frames after the last full pass (the first frame), a full pass whatever moved.
    expect(s.plan(frame([[330, 100, 60], [20, 250, 40]]), 800).kind).toBe('full');
  });

  it('marks the region of a track whose identity is decided as settled (the cheaper region detector may follow it), not an undecided one, nor one merged with it', () => {
    const s = new CameraSchedule(defaultScheduleOptions);
    s.plan(frame(), 0);
    const [a, b] = s.assign([det(100, 100, 60), det(450, 100, 60)], 0, 0);
    for (const m of [0.3, 0.35]) s.embedded(a!.track!, a!.detection, 0, emb, new Uint8Array(1), m); // decided: listed
    s.embedded(b!.track!, b!.detection, 0, emb, new Uint8Array(1), 0.02); // near the threshold: undecided
    const p = s.plan(frame([[104, 100, 60], [454, 100, 60]]), 200);
    if (p.kind !== 'rois') throw new Error(`expected regions, got ${p.kind}`);
    expect(p.rois).toHaveLength(2);
    expect(p.rois.map((r, i) => [r[0] < 300, p.settled[i]])).toEqual([
      [true, true],
      [false, false],
    ]);
    // Two faces whose regions overlap are one region: it holds an undecided face, so it is not settled.
    const t = new CameraSchedule(defaultScheduleOptions);
    t.plan(frame(), 0);
    const [c, d] = t.assign([det(100, 100, 60), det(180, 100, 60)], 0, 0);
    for (const m of [0.3, 0.35]) t.embedded(c!.track!, c!.detection, 0, emb, new Uint8Array(1), m);
    t.embedded(d!.track!, d!.detection, 0, emb, new Uint8Array(1), 0.02);
    const q = t.plan(frame([[104, 100, 60], [184, 100, 60]]), 200);
    if (q.kind !== 'rois') throw new Error(`expected regions, got ${q.kind}`);
    expect(q.rois).toHaveLength(1);
    expect(q.settled).toEqual([false]);
    // regionModel 'detector': no region is settled, so the detector follows every face
    const u = new CameraSchedule({ ...defaultScheduleOptions, regionModel: 'detector' });
    u.plan(frame(), 0);
    const [e] = u.assign([det(100, 100, 60)], 0, 0);
    for (const m of [0.3, 0.35]) u.embedded(e!.track!, e!.detection, 0, emb, new Uint8Array(1), m);
    const v = u.plan(frame([[104, 100, 60]]), 200);
    expect(v.kind === 'rois' && v.settled).toEqual([false]);
  });

  it('embeds a new face, follows a decided one by its box, embeds again when undecided, better, or due', () => {
    const s = new CameraSchedule({ ...defaultScheduleOptions, reembedEvery: 5 });
    const [a] = s.assign([det(100, 100, 60)], 0, 0);
    expect(a!.embed).toBe(true);
    s.embedded(a!.track!, a!.detection, 0, emb, new Uint8Array(1), 0.3); // far above the threshold, once: not yet decided
    expect(s.assign([det(102, 100, 60)], 1, 100)[0]!.embed).toBe(true);
    s.embedded(a!.track!, a!.detection, 1, emb, new Uint8Array(1), 0.35); // twice in a row: decided
    const [b] = s.assign([det(104, 100, 60)], 1, 200);
    expect(b!.track).toBe(a!.track);
    expect(b!.embed).toBe(false);
    expect(CameraSchedule.followed(b!)?.embedding).toBe(emb);
    s.embedded(a!.track!, a!.detection, 1, emb, new Uint8Array(1), 0.05); // near the threshold: undecided
    expect(s.assign([det(108, 100, 60)], 2, 400)[0]!.embed).toBe(true);
    s.embedded(a!.track!, det(108, 100, 60), 2, emb, new Uint8Array(1), -0.4); // far below, once
    expect(s.assign([det(110, 100, 60)], 2, 500)[0]!.embed).toBe(true);
    s.embedded(a!.track!, det(110, 100, 60), 2, emb, new Uint8Array(1), -0.4); // twice: not yet ("not listed" takes three)
    expect(s.assign([det(111, 100, 60)], 2, 550)[0]!.embed).toBe(true);
    s.embedded(a!.track!, det(111, 100, 60), 2, emb, new Uint8Array(1), -0.4); // three times: decided
    expect(s.assign([det(112, 100, 60)], 3, 600)[0]!.embed).toBe(false);
    // A clearly bigger face of the same track.
    expect(s.assign([det(112, 100, 90)], 4, 800)[0]!.embed).toBe(true);
    s.embedded(a!.track!, det(112, 100, 90), 4, emb, new Uint8Array(1), -0.4);
    expect(s.assign([det(114, 100, 90)], 5, 1000)[0]!.embed).toBe(false);
    // Followed as not listed: looked at again after half of reembedEvery (5) frames; listed: after reembedEvery.
    expect(s.assign([det(116, 100, 90)], 7, 1400)[0]!.embed).toBe(true);
    s.embedded(a!.track!, det(116, 100, 90), 7, emb, new Uint8Array(1), 0.4);
    s.embedded(a!.track!, det(116, 100, 90), 7, emb, new Uint8Array(1), 0.4);
    expect(s.assign([det(118, 100, 90)], 10, 1600)[0]!.embed).toBe(false);
    expect(s.assign([det(120, 100, 90)], 12, 1800)[0]!.embed).toBe(true); // reembedEvery frames on
    // Without identify (margin undefined) a track is never decided: every face embedded.
    const t = new CameraSchedule(defaultScheduleOptions);
    const [c] = t.assign([det(300, 100, 60)], 0, 0);
    t.embedded(c!.track!, c!.detection, 0, emb, new Uint8Array(1), undefined);
    expect(t.assign([det(302, 100, 60)], 1, 200)[0]!.embed).toBe(true);
  });
});

describe('track-driven inference (real models)', () => {
  let engine: FaceEngine;
  beforeAll(async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
    engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
  });
  afterAll(async () => engine?.close());

  it('finds a face in a region around it where the full frame finds it, in frame coordinates', async () => {
    const img = await smallFaceFrame(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'), 0.4);
    const [full] = await engine.detect(img);
    const b = full!.box;
    const region = [b[0] - 40, b[1] - 40, b[2] + 40, b[3] + 40] as const;
    const found = await engine.detectRegions(img, [region]);
    expect(found).toHaveLength(1);
    expect(iou(found[0]!.box, b)).toBeGreaterThan(0.7);
    expect(Math.hypot(found[0]!.landmarks[0][0] - full!.landmarks[0][0], found[0]!.landmarks[0][1] - full!.landmarks[0][1])).toBeLessThan(4);
  });

  it('finds a tiny face entering an empty 720p frame in the region of what moved (native resolution), where the full 640 px pass does not', async () => {
    // A face ~16 px wide (the LFW photo at 48 px): the full pass shrinks it to 8 px and misses it; at
    // 24 px both find it, the full pass with score ~0.6, the region with ~0.8 (measured).
    const bg = { width: 1280, height: 720 };
    const grey = await sharp({ create: { ...bg, channels: 3, background: { r: 96, g: 100, b: 104 } } }).raw().toBuffer();
    const photo = await sharp(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg')).resize(48, 48).removeAlpha().raw().toBuffer();
    const withFace = await sharp(grey, { raw: { ...bg, channels: 3 } }).composite([{ input: photo, raw: { width: 48, height: 48, channels: 3 }, left: 900, top: 420 }]).removeAlpha().raw().toBuffer();
    const img = (b: Buffer): RgbImage => ({ ...bg, data: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) });
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 64, matches: 64 }, false));
    const got: FacesMsg[] = [];
    bus.subscribe('faces', { group: 't' }, (m) => void got.push(...m));
    const stage = new InferenceStage({ bus, engine, batchSize: 4, batchWaitMs: 0, minFaceSize: 0, quality: NO_GATES, schedule: defaultScheduleOptions, log: createLogger('silent') });
    const f = (seq: number, b: Buffer): FrameMsg => ({ kind: 'frame', v: 1, camera: 'c', seq, capturedAt: seq * 200, mediaTime: null, image: img(b) });
    await stage.process([f(0, grey)]);
    await stage.process([f(1, withFace)]);
    await bus.idle();
    expect(stage.timing.fullDetections).toBe(1);
    expect(stage.timing.regionDetections).toBe(1);
    expect(got[1]!.faces).toHaveLength(1);
    const box = got[1]!.faces[0]!.box;
    expect(box[0]).toBeGreaterThan(900);
    expect(box[2]).toBeLessThan(948);
    // The full-frame pass (1280 -> 640 px) does not see it: the region pass is what finds it.
    expect(await engine.detect(img(withFace))).toHaveLength(0);
    await bus.close();
  });

  it('gives the same faces however the frames are batched (a replay gives the same events on every run)', async () => {
    const photo = await sharp(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg')).resize(100, 100).removeAlpha().raw().toBuffer();
    const grey = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 110, g: 110, b: 110 } } }).raw().toBuffer();
    const frames: FrameMsg[] = [];
    for (let i = 0; i < 6; i++) {
      const b = await sharp(grey, { raw: { width: W, height: H, channels: 3 } }).composite([{ input: photo, raw: { width: 100, height: 100, channels: 3 }, left: 100 + i * 40, top: 120 }]).removeAlpha().raw().toBuffer();
      frames.push({ kind: 'frame', v: 1, camera: 'c', seq: i, capturedAt: i * 200, mediaTime: null, image: { width: W, height: H, data: new Uint8Array(b.buffer, b.byteOffset, b.byteLength) } });
    }
    const run = async (batches: FrameMsg[][]): Promise<FacesMsg[]> => {
      const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 64, matches: 64 }, false));
      const got: FacesMsg[] = [];
      bus.subscribe('faces', { group: 't' }, (m) => void got.push(...m));
      const stage = new InferenceStage({ bus, engine, batchSize: 8, batchWaitMs: 0, minFaceSize: 0, quality: NO_GATES, schedule: defaultScheduleOptions, identify: () => -0.5, log: createLogger('silent') });
      for (const b of batches) await stage.process(b);
      await bus.idle();
      await bus.close();
      return got;
    };
    const one = await run(frames.map((f) => [f]));
    const all = await run([frames]);
    expect(one.map((m) => m.faces.length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(all.map((m) => m.seq)).toEqual(one.map((m) => m.seq));
    expect(all.map((m) => m.faces.map((x) => x.box))).toEqual(one.map((m) => m.faces.map((x) => x.box)));
    expect(all.map((m) => m.faces.map((x) => [...x.embedding]))).toEqual(one.map((m) => m.faces.map((x) => [...x.embedding])));
  });

  it('adds flip TTA only near a decision boundary: the threshold, or the threshold plus the strong margin', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 64, matches: 64 }, false));
    const image = await smallFaceFrame(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'), 0.4);
    const f: FrameMsg = { kind: 'frame', v: 1, camera: 'c', seq: 0, capturedAt: 0, mediaTime: null, image };
    const flipped = async (margin: number, boundaries: number[]): Promise<number> => {
      const stage = new InferenceStage({ bus, engine, batchSize: 4, batchWaitMs: 0, minFaceSize: 0, quality: NO_GATES, identify: () => margin, flipBand: 0.05, boundaries, log: createLogger('silent') });
      await stage.process([f]);
      return stage.timing.flipped;
    };
    expect(engine.flip).toBe(true);
    expect(await flipped(0.11, [0])).toBe(0);
    expect(await flipped(0.11, [0, 0.1])).toBe(1);
    expect(await flipped(0.02, [0, 0.1])).toBe(1);
    expect(await flipped(-0.3, [0, 0.1])).toBe(0);
    await bus.close();
  });

  it('embeds a still face until its identity is decided (three times for not listed), then sends its embedding on with each frame', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 64, matches: 64 }, false));
    const got: FacesMsg[] = [];
    bus.subscribe('faces', { group: 't' }, (m) => void got.push(...m));
    const image = await smallFaceFrame(lfw('Aaron_Eckhart', 'Aaron_Eckhart_0001.jpg'), 0.4);
    const f = (seq: number): FrameMsg => ({ kind: 'frame', v: 1, camera: 'c', seq, capturedAt: seq * 200, mediaTime: null, image });
    let searches = 0;
    const identify = (): number => (searches++, -0.5);
    const stage = new InferenceStage({ bus, engine, batchSize: 4, batchWaitMs: 0, minFaceSize: 0, quality: NO_GATES, schedule: defaultScheduleOptions, identify, flipBand: 0.1, boundaries: [0], log: createLogger('silent') });
    for (let i = 0; i < 4; i++) await stage.process([f(i)]);
    await bus.idle();
    expect(got.map((m) => m.faces.length)).toEqual([1, 1, 1, 1]);
    // Far below the threshold: "not listed" is decided after three embeddings.
    expect(stage.timing.embedded).toBe(3);
    // One watchlist search per embedded face: the one that decided against flip TTA also decides the track.
    expect(searches).toBe(3);
    expect(stage.timing.flipped).toBe(0);
    expect(stage.timing.followed).toBe(1);
    expect(stage.timing.fullDetections).toBe(1);
    expect(got[3]!.faces[0]!.embedding).toBe(got[2]!.faces[0]!.embedding);
    await bus.close();
  });
});
