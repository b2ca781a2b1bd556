import { describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { FacesMsg, MatchEvent, SubjectRecord } from '../../../src/contracts/messages.js';
import { createLogger } from '../../../src/log.js';
import { SubjectIndex } from '../../../src/matcher/index.js';
import { MatcherStage, matchEventId } from '../../../src/matcher/stage.js';

const unit = (a: number): Float32Array => new Float32Array([Math.cos(a), Math.sin(a), 0, 0]);
const subject = (id: string, a: number): SubjectRecord => ({
  id, name: id, createdAt: '', updatedAt: '', images: [{ sha256: id, name: id }], embeddings: [{ model: 'm', image: id, vector: Array.from(unit(a)) }],
});
const facesMsg = (seq: number, angles: number[], model = 'm'): FacesMsg => ({
  kind: 'faces', v: 1, camera: 'cam', seq, capturedAt: Date.UTC(2026, 0, 1), mediaTime: seq / 5, frame: { width: 100, height: 100 }, profile: 'p', model,
  faces: angles.map((a) => ({ box: [1, 2, 30, 40], score: 0.9, landmarks: [], embedding: unit(a), crop: new Uint8Array([0xff, 0xd8]) })),
});

async function run(threshold: number, msgs: FacesMsg[], topK = 2): Promise<MatchEvent[]> {
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
  // a at angle 0, b at 0.5 rad: a face at angle x has similarity cos(x) to a and cos(x - 0.5) to b
  const index = SubjectIndex.build('m', 4, [subject('a', 0), subject('b', 0.5)]);
  const stage = new MatcherStage({ bus, index, threshold, topK, log: createLogger('silent') });
  await stage.start();
  const out: MatchEvent[] = [];
  bus.subscribe('matches', { group: 't' }, (e) => void out.push(...e));
  for (const m of msgs) await bus.publish('faces', m);
  await bus.idle();
  return out;
}

describe('MatcherStage', () => {
  it('emits a match only at or above the threshold, with top-k candidates best first', async () => {
    const angles = [0.05, 1.2, Math.PI / 2];
    const ev = await run(Math.cos(0.4), [facesMsg(7, angles)]);
    // 0.05 rad: a (cos .05 = .999) above; 1.2 rad: best is b with cos(.7) = .76 < cos(.4) = .92; pi/2: nobody
    expect(ev).toHaveLength(1);
    expect(ev[0].subject.id).toBe('a');
    expect(ev[0].similarity).toBeCloseTo(Math.cos(0.05), 3);
    expect(ev[0].candidates.map((c) => c.subject.id)).toEqual(['a', 'b']);
    expect(ev[0].candidates[1].similarity).toBeCloseTo(Math.cos(0.45), 3);
    expect(ev[0]).toMatchObject({ camera: 'cam', seq: 7, mediaTime: 1.4, capturedAt: '2026-01-01T00:00:00.000Z', box: [1, 2, 30, 40], crop: '/9g=' });
    expect(ev[0].id).toBe(matchEventId('cam', 7, 0, 'a'));
    const lower = await run(Math.cos(0.75), [facesMsg(7, angles)]);
    expect(lower.map((e) => e.subject.id)).toEqual(['a', 'b']);
    expect((await run(0.5, [facesMsg(1, [0.3])], 1))[0].candidates).toHaveLength(1);
  });

  it('never compares faces of another embedding model with the index', async () => {
    expect(await run(0.1, [facesMsg(1, [0], 'other-model')])).toEqual([]);
  });

  it('gives the same face of the same frame the same event id (redelivery is recognisable)', async () => {
    const [a] = await run(0.5, [facesMsg(3, [0])]);
    const [b] = await run(0.5, [facesMsg(3, [0])]);
    expect(a.id).toBe(b.id);
  });
});
