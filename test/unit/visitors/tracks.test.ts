import { afterEach, describe, expect, it } from 'vitest';
import type { FaceRecord, FacesMsg } from '../../../src/contracts/messages.js';
import { createLogger } from '../../../src/log.js';
import type { Track } from '../../../src/matcher/tracker.js';
import { alertPayload } from '../../../src/sinks/payload.js';
import { VisitorStore } from '../../../src/visitors/store.js';
import { VisitorTracks } from '../../../src/visitors/tracks.js';
import { tempDir } from '../../helpers.js';

/** The matcher's visitor hook on synthetic faces (the real-model path: test/integration/visitors.test.ts). */

const T0 = Date.now();
const unit = (i: number): Float32Array => {
  const v = new Float32Array(8);
  v[i] = 1;
  return v;
};
const face = (i: number, score = 0.9): FaceRecord => ({ box: [10, 10, 60, 60], score, landmarks: [], embedding: unit(i), crop: new Uint8Array([0xff, 0xd8, i]) });
const msg = (camera: string, seq: number, f: FaceRecord): FacesMsg => ({ kind: 'faces', v: 1, camera, seq, capturedAt: T0 + seq * 200, mediaTime: seq * 0.2, frame: { width: 640, height: 360 }, profile: 'p', model: 'm', faces: [f] });
const track = (id: string, start: number): Track => ({ id, firstSeenAt: T0 + start * 200, lastSeenAt: T0 + start * 200, lastBox: [10, 10, 60, 60], embedding: unit(0), faces: 0 });

let stores: VisitorStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});

async function hook(alertCameras: string[]): Promise<{ v: VisitorTracks; store: VisitorStore }> {
  const store = new VisitorStore(await tempDir(), { model: 'm', threshold: 0.5, retentionDays: 7, visitGapMs: 60_000, maxCrops: 3 });
  stores.push(store);
  return { v: new VisitorTracks({ store, alertCameras, k: 2, n: 3, log: createLogger('silent') }), store };
}

/** Feeds `n` faces of person `who` as track `t` at `camera`; returns the alerts. */
function feed(v: VisitorTracks, camera: string, t: Track, who: number, n: number, hit = (_k: number) => false) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const f = face(who);
    const m = msg(camera, k, f);
    t.lastSeenAt = m.capturedAt;
    const e = v.observe(camera, t, f, hit(k), m, []);
    if (e) out.push(e);
  }
  return out;
}

describe('visitor tracks', () => {
  it('alerts once per track, only at an alert camera, after k unknown faces; the alert names the visitor', async () => {
    const { v, store } = await hook(['door']);
    const hall = track('hall-1', 0);
    expect(feed(v, 'hall', hall, 0, 6)).toEqual([]);
    v.close('hall', [hall], [hall]);
    expect(store.count()).toBe(1); // recorded, not alerted
    const door = track('door-1', 0);
    const alerts = feed(v, 'door', door, 0, 6);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'match', v: 2, type: 'alert', camera: 'door', trackId: 'door-1', subject: { id: 'visitor:1', name: 'unknown #1' }, rule: 'k-of-n', visitor: { v: 1, number: 1, visitsToday: 2, visits: 2, isNew: false } });
    v.close('door', [door], [door]);
    expect(store.list()[0]).toMatchObject({ number: 1, visits: 2, lastCamera: 'door' });
    // A sink's payload carries the visitor.
    expect(alertPayload(alerts[0]!, { includeCrop: false }).visitor).toEqual({ number: 1, pseudonym: 'unknown #1', visitsToday: 2, visits: 2 });
  });

  it('a track given a new visitor from its first faces is merged into a known one when its best face shows the same person', async () => {
    const { v, store } = await hook(['door']);
    const a = track('door-a', 0);
    expect(feed(v, 'door', a, 0, 4)).toHaveLength(1);
    v.close('door', [a], [a]);
    // Track b starts turned away (an unlike face: a new visitor, alerted as such), then faces the camera.
    const b = track('door-b', 10);
    const alerts = [];
    for (let k = 0; k < 6; k++) {
      const f = k < 2 ? face(5, 0.5) : face(0, 0.95);
      const m = msg('door', 10 + k, f);
      b.lastSeenAt = m.capturedAt;
      const e = v.observe('door', b, f, false, m, []);
      if (e) alerts.push(e);
    }
    expect(alerts.map((e) => e.visitor)).toMatchObject([{ number: 2, isNew: true }]);
    v.close('door', [b], [b]);
    expect(store.list().map((x) => [x.number, x.visits, x.faces])).toEqual([[1, 1, 3]]); // one person, one visit of two tracks
    expect(store.rows()).toEqual({ visitors: 1, faces: 3, visits: 1 });
  });

  it('a track that matched a watchlist subject is never a visitor; a one-face track is ignored', async () => {
    const { v, store } = await hook(['door']);
    const known = track('door-2', 0);
    expect(feed(v, 'door', known, 1, 6, (k) => k === 3)).toHaveLength(1); // alerted on its first unknown faces, before the hit
    const subject = track('door-3', 0);
    expect(feed(v, 'door', subject, 2, 6, () => true)).toEqual([]);
    v.close('door', [subject], []); // the decider: it alerted on a subject
    const blip = track('door-4', 0);
    expect(feed(v, 'door', blip, 3, 1)).toEqual([]);
    v.close('door', [blip], [blip]);
    expect(store.list().map((x) => x.number)).toEqual([1]); // only the early-alerted track's visitor
    expect(store.nearest(unit(2))?.similarity ?? 0).toBeLessThan(0.5);
  });
});
