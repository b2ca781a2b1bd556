import type { MatchEvent, SightingMsg } from '../../../src/contracts/messages.js';

/** A valid match event (v2) for store and feed tests; override any field. */
export const matchEvent = (id: string, o: Partial<MatchEvent> = {}): MatchEvent => ({
  kind: 'match', v: 2, id, type: 'alert', revision: 0, subject: { id: 'ann', name: 'Ann' }, similarity: 0.7, margin: 0.3, threshold: 0.4, candidates: [], rule: 'strong',
  camera: 'door', trackId: 't1', firstSeenAt: '2026-01-01T00:00:00.000Z', alertAt: '2026-01-01T00:00:00.000Z', capturedAt: '2026-01-01T00:00:00.000Z',
  mediaTime: null, seq: 1, box: [0, 0, 1, 1], frame: { width: 2, height: 2 }, detectorScore: 1, crop: Buffer.from('jpeg-bytes').toString('base64'), related: null, profile: 'research', model: 'm', ...o,
});


/** A valid sighting (v1) of alert `alertId`; override any field. */
export const sighting = (id: string, alertId: string, o: Partial<SightingMsg> = {}): SightingMsg => ({
  kind: 'sighting', v: 1, id, alertId, subject: { id: 'ann', name: 'Ann' }, camera: 'door', trackId: 't1',
  firstSeenAt: '2026-01-01T00:00:00.000Z', lastSeenAt: '2026-01-01T00:00:02.000Z', firstMediaTime: null, lastMediaTime: null, faces: 3,
  similarity: 0.7, threshold: 0.4, bestAt: '2026-01-01T00:00:01.000Z', bestMediaTime: null, box: [0, 0, 1, 1], frame: { width: 2, height: 2 },
  crop: Buffer.from('sighting-jpeg').toString('base64'), profile: 'research', model: 'm', ...o,
});
