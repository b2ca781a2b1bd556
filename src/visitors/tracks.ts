import type { Candidate, FaceRecord, FacesMsg, MatchEvent, VisitorRef } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { alertId } from '../matcher/alerts.js';
import type { Track } from '../matcher/tracker.js';
import { faceFields, round } from '../matcher/stage.js';
import { sameVector } from '../util/boxes.js';
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
  /** the best faces (by detector score) with distinct embeddings (a followed track repeats its last
   * embedding), best first; references, never copied */
  readonly tops: FaceRecord[];
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

  constructor(o: VisitorTracksOptions) {
    this.#o = o;
    this.#alertCameras = new Set(o.alertCameras);
  }

  /** One face of a track; `hit`: it matched a watchlist subject. Returns an alert to publish, at most once per track. */
  observe(camera: string, track: Track, face: FaceRecord, hit: boolean, m: FacesMsg, candidates: readonly Candidate[]): MatchEvent | undefined {
    let st = this.#tracks.get(track.id);
    if (!st) this.#tracks.set(track.id, (st = { tops: [], hits: 0, faces: 0, alerted: false }));
    st.faces++;
    if (hit) st.hits++;
    else keepTop(st.tops, face);
    if (st.alerted || st.hits > 0 || !this.#alertCameras.has(camera) || st.faces < MIN_VISITOR_FACES) return undefined;
    // No face matched anyone, so k of the last n matched nobody once the track has k faces.
    if (Math.min(st.faces, this.#o.n) < this.#o.k) return undefined;
    st.alerted = true;
    const a = this.#assign(camera, track, st.tops[0]!, m.capturedAt);
    if (!a) return undefined;
    st.visitor = a.number;
    st.isNew = a.isNew;
    return visitorEvent(a, this.#o.store, camera, track, face, m, candidates);
  }

  /** Tracks ended; `unknown`: those that never alerted on a watchlist subject. Their best faces join visitors. */
  close(camera: string, tracks: readonly Track[], unknown: readonly Track[]): void {
    for (const t of tracks) {
      const st = this.#tracks.get(t.id);
      this.#tracks.delete(t.id);
      const best = st?.tops[0];
      if (!st || !best || !unknown.includes(t) || st.hits > 0 || (st.visitor === undefined && st.faces < MIN_VISITOR_FACES)) continue;
      // The face that comes closest to a known visitor: with the schedule a track is embedded a few
      // times only, and its best-scored face need not be its most telling one.
      const found = st.visitor === undefined ? this.#closest(st.tops) : undefined;
      const a = this.#assign(camera, t, found?.face ?? best, t.lastSeenAt, st.visitor ?? found?.visitor);
      // Given a new visitor from its first faces, the track's best face may show it someone known: one person, one visitor.
      if (a && st.isNew) this.#mergeIfKnown(a.number, st.tops);
    }
  }

  /** Of the track's faces, the one nearest a known visitor when that reaches the threshold. */
  #closest(faces: readonly FaceRecord[], except?: number): { face: FaceRecord; visitor: number; similarity: number } | undefined {
    let found: { face: FaceRecord; visitor: number; similarity: number } | undefined;
    for (const face of faces) {
      const near = this.#o.store.nearest(face.embedding, except);
      if (near && near.similarity >= this.#o.store.threshold && (!found || near.similarity > found.similarity)) found = { face, visitor: near.number, similarity: near.similarity };
    }
    return found;
  }

  #mergeIfKnown(number: number, faces: readonly FaceRecord[]): void {
    const s = this.#o.store;
    try {
      const near = this.#closest(faces, number);
      if (!near) return;
      s.merge(number, near.visitor);
      this.#o.log.info({ from: pseudonymOf(number), into: pseudonymOf(near.visitor), similarity: round(near.similarity) }, 'visitor merged into an earlier one: its best face showed the same person');
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

