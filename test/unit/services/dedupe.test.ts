import { describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import { codecs } from '../../../src/contracts/codecs.js';
import type { FacesMsg, MatchEvent } from '../../../src/contracts/messages.js';
import { dedupeBus, dedupeKeys, RecentIds } from '../../../src/services/dedupe.js';

const faces = (camera: string, seq: number, capturedAt = 1000 + seq): FacesMsg => ({ kind: 'faces', v: 1, camera, seq, capturedAt, mediaTime: null, frame: { width: 2, height: 2 }, profile: 'p', model: 'm', faces: [] });

describe('RecentIds', () => {
  it('recognises an id among the last `capacity`, and forgets older ones', () => {
    const r = new RecentIds(3);
    expect(['a', 'b', 'c'].map((x) => r.seen(x))).toEqual([false, false, false]);
    expect(r.seen('a')).toBe(true);
    expect(r.seen('d')).toBe(false); // evicts a
    expect(r.seen('a')).toBe(false);
    expect(r.size).toBe(3);
  });
});

describe('dedupeBus', () => {
  it('drops a redelivered match event (same id, revision and capture time) but not a new revision', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
    const dropped: string[] = [];
    const d = dedupeBus(bus, { matches: dedupeKeys.matches }, 100, (_t, k) => dropped.push(k));
    const got: MatchEvent[] = [];
    d.subscribe('matches', { group: 'b' }, (es) => void got.push(...es));
    const v1 = {
      kind: 'match', v: 1, id: 'abc', subject: { id: 's', name: 'S' }, similarity: 0.7, threshold: 0.4, candidates: [], camera: 'c', seq: 3,
      capturedAt: '2026-01-01T00:00:00.000Z', mediaTime: 0.6, box: [1, 2, 3, 4], frame: { width: 10, height: 10 }, detectorScore: 0.9, crop: 'AAAA', profile: 'p', model: 'm',
    };
    const e = await codecs.matches.decode(Buffer.from(JSON.stringify(v1)));
    const update = { ...e, revision: 1, type: 'update' as const };
    for (const x of [e, e, update, update, e]) await d.publish('matches', x);
    await bus.idle();
    expect(got.map((x) => x.revision)).toEqual([0, 1]);
    expect(dropped).toHaveLength(3);
  });

  it('drops redelivered faces, but keeps a restarted camera\'s new frame 0 (another capture time) and other topics', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
    const d = dedupeBus(bus, { faces: dedupeKeys.faces }, 100);
    const got: string[] = [];
    d.subscribe('faces', { group: 'm' }, (ms) => void got.push(...ms.map((m) => `${m.seq}@${m.capturedAt}`)));
    for (const m of [faces('c', 0), faces('c', 1), faces('c', 0), faces('c', 1), faces('c', 0, 5000)]) await d.publish('faces', m);
    await bus.idle();
    expect(got).toEqual(['0@1000', '1@1001', '0@5000']);
  });
});
