import { describe, expect, it } from 'vitest';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import { codecs } from '../../../src/contracts/codecs.js';
import type { FacesMsg, MatchEvent, SightingMsg, SubjectRecord } from '../../../src/contracts/messages.js';
import { createLogger } from '../../../src/log.js';
import { defaultAlertRules } from '../../../src/matcher/alerts.js';
import { SubjectIndex } from '../../../src/matcher/index.js';
import { MatcherStage } from '../../../src/matcher/stage.js';

const unit = (a: number): Float32Array => new Float32Array([Math.cos(a), Math.sin(a), 0, 0]);
const subject = (id: string, a: number): SubjectRecord => ({
  id, name: id, createdAt: '', updatedAt: '', images: [{ sha256: id, name: id }], embeddings: [{ model: 'm', image: id, vector: Array.from(unit(a)) }],
});
const T0 = Date.UTC(2026, 0, 1);
const facesMsg = (seq: number, angles: number[]): FacesMsg => ({
  kind: 'faces', v: 1, camera: 'cam', seq, capturedAt: T0 + seq * 200, mediaTime: seq / 5, frame: { width: 100, height: 100 }, profile: 'p', model: 'm',
  faces: angles.map((a) => ({ box: [1, 2, 30, 40], score: 0.9, landmarks: [], embedding: unit(a), crop: new Uint8Array([0xff, 0xd8, seq]) })),
});

async function run(msgs: FacesMsg[]): Promise<{ events: MatchEvent[]; sightings: SightingMsg[] }> {
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, false));
  const index = SubjectIndex.build('m', 4, [subject('a', 0), subject('b', 1.5)]);
  // trackGap 2 s (default), cooldown 60 s
  const stage = new MatcherStage({ bus, index, rules: { ...defaultAlertRules, threshold: 0.8 }, topK: 2, log: createLogger('silent') });
  await stage.start();
  const events: MatchEvent[] = [];
  const sightings: SightingMsg[] = [];
  bus.subscribe('matches', { group: 't' }, (e) => void events.push(...e));
  bus.subscribe('sightings', { group: 't' }, (e) => void sightings.push(...e));
  for (const m of msgs) await bus.publish('faces', m);
  await bus.idle();
  await stage.flush();
  await bus.idle();
  await stage.stop();
  return { events, sightings };
}

describe('sightings', () => {
  it('records every appearance of a listed person, also those the cooldown folds into one alert', async () => {
    // a: frames 0-4 (1 s), gone 5 s, back at frames 30-34: one alert (cooldown), two sightings
    const msgs = [...[0, 1, 2, 3, 4].map((s) => facesMsg(s, [s === 2 ? 0.01 : 0.2])), ...[30, 31, 32, 33, 34].map((s) => facesMsg(s, [0.3]))];
    const { events, sightings } = await run(msgs);
    expect(events.filter((e) => e.type === 'alert')).toHaveLength(1);
    expect(sightings).toHaveLength(2);
    const [s1, s2] = sightings;
    expect(s1).toMatchObject({ kind: 'sighting', v: 1, alertId: events[0]!.id, subject: { id: 'a' }, camera: 'cam', faces: 5, firstMediaTime: 0, lastMediaTime: 0.8, bestMediaTime: 0.4 });
    expect(s1!.similarity).toBeCloseTo(Math.cos(0.01), 3);
    expect(Buffer.from(s1!.crop, 'base64')).toEqual(Buffer.from([0xff, 0xd8, 2]));
    expect(s2).toMatchObject({ alertId: events[0]!.id, faces: 5, firstMediaTime: 6, lastMediaTime: 6.8, firstSeenAt: new Date(T0 + 6000).toISOString() });
    expect(s1!.id).not.toBe(s2!.id);
    // the wire codec round-trips a sighting
    expect(await codecs.sightings.decode(await codecs.sightings.encode(s2!))).toEqual(s2);
  });

  it('gives no sighting for faces that matched nobody', async () => {
    const { sightings } = await run([0, 1, 2].map((s) => facesMsg(s, [0.75])));
    expect(sightings).toEqual([]);
  });
});
