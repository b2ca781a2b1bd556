import { createHash } from 'node:crypto';
import type { FaceRecord, FacesMsg, SightingMsg, SubjectRef } from '../contracts/messages.js';

interface Open {
  readonly subject: string;
  firstAt: number;
  lastAt: number;
  firstMedia: number | null;
  lastMedia: number | null;
  faces: number;
  best: number;
  bestAt: number;
  bestMedia: number | null;
  /** the best face's record and frame: references kept, never copied */
  face: FaceRecord;
  msg: FacesMsg;
}

/**
 * Per track and subject: first and last face naming the subject above the threshold, how many, and
 * the best one. The matcher turns the aggregate of an alerted track into a SightingMsg when the
 * track closes, whether or not the alert rules sent anything for that track.
 */
export class SightingAggregator {
  /** track id -> subject id -> aggregate */
  readonly #open = new Map<string, Map<string, Open>>();

  observe(trackId: string, subject: string, similarity: number, m: FacesMsg, face: FaceRecord): void {
    let bySubject = this.#open.get(trackId);
    if (!bySubject) this.#open.set(trackId, (bySubject = new Map()));
    const o = bySubject.get(subject);
    if (!o) {
      bySubject.set(subject, { subject, firstAt: m.capturedAt, lastAt: m.capturedAt, firstMedia: m.mediaTime, lastMedia: m.mediaTime, faces: 1, best: similarity, bestAt: m.capturedAt, bestMedia: m.mediaTime, face, msg: m });
      return;
    }
    o.lastAt = m.capturedAt;
    o.lastMedia = m.mediaTime;
    o.faces++;
    if (similarity > o.best) Object.assign(o, { best: similarity, bestAt: m.capturedAt, bestMedia: m.mediaTime, face, msg: m });
  }

  /** Ends a track: its sighting of `alert.subject` (undefined when the track never named them), and forgets the track. */
  close(trackId: string, alert: { readonly id: string; readonly subject: SubjectRef } | undefined, camera: string, threshold: number): SightingMsg | undefined {
    const bySubject = this.#open.get(trackId);
    this.#open.delete(trackId);
    const o = alert && bySubject?.get(alert.subject.id);
    if (!alert || !o) return undefined;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const r = (v: number | null): number | null => (v === null ? null : Math.round(v * 10000) / 10000);
    const f = o.face;
    return {
      kind: 'sighting',
      v: 1,
      id: createHash('sha256').update(`sighting\0${camera}\0${o.firstAt}\0${alert.subject.id}`).digest('hex').slice(0, 24),
      alertId: alert.id,
      subject: alert.subject,
      camera,
      trackId,
      firstSeenAt: iso(o.firstAt),
      lastSeenAt: iso(o.lastAt),
      firstMediaTime: r(o.firstMedia),
      lastMediaTime: r(o.lastMedia),
      faces: o.faces,
      similarity: r(o.best)!,
      threshold,
      bestAt: iso(o.bestAt),
      bestMediaTime: r(o.bestMedia),
      box: f.box.map((v) => Math.round(v)) as unknown as SightingMsg['box'],
      frame: o.msg.frame,
      crop: Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength).toString('base64'),
      profile: o.msg.profile,
      model: o.msg.model,
    };
  }
}
