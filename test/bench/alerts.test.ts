import { describe, expect, it } from 'vitest';
import type { Appearance } from '../../bench/alerts-scene.js';
import { scoreAlerts } from '../../bench/alerts.js';
import type { MatchEvent } from '../../src/contracts/messages.js';

const app = (person: string, enrolled: boolean, start: number, end: number): Appearance => ({ person, enrolled, photo: '', start, end });
const ev = (subject: string, mediaTime: number, type: 'alert' | 'update' = 'alert'): MatchEvent =>
  ({ type, subject: { id: subject, name: subject }, mediaTime }) as unknown as MatchEvent;

describe('scoreAlerts', () => {
  const appearances = [app('Ann', true, 1, 6), app('Bob', true, 10, 15), app('Cy', false, 3, 8), app('Dee', true, 20, 25)];
  const subjectOf = new Map([
    ['Ann', 'ann'],
    ['Bob', 'bob'],
    ['Dee', 'dee'],
  ]);

  it('counts alerted appearances, latency from the first appearance, duplicates and false alerts', () => {
    const r = scoreAlerts(
      appearances,
      subjectOf,
      [ev('ann', 1.4), ev('ann', 3, 'update'), ev('bob', 10.2), ev('bob', 12), ev('ann', 30), ev('dee', 4)],
      3600,
    );
    expect(r.enrolled_appearances).toBe(3);
    expect(r.alerted_share).toBeCloseTo(2 / 3);
    expect(r.missed).toEqual(['Dee']);
    expect(r.duplicate_alerts_per_appearance).toBeCloseTo(1 / 3); // bob's second alert
    expect(r.false_alerts).toBe(2); // ann at 30 s and dee while only Cy walks
    expect(r.false_alerts_per_camera_hour).toBe(2);
    expect(r.time_to_alert_p50_s).toBeCloseTo(0.2);
    expect(r.time_to_alert_p95_s).toBeCloseTo(0.4);
    expect(r.updates).toBe(1);
  });

  it('leaves people whose enrollment failed out of the score', () => {
    const r = scoreAlerts(appearances, new Map([['Ann', 'ann']]), [ev('ann', 2)], 60);
    expect(r.enrolled_appearances).toBe(1);
    expect(r.alerted_share).toBe(1);
  });
});
