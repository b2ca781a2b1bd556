import { createHash } from 'node:crypto';
import type { Candidate, SubjectRef } from '../contracts/messages.js';
import type { Track } from './tracker.js';

export interface AlertRules {
  /** cosine similarity a face must reach to count as the subject */
  readonly threshold: number;
  /** one face this far above the threshold alerts at once ('strong') */
  readonly strongMargin: number;
  /** otherwise k of the track's last n faces must name the same subject above the threshold ('k-of-n') */
  readonly k: number;
  readonly n: number;
  /** same subject, same camera: no new alert within this long of the last sighting, ms (capture time) */
  readonly cooldownMs: number;
  /** an alerted track sends an update when a face beats the best similarity by this much */
  readonly updateMinGain: number;
}

export const defaultAlertRules: Omit<AlertRules, 'threshold'> = { strongMargin: 0.1, k: 2, n: 3, cooldownMs: 60_000, updateMinGain: 0.03 };

export type AlertRule = 'strong' | 'k-of-n';

/** What the decider wants published for one face. */
export interface AlertDecision {
  readonly type: 'alert' | 'update';
  readonly alertId: string;
  readonly revision: number;
  readonly rule: AlertRule;
  readonly subject: SubjectRef;
  readonly similarity: number;
  /** best similarity minus the second-best candidate's (another subject) */
  readonly margin: number;
  readonly track: Track;
  /** capture time of the first face of the appearance (the track, or the first track of a cooldown chain), ms */
  readonly firstSeenAt: number;
  /** capture time of the face that raised the alert, ms */
  readonly alertedAt: number;
  /** an earlier alert for the same subject on another camera */
  readonly related?: { readonly id: string; readonly camera: string };
}

interface AlertState {
  readonly id: string;
  readonly camera: string;
  readonly subject: SubjectRef;
  readonly rule: AlertRule;
  readonly firstSeenAt: number;
  readonly alertedAt: number;
  revision: number;
  best: number;
  /** capture time the subject was last seen under this alert, ms */
  lastSeenAt: number;
}

interface TrackState {
  readonly window: { subject: string | null; similarity: number }[];
  alert?: AlertState;
}

/**
 * One alert per appearance: decides per track when the evidence is enough (a strong face, or k of n
 * faces), turns later better faces into updates of the same alert, and keeps a per-camera cooldown so
 * a person who steps out of view and back does not raise a second alert. Times are capture times, so
 * replay decides exactly as live did.
 */
export class AlertDecider {
  readonly #r: AlertRules;
  readonly #tracks = new Map<string, TrackState>();
  /** camera + subject -> the last alert there */
  readonly #recent = new Map<string, AlertState>();
  /** subject -> the last alert anywhere */
  readonly #lastBySubject = new Map<string, AlertState>();
  /** per camera: faces and closed tracks that matched nobody */
  readonly unknownFaces = new Map<string, number>();
  readonly unknownTracks = new Map<string, number>();

  readonly #thresholdOf: (subject: string) => number;

  /** `thresholdOf`: a subject's own threshold (its lists' operating point); default rules.threshold for all. */
  constructor(rules: AlertRules, thresholdOf?: (subject: string) => number) {
    this.#r = rules;
    this.#thresholdOf = thresholdOf ?? (() => rules.threshold);
  }

  observe(camera: string, track: Track, candidates: readonly Candidate[], at: number): AlertDecision | undefined {
    const r = this.#r;
    let st = this.#tracks.get(track.id);
    if (!st) {
      st = { window: [] };
      this.#tracks.set(track.id, st);
    }
    const best = candidates[0];
    const threshold = best ? this.#thresholdOf(best.subject.id) : r.threshold;
    const hit = best !== undefined && best.similarity >= threshold;
    if (!hit) this.unknownFaces.set(camera, (this.unknownFaces.get(camera) ?? 0) + 1);
    st.window.push({ subject: hit ? best.subject.id : null, similarity: best?.similarity ?? -1 });
    if (st.window.length > r.n) st.window.shift();
    if (!hit) return undefined;
    const margin = best.similarity - (candidates.find((c) => c.subject.id !== best.subject.id)?.similarity ?? 0);

    const a = st.alert;
    if (a) {
      if (best.subject.id !== a.subject.id) return undefined;
      a.lastSeenAt = at;
      if (best.similarity < a.best + r.updateMinGain) return undefined;
      a.best = best.similarity;
      a.revision++;
      return { type: 'update', alertId: a.id, revision: a.revision, rule: a.rule, subject: a.subject, similarity: best.similarity, margin, track, firstSeenAt: a.firstSeenAt, alertedAt: a.alertedAt };
    }

    const rule: AlertRule | undefined =
      best.similarity >= threshold + r.strongMargin ? 'strong' : st.window.filter((w) => w.subject === best.subject.id).length >= r.k ? 'k-of-n' : undefined;
    if (!rule) return undefined;

    const key = `${camera}\0${best.subject.id}`;
    const recent = this.#recent.get(key);
    if (recent && at - recent.lastSeenAt < r.cooldownMs) {
      // The same person back within the cooldown: this track continues that alert.
      st.alert = recent;
      recent.lastSeenAt = at;
      if (best.similarity < recent.best + r.updateMinGain) return undefined;
      recent.best = best.similarity;
      recent.revision++;
      return { type: 'update', alertId: recent.id, revision: recent.revision, rule: recent.rule, subject: recent.subject, similarity: best.similarity, margin, track, firstSeenAt: recent.firstSeenAt, alertedAt: recent.alertedAt };
    }
    const id = alertId(camera, track.firstSeenAt, best.subject.id);
    const earlier = this.#lastBySubject.get(best.subject.id);
    const alert: AlertState = { id, camera, subject: best.subject, rule, firstSeenAt: track.firstSeenAt, alertedAt: at, revision: 0, best: best.similarity, lastSeenAt: at };
    st.alert = alert;
    this.#recent.set(key, alert);
    this.#lastBySubject.set(best.subject.id, alert);
    const related = earlier && earlier.camera !== camera ? { id: earlier.id, camera: earlier.camera } : undefined;
    return { type: 'alert', alertId: id, revision: 0, rule, subject: best.subject, similarity: best.similarity, margin, track, firstSeenAt: track.firstSeenAt, alertedAt: at, related };
  }

  /** The alert a track belongs to (its own, or the one the cooldown folded it into); undefined if none. */
  alertOf(trackId: string): { readonly id: string; readonly subject: SubjectRef } | undefined {
    return this.#tracks.get(trackId)?.alert;
  }

  /** Forgets closed tracks; those that never alerted are counted as unknown appearances and returned. */
  close(camera: string, tracks: readonly Track[]): Track[] {
    const unknown: Track[] = [];
    for (const t of tracks) {
      const st = this.#tracks.get(t.id);
      if (st && !st.alert) {
        this.unknownTracks.set(camera, (this.unknownTracks.get(camera) ?? 0) + 1);
        unknown.push(t);
      }
      this.#tracks.delete(t.id);
    }
    return unknown;
  }
}

/** Deterministic: the same stream gives the same alert ids, so a redelivered alert is recognisable. */
export function alertId(camera: string, trackStart: number, subject: string): string {
  return createHash('sha256').update(`alert\0${camera}\0${trackStart}\0${subject}`).digest('hex').slice(0, 24);
}
