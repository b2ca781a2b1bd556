import type { Candidate, FaceRecord, FacesMsg, MatchEvent, VisitorRef } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { alertId } from '../matcher/alerts.js';
import type { Track } from '../matcher/tracker.js';
import { faceFields } from '../matcher/stage.js';
import { pseudonymOf, type Assignment, type VisitorStore } from './store.js';

export interface VisitorTracksOptions {
  readonly store: VisitorStore;
  /** opt-in rule: cameras where an unknown face raises an alert naming its visitor */
  readonly alertCameras: readonly string[];
  /** the alert rules' k of n: k of a track's last n faces must have matched nobody */
  readonly k: number;
  readonly n: number;
  readonly log: Logger;
}

/** A track shorter than this (faces) is not made a visitor: one-frame detections are mostly noise. */
export const MIN_VISITOR_FACES = 2;

/** Distinct embeddings of a track kept to compare with the visitors when it ends. */
const TOP_FACES = 3;

interface TrackState {
  /** best face so far (by detector score); references, never copied */
  best?: FaceRecord;
  /** the best faces with distinct embeddings (a followed track repeats its last embedding), best first */
  readonly tops: FaceRecord[];
  /** last n faces: true = matched nobody */
  readonly window: boolean[];
  /** faces that matched a watchlist subject */
  hits: number;
  faces: number;
  /** the visitor the track was given early (alert cameras), and whether the track created it */
  visitor?: number;
  isNew?: boolean;
  alerted: boolean;
}

/**
 * The matcher's hook for unknown visitors (config `visitors`, embedded mode). Follows each face
 * track: when a track that matched nobody on the watchlist ends, its best face joins the nearest
 * visitor (or a new one) and counts as a visit. On an alert camera a track is given its visitor as
 * soon as k of its last n faces matched nobody (and none matched anyone), and one alert names it.
 */
export class VisitorTracks {
  readonly #o: VisitorTracksOptions;
  readonly #alertCameras: ReadonlySet<string>;
  readonly #tracks = new Map<string, TrackState>();
  visitorAlerts = 0;

  constructor(o: VisitorTracksOptions) {
    this.#o = o;
    this.#alertCameras = new Set(o.alertCameras);
  }

  /** One face of a track; `hit`: it matched a watchlist subject. Returns an alert to publish, at most once per track. */
  observe(camera: string, track: Track, face: FaceRecord, hit: boolean, m: FacesMsg, candidates: readonly Candidate[]): MatchEvent | undefined {
    let st = this.#tracks.get(track.id);
    if (!st) this.#tracks.set(track.id, (st = { window: [], tops: [], hits: 0, faces: 0, alerted: false }));
    st.faces++;
    if (hit) st.hits++;
    else {
      if (!st.best || face.score > st.best.score) st.best = face;
      keepTop(st.tops, face);
    }
    st.window.push(!hit);
    if (st.window.length > this.#o.n) st.window.shift();
    if (st.alerted || st.hits > 0 || !this.#alertCameras.has(camera) || st.faces < MIN_VISITOR_FACES) return undefined;
    if (st.window.filter(Boolean).length < this.#o.k) return undefined;
    st.alerted = true;
    const a = this.#assign(camera, track, st.best!, m.capturedAt);
    if (!a) return undefined;
    st.visitor = a.number;
    st.isNew = a.isNew;
    this.visitorAlerts++;
    return visitorEvent(a, this.#o.store, camera, track, face, m, candidates);
  }

  /** Tracks ended; `unknown`: those that never alerted on a watchlist subject. Their best faces join visitors. */
  close(camera: string, tracks: readonly Track[], unknown: readonly Track[]): void {
    for (const t of tracks) {
      const st = this.#tracks.get(t.id);
      this.#tracks.delete(t.id);
      if (!st?.best || !unknown.includes(t) || st.hits > 0 || (st.visitor === undefined && st.faces < MIN_VISITOR_FACES)) continue;
      // The face that comes closest to a known visitor: with the schedule a track is embedded a few
      // times only, and its best-scored face need not be its most telling one.
      const face = this.#closest(st.tops) ?? st.best;
      const a = this.#assign(camera, t, st.visitor === undefined ? face : st.best, t.lastSeenAt, st.visitor);
      // Given a new visitor from its first faces, the track's best face may show it someone known: one person, one visitor.
      if (a && st.isNew) this.#mergeIfKnown(a.number, st.tops);
    }
  }

  /** Of the track's faces, the one nearest a known visitor when that reaches the threshold. */
  #closest(faces: readonly FaceRecord[], except?: number): FaceRecord | undefined {
    let found: { face: FaceRecord; similarity: number } | undefined;
    for (const face of faces) {
      const near = this.#o.store.nearest(face.embedding, except);
      if (near && near.similarity >= this.#o.store.threshold && (!found || near.similarity > found.similarity)) found = { face, similarity: near.similarity };
    }
    return found?.face;
  }

  #mergeIfKnown(number: number, faces: readonly FaceRecord[]): void {
    const s = this.#o.store;
    try {
      const face = this.#closest(faces, number);
      if (!face) return;
      const near = s.nearest(face.embedding, number);
      if (!near || near.similarity < s.threshold) return;
      s.merge(number, near.number);
      this.#o.log.info({ from: pseudonymOf(number), into: pseudonymOf(near.number), similarity: Math.round(near.similarity * 1e4) / 1e4 }, 'visitor merged into an earlier one: its best face showed the same person');
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message, visitor: number }, 'merging visitors failed');
    }
  }

  /** The face joins a visitor and the track counts as (part of) a visit; a storage failure is logged, the matcher goes on. */
  #assign(camera: string, track: Track, face: FaceRecord, at: number, into?: number): Assignment | undefined {
    const s = this.#o.store;
    try {
      const a = s.assign({ embedding: face.embedding, crop: face.crop, quality: face.score, camera, at }, into);
      s.visit(a.number, camera, track.id, track.firstSeenAt, track.lastSeenAt);
      return a;
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message, camera, track: track.id }, 'storing an unknown visitor failed');
      return undefined;
    }
  }
}

/** Keeps the best TOP_FACES faces with distinct embeddings (by detector score), best first. */
function keepTop(tops: FaceRecord[], face: FaceRecord): void {
  const same = tops.findIndex((f) => f.embedding === face.embedding || sameVector(f.embedding, face.embedding));
  if (same >= 0) {
    if (face.score <= tops[same]!.score) return;
    tops.splice(same, 1);
  }
  tops.push(face);
  tops.sort((a, b) => b.score - a.score);
  if (tops.length > TOP_FACES) tops.length = TOP_FACES;
}

const sameVector = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** The unknown-visitor alert (a match event with `visitor` set; the contract is in messages.ts). */
function visitorEvent(a: Assignment, store: VisitorStore, camera: string, track: Track, face: FaceRecord, m: FacesMsg, candidates: readonly Candidate[]): MatchEvent {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const subject = { id: `visitor:${a.number}`, name: pseudonymOf(a.number) };
  const visitor: VisitorRef = { v: 1, number: a.number, pseudonym: subject.name, ...store.visits(a.number, m.capturedAt), isNew: a.isNew };
  return {
    kind: 'match',
    v: 2,
    id: alertId(camera, track.firstSeenAt, subject.id),
    type: 'alert',
    revision: 0,
    subject,
    similarity: round(a.similarity),
    margin: 0,
    threshold: store.threshold,
    candidates: candidates.map((c) => ({ subject: c.subject, similarity: round(c.similarity) })),
    rule: 'k-of-n',
    trackId: track.id,
    firstSeenAt: iso(track.firstSeenAt),
    alertAt: iso(m.capturedAt),
    ...faceFields(m, face),
    related: null,
    visitor,
  };
}

const round = (v: number): number => Math.round(v * 10000) / 10000;
