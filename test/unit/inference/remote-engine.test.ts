import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaceEngine } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { RemoteEngine } from '../../../src/inference/remote-engine.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { requireProfile } from '../../../src/models/store.js';
import { dot } from '../../../src/util/boxes.js';
import { lfw, testModelsDir } from '../../helpers.js';

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
});
