import { describe, expect, it } from 'vitest';
import type { Candidate } from '../../../src/contracts/messages.js';
import { AlertDecider, defaultAlertRules, type AlertDecision } from '../../../src/matcher/alerts.js';
import type { Track } from '../../../src/matcher/tracker.js';

const rules = { ...defaultAlertRules, threshold: 0.4 }; // strong at 0.5, 2 of 3, cooldown 60 s
const track = (id: string, firstSeenAt = 0): Track => ({ id, firstSeenAt, lastSeenAt: firstSeenAt, lastBox: [0, 0, 1, 1], embedding: new Float32Array(1), faces: 1 });
const cands = (...c: [string, number][]): Candidate[] => c.map(([id, similarity]) => ({ subject: { id, name: id.toUpperCase() }, similarity }));

describe('AlertDecider', () => {
  describe('#observe rules', () => {
    it("'strong': one face well above the threshold alerts at once, with the margin to the runner-up", () => {
      const d = new AlertDecider(rules);
      const a = d.observe('cam', track('t1'), cands(['jane', 0.62], ['john', 0.2]), 0)!;
      expect(a).toMatchObject({ type: 'alert', rule: 'strong', revision: 0, subject: { id: 'jane' } });
      expect(a.margin).toBeCloseTo(0.42);
    });

    it("'k-of-n': weak faces alert once 2 of the last 3 name the same subject", () => {
      const d = new AlertDecider(rules);
      const t = track('t1');
      expect(d.observe('cam', t, cands(['jane', 0.44]), 0)).toBeUndefined();
      expect(d.observe('cam', t, cands(['jane', 0.3]), 200)).toBeUndefined();
      expect(d.observe('cam', t, cands(['jane', 0.43]), 400)).toMatchObject({ type: 'alert', rule: 'k-of-n' });
    });

    it('never alerts below the threshold, and counts those faces and tracks as unknown', () => {
      const d = new AlertDecider(rules);
      const t = track('t1');
      for (let i = 0; i < 5; i++) expect(d.observe('cam', t, cands(['jane', 0.39]), i * 200)).toBeUndefined();
      d.close('cam', [t]);
      expect(d.unknownFaces.get('cam')).toBe(5);
      expect(d.unknownTracks.get('cam')).toBe(1);
    });
  });

  describe('updates', () => {
    it('turns a better later face into an update of the same alert, never a new alert', () => {
      const d = new AlertDecider(rules);
      const t = track('t1');
      const first = d.observe('cam', t, cands(['jane', 0.55]), 0)!;
      expect(d.observe('cam', t, cands(['jane', 0.56]), 200)).toBeUndefined(); // gain below 0.03
      const up = d.observe('cam', t, cands(['jane', 0.7]), 400)!;
      expect(up).toMatchObject({ type: 'update', alertId: first.alertId, revision: 1, rule: 'strong' });
      expect(d.observe('cam', t, cands(['john', 0.9]), 600)).toBeUndefined(); // the track stays Jane's
    });
  });

  describe('cooldown', () => {
    it('the same subject back on the same camera within the cooldown continues the alert; after it, a new alert', () => {
      const d = new AlertDecider(rules);
      const first = d.observe('cam', track('t1'), cands(['jane', 0.6]), 0)!;
      d.close('cam', [track('t1')]);
      const back: AlertDecision | undefined = d.observe('cam', track('t2', 30_000), cands(['jane', 0.61]), 30_000);
      expect(back).toBeUndefined();
      const better = d.observe('cam', track('t2', 30_000), cands(['jane', 0.8]), 30_200)!;
      expect(better).toMatchObject({ type: 'update', alertId: first.alertId });
      // 60 s after she was last seen (30.2 s), a new appearance is a new alert
      const again = d.observe('cam', track('t3', 91_000), cands(['jane', 0.6]), 91_000)!;
      expect(again.type).toBe('alert');
      expect(again.alertId).not.toBe(first.alertId);
    });

    it('on another camera the same subject raises a new alert linked to the earlier one', () => {
      const d = new AlertDecider(rules);
      const first = d.observe('door', track('t1'), cands(['jane', 0.6]), 0)!;
      const other = d.observe('lobby', track('t9', 5000), cands(['jane', 0.6]), 5000)!;
      expect(other).toMatchObject({ type: 'alert', related: { id: first.alertId, camera: 'door' } });
    });
  });
});
