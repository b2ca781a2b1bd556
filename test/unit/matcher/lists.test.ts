import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { FacesMsg, MatchEvent } from '../../../src/contracts/messages.js';
import { codecs } from '../../../src/contracts/codecs.js';
import { cosine } from '../../../src/inference/embedder.js';
import { type FaceEngine, faceSize } from '../../../src/inference/engine.js';
import { loadRgb } from '../../../src/inference/image-io.js';
import { createLogger } from '../../../src/log.js';
import { defaultAlertRules } from '../../../src/matcher/alerts.js';
import { enroll } from '../../../src/matcher/enroll.js';
import { WatchlistFollower } from '../../../src/matcher/follow.js';
import { openIndex } from '../../../src/matcher/index.js';
import { ListPolicy } from '../../../src/matcher/lists.js';
import { MatcherStage } from '../../../src/matcher/stage.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { matchThreshold } from '../../../src/models/manifest.js';
import { lfw, tempDir } from '../../helpers.js';
import { useEngine } from './engine.js';

/**
 * Lists on real models: each list's own operating point (a threshold, or a target FPIR through the
 * profile's calibration table) decides whether its subjects alert; events carry the list and its
 * priority; a list edited while running applies at once; an expired subject no longer matches.
 */
const useResearch = useEngine();
let engine: FaceEngine;
beforeAll(() => {
  engine = useResearch();
});

const photo = (p: string, n: number): string => lfw(p, `${p}_${String(n).padStart(4, '0')}.jpg`);
async function embedding(file: string): Promise<Float32Array> {
  const fs = await engine.analyze(await loadRgb(file));
  return fs.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0]!.embedding;
}

let seq = 0;
const T0 = Date.UTC(2026, 0, 1);
const msg = (camera: string, embedding: Float32Array): FacesMsg => ({
  kind: 'faces', v: 1, camera, seq: seq++, capturedAt: T0 + seq * 200, mediaTime: null, frame: { width: 250, height: 250 }, profile: 'research', model: engine.model,
  faces: [{ box: [70, 70, 180, 180], score: 0.9, landmarks: [], embedding, crop: new Uint8Array([0xff, 0xd8]) }],
});

describe('lists', () => {
  it('alert at their own operating point, carry list and priority, follow edits while running; expired subjects stop matching', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    const profile = engine.profile.profile;
    const fpir = matchThreshold(profile, { targetFpir: 0.001 }).threshold;
    store.putList({ name: 'wanted', priority: 10, colour: '#d33', threshold: null, targetFpir: 0.001 });
    store.putList({ name: 'watch', priority: 1, colour: null, threshold: 0.95, targetFpir: null });
    await enroll(engine, store, { name: 'Colin Powell', files: [photo('Colin_Powell', 1)], lists: ['wanted', 'watch'] });
    await enroll(engine, store, { name: 'Tony Blair', files: [photo('Tony_Blair', 2)], lists: ['watch'] });
    await enroll(engine, store, { name: 'Ariel Sharon', files: [photo('Ariel_Sharon', 1)], expiresAt: '2020-01-01' });

    const { index, seq: from } = await openIndex(join(dir, 'index'), store, engine.model, engine.embedder.size);
    const policy = new ListPolicy(profile.threshold, (f) => matchThreshold(profile, { targetFpir: f }).threshold);
    policy.update(store.lists());
    const follower = new WatchlistFollower({ store, index, policy, from, log: createLogger('silent') });
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
    const stage = new MatcherStage({ bus, index, policy, rules: { ...defaultAlertRules, threshold: profile.threshold, cooldownMs: 0 }, topK: 3, log: createLogger('silent') });
    await stage.start();
    const events: MatchEvent[] = [];
    bus.subscribe('matches', { group: 't' }, (e) => void events.push(...e));
    const show = async (camera: string, file: string): Promise<MatchEvent[]> => {
      const e = await embedding(file);
      const before = events.length;
      for (let i = 0; i < 3; i++) await bus.publish('faces', msg(camera, e));
      await bus.idle();
      return events.slice(before);
    };

    // Powell: on 'wanted' (target FPIR 0.001 via the calibration table) and 'watch'.
    const powell = await show('cam1', photo('Colin_Powell', 2));
    expect(powell).toHaveLength(1);
    expect(powell[0]).toMatchObject({ type: 'alert', subject: { id: 'colin_powell' }, list: 'wanted', priority: 10, threshold: fpir });
    // The event with its new fields passes the versioned contract.
    expect(await codecs.matches.decode(await codecs.matches.encode(powell[0]!))).toMatchObject({ list: 'wanted', priority: 10 });

    // Blair: only on 'watch' at 0.95: a true match above the profile's default threshold, yet no alert.
    const blairSim = cosine(await embedding(photo('Tony_Blair', 3)), Float32Array.from(store.get('tony_blair')!.embeddings[0]!.vector));
    expect(blairSim).toBeGreaterThan(profile.threshold);
    expect(await show('cam2', photo('Tony_Blair', 3))).toEqual([]);
    // The list's operating point changed by another connection (the API, `vigil watchlist set-list`): applied by the follower.
    const other = await new WatchlistStore(dir).load();
    other.putList({ name: 'watch', priority: 1, colour: null, threshold: null, targetFpir: 0.01 });
    follower.poll();
    const blair = await show('cam3', photo('Tony_Blair', 3));
    expect(blair).toHaveLength(1);
    expect(blair[0]).toMatchObject({ subject: { id: 'tony_blair' }, list: 'watch', priority: 1, threshold: matchThreshold(profile, { targetFpir: 0.01 }).threshold });

    // Sharon expired in 2020: not matched at all, whatever the similarity.
    expect(await show('cam4', photo('Ariel_Sharon', 2))).toEqual([]);
    expect(index.search(await embedding(photo('Ariel_Sharon', 2)), 3).map((c) => c.subject.id)).not.toContain('ariel_sharon');

    await stage.stop();
    other.close();
    store.close();
  });
});
