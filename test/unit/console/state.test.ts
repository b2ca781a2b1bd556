import { describe, expect, it } from 'vitest';
import type { CameraStatus, MatchEvent } from '../../../src/contracts/messages.js';
import { degradedCameras, emptyState, fold, noFilters, visible, withCrop } from '../../../src/console/app/state.js';
import type { OperatorAction } from '../../../src/store/types.js';
import { sighting as sightingOf } from '../store/fixtures.js';

const sighting = (id: string, alertId: string, lastSeenAt: string, cursor: string) => ({ ...sightingOf(id, alertId, { lastSeenAt }), cursor });

const match = (id: string, revision: number, alertAt: string, cursor: string, extra: Partial<MatchEvent> = {}): MatchEvent & { cursor: string } => ({
  kind: 'match',
  v: 2,
  id,
  type: revision === 0 ? 'alert' : 'update',
  revision,
  subject: { id: 'ann', name: 'Ann' },
  similarity: 0.6 + revision / 100,
  margin: 0.2,
  threshold: 0.35,
  candidates: [{ subject: { id: 'ann', name: 'Ann' }, similarity: 0.6 }],
  rule: 'strong',
  camera: 'door',
  trackId: 't1',
  firstSeenAt: alertAt,
  alertAt,
  capturedAt: alertAt,
  mediaTime: null,
  seq: revision,
  box: [0, 0, 10, 10],
  frame: { width: 100, height: 100 },
  detectorScore: 0.9,
  crop: `crop-${revision}`,
  related: null,
  profile: 'research',
  model: 'm',
  cursor,
  ...extra,
});

const ack = (eventId: string, state: OperatorAction['state'], at: string, cursor: string): OperatorAction & { cursor: string } => ({
  kind: 'ack',
  v: 1,
  eventId,
  state,
  note: null,
  actor: 'operator:desk',
  at,
  cursor,
});

const cam = (camera: string, state: CameraStatus['state'], cursor: string): CameraStatus & { cursor: string } => ({
  kind: 'camera-status',
  v: 1,
  camera,
  name: null,
  state,
  previous: null,
  at: '2026-11-27T10:00:00.000Z',
  url: 'file.mp4',
  attempt: 0,
  retryInMs: null,
  frames: 0,
  lastFrameAt: null,
  error: null,
  cursor,
});

describe('console state: folding the event stream', () => {
  it('keeps one card per alert with its newest revision and counts updates; a replayed batch changes nothing', () => {
    const batch = [match('a', 0, '2026-11-27T10:00:00.000Z', 'c1'), match('b', 0, '2026-11-27T10:01:00.000Z', 'c2'), match('a', 1, '2026-11-27T10:00:00.000Z', 'c3')];
    const once = fold(emptyState(), batch);
    const twice = fold(once, batch); // a catch-up that overlaps what the page already has
    for (const s of [once, twice]) {
      expect(visible(s, noFilters, Date.now()).map((a) => a.id)).toEqual(['b', 'a']); // newest first
      expect(s.alerts.get('a')).toMatchObject({ updates: 1, unseenUpdate: true, latest: { revision: 1, crop: 'crop-1' } });
      expect(s.cursor).toBe('c3');
    }
    // An older revision arriving late does not replace the newer one.
    expect(fold(once, [match('a', 0, '2026-11-27T10:00:00.000Z', 'c4')]).alerts.get('a')!.latest.revision).toBe(1);
  });

  it('applies operator actions to their alert, the latest decision winning, and filters by state', () => {
    let s = fold(emptyState(), [match('a', 0, '2026-11-27T10:00:00.000Z', 'c1'), match('b', 0, '2026-11-27T10:01:00.000Z', 'c2')]);
    s = fold(s, [ack('a', 'acknowledged', '2026-11-27T10:02:00.000Z', 'c3'), ack('a', 'dismissed', '2026-11-27T10:03:00.000Z', 'c4')]);
    s = fold(s, [ack('a', 'acknowledged', '2026-11-27T10:02:00.000Z', 'c3')]); // the older one again
    expect(s.alerts.get('a')!.ack!.state).toBe('dismissed');
    expect(visible(s, { ...noFilters, state: 'open' }, Date.now()).map((a) => a.id)).toEqual(['b']);
    expect(visible(s, { ...noFilters, state: 'dismissed' }, Date.now()).map((a) => a.id)).toEqual(['a']);
    expect(visible(s, { ...noFilters, withinMinutes: 15 }, Date.parse('2026-11-27T10:10:00.000Z')).map((a) => a.id)).toEqual(['b', 'a']);
    expect(visible(s, { ...noFilters, withinMinutes: 15 }, Date.parse('2026-11-27T10:15:30.000Z')).map((a) => a.id)).toEqual(['b']);
  });

  it('tracks each camera\'s latest state and calls a watched camera that is not live degraded', () => {
    const s = fold(emptyState(), [cam('door', 'live', 'c1'), cam('hall', 'live', 'c2'), cam('door', 'stalled', 'c3'), cam('old', 'disabled', 'c4'), cam('hall', 'stopped', 'c5')]);
    expect([...s.cameras.keys()].sort()).toEqual(['door', 'old']);
    expect(degradedCameras(s).map((c) => c.camera)).toEqual(['door']);
    // A status older than the one held (GET /api/cameras answering after the feed) changes nothing but the cursor.
    const stale = fold(s, [{ ...cam('door', 'live', 'c6'), at: '2026-11-27T09:00:00.000Z' }]);
    expect(stale.cameras.get('door')!.state).toBe('stalled');
    expect(stale.cursor).toBe('c6');
  });

  it('adds a crop fetched by id only to the revision it belongs to', () => {
    const s = fold(emptyState(), [match('a', 2, '2026-11-27T10:00:00.000Z', 'c1', { crop: undefined as unknown as string })]);
    expect(withCrop(s, 'a', 1, 'old').alerts.get('a')!.latest.crop).toBeUndefined();
    expect(withCrop(s, 'a', 2, 'new').alerts.get('a')!.latest.crop).toBe('new');
  });

  it('counts each alert\'s sightings once and keeps the latest "last seen", live, after a catch-up, and before the alert itself', () => {
    // A sighting folded before its alert (a history page boundary) still counts when the alert arrives.
    let s = fold(emptyState(), [sighting('g1', 'a', '2026-11-27T10:00:05.000Z', 'c1')]);
    s = fold(s, [match('a', 0, '2026-11-27T10:00:00.000Z', 'c2'), match('b', 0, '2026-11-27T10:01:00.000Z', 'c3')]);
    // Live: a second sighting of a (a later track folded into the alert), one of b, then the catch-up replays all of them (plus one older).
    const live = [sighting('g2', 'a', '2026-11-27T10:04:00.000Z', 'c4'), sighting('g3', 'b', '2026-11-27T10:01:10.000Z', 'c5')];
    s = fold(s, live);
    s = fold(s, [sighting('g1', 'a', '2026-11-27T10:00:05.000Z', 'c1'), ...live]);
    expect(s.sightings.get('a')).toEqual({ ids: new Set(['g1', 'g2']), lastSeenAt: '2026-11-27T10:04:00.000Z' });
    expect(s.sightings.get('b')).toEqual({ ids: new Set(['g3']), lastSeenAt: '2026-11-27T10:01:10.000Z' });
    // A sighting arriving out of order never moves "last seen" back.
    s = fold(s, [sighting('g0', 'a', '2026-11-27T10:00:01.000Z', 'c6')]);
    expect(s.sightings.get('a')!.lastSeenAt).toBe('2026-11-27T10:04:00.000Z');
    expect(s.sightings.get('a')!.ids.size).toBe(3);
    expect(s.cursor).toBe('c6');
    // Sightings never become cards.
    expect([...s.alerts.keys()].sort()).toEqual(['a', 'b']);
  });
});
