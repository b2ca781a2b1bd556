import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { cropRegions, FaceEngine, FOLLOW_MAX_ENLARGE } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { RemoteEngine } from '../../../src/inference/remote-engine.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { dot } from '../../../src/util/boxes.js';
import { faces, lfw, testModelsDir } from '../../helpers.js';
import type { Box } from '../../../src/contracts/messages.js';

describe('RemoteEngine (a face engine in a worker thread)', () => {
  let local: FaceEngine;
  let remote: RemoteEngine;
  beforeAll(async () => {
    const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
    local = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 });
    remote = await RemoteEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, {}, local.flip);
  });
  afterAll(async () => {
    await remote?.close();
    await local?.close();
  });

  it('detects and embeds exactly as the engine in the main thread, also two calls at once', async () => {
    const img = await loadRgb(lfw('Colin_Powell', 'Colin_Powell_0001.jpg'));
    const [a, b] = await Promise.all([local.detect(img), remote.detect(img)]);
    expect(b).toEqual(a);
    const aligned = local.align(img, a[0]!);
    const [[e1], [e2]] = await Promise.all([local.embed([aligned]), remote.embed([aligned])]);
    expect(e2).toBeInstanceOf(Float32Array);
    expect(dot(e1!, e2!)).toBeCloseTo(1, 5);
    // Regions: only the cut-outs cross to the thread; the faces come back in frame coordinates.
    const box = a[0]!.box;
    const region = [[box[0] - 30, box[1] - 30, box[2] + 30, box[3] + 30] as const];
    expect(await remote.detectRegions(img, region)).toEqual(await local.detectRegions(img, region));
  });

  it('rejects a bad request with the engine\'s error and keeps serving', async () => {
    await expect(remote.embed([{ width: 10, height: 10, data: new Uint8Array(300) }])).rejects.toThrow(/112x112/);
    const img = await loadRgb(lfw('Colin_Powell', 'Colin_Powell_0001.jpg'));
    expect((await remote.detect(img)).length).toBeGreaterThan(0);
  });

  it('detects regions at the region size asked for (inference.schedule.regionSize), in the thread as in the main thread', async () => {
    const img = await loadRgb(faces('dlib-faces', '_group', 'bald_guys.jpg'));
    const found = await local.detect(img);
    expect(found.length).toBeGreaterThanOrEqual(4);
    // a region of 2.5 face widths around each face, as the schedule makes them
    const regions = found.map(({ box: b }): Box => {
      const w = (b[2] - b[0]) * 1.25;
      const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
      return [Math.max(0, cx - w), Math.max(0, cy - w), Math.min(img.width, cx + w), Math.min(img.height, cy + w)];
    });
    for (const size of [192, 128]) {
      const dets = await local.detectRegions(img, regions, [], size);
      expect(await remote.detectRegions(img, regions, [], size)).toEqual(dets);
      // every face of the full pass is found in its region
      for (const f of found) expect(dets.some((d) => Math.abs(d.box[0] - f.box[0]) < 0.25 * (f.box[2] - f.box[0]))).toBe(true);
    }
    // the size reaches the detector: another input size gives (slightly) other boxes
    const [a, b] = await Promise.all([local.detectRegions(img, regions.slice(0, 1), [], 192), local.detectRegions(img, regions.slice(0, 1), [], 128)]);
    expect(a[0]!.box).not.toEqual(b[0]!.box);
  });

  it("follows faces whose identity is decided with the profile's region detector, and looks for other and new faces with the detector", async () => {
    expect(local.followModel).toBe('scrfd_500m_kps');
    const img = await loadRgb(faces('dlib-faces', '_group', 'bald_guys.jpg'));
    const found = await local.detect(img);
    const regions = found.map(({ box: b }): Box => {
      const w = (b[2] - b[0]) * 1.25;
      const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
      return [Math.max(0, cx - w), Math.max(0, cy - w), Math.min(img.width, cx + w), Math.min(img.height, cy + w)];
    });
    const settled = regions.map(() => true);
    const follow = await local.detectRegions(img, regions, [], 192, settled);
    const same = await local.detectRegions(img, regions, [], 192);
    // both models find every face; they are different models, so their scores differ
    for (const dets of [follow, same]) for (const f of found) expect(dets.some((d) => Math.abs(d.box[0] - f.box[0]) < 0.25 * (f.box[2] - f.box[0]))).toBe(true);
    expect(follow.map((d) => d.score)).not.toEqual(same.map((d) => d.score));
    // the thread's engine makes the same choice
    expect(await remote.detectRegions(img, regions, [], 192, settled)).toEqual(follow);
    expect(await remote.detectRegions(img, regions, [], 192)).toEqual(same);
    // a region where something moved may hold a face of any size: always the detector, even if marked settled
    const moved = cropRegions(img, [], regions.slice(0, 2), 192);
    expect(await local.detectCrops(moved.map((c) => ({ ...c, settled: true })))).toEqual(await local.detectCrops(moved));
    // a small face, whose region the input enlarges more than FOLLOW_MAX_ENLARGE: the detector too
    const quarter = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(Math.round(img.width / 4)).raw().toBuffer({ resolveWithObject: true });
    const small = { width: quarter.info.width, height: quarter.info.height, data: new Uint8Array(quarter.data) };
    const tiny = (await local.detect(small)).map(({ box: b }): Box => {
      const w = (b[2] - b[0]) * 1.25;
      const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
      return [Math.max(0, cx - w), Math.max(0, cy - w), Math.min(small.width, cx + w), Math.min(small.height, cy + w)];
    }).filter((r) => Math.max(r[2] - r[0], r[3] - r[1]) * FOLLOW_MAX_ENLARGE < 192);
    expect(tiny.length).toBeGreaterThan(2);
    const tinyDets = await local.detectRegions(small, tiny, [], 192, tiny.map(() => true));
    expect(tinyDets.length).toBeGreaterThan(2);
    expect(tinyDets).toEqual(await local.detectRegions(small, tiny, [], 192));
  });
});
