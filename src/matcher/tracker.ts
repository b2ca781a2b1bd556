import type { Box } from '../contracts/messages.js';
import { boxWidth as width, centreDistance, dot, iou } from '../util/boxes.js';

/** One face of one frame, as the tracker sees it. */
export interface TrackInput {
  readonly box: Box;
  readonly embedding: Float32Array;
}

export interface TrackerOptions {
  /** A track not seen for this long (capture time, ms) is closed. */
  readonly maxGapMs: number;
  /** Faces of one person in consecutive frames: cosine similarity at least this links them anywhere nearby. */
  readonly minLinkSimilarity: number;
  /** Box overlap at least this links two faces whose embeddings agree only weakly (blur, turn). */
  readonly minLinkIou: number;
  /** Below this similarity two faces are never linked, however much their boxes overlap (crossing people). */
  readonly minOverlapSimilarity: number;
  /** A face may be linked to a track whose last box centre is within this many box widths. */
  readonly maxJump: number;
}

export const defaultTrackerOptions: TrackerOptions = {
  maxGapMs: 2000,
  minLinkSimilarity: 0.35,
  minLinkIou: 0.3,
  minOverlapSimilarity: 0.1,
  maxJump: 3,
};

export interface Track {
  readonly id: string;
  /** capture time of the first face, epoch ms */
  readonly firstSeenAt: number;
  lastSeenAt: number;
  lastBox: Box;
  /** running mean of the faces' embeddings, normalised */
  readonly embedding: Float32Array;
  faces: number;
}

/**
 * Links the faces of one camera across frames into tracks: greedy assignment on box overlap plus
 * embedding similarity, so two people who cross keep their own tracks (their embeddings disagree
 * even when their boxes overlap), and a track survives short misses (maxGapMs).
 */
export class CameraTracker {
  readonly #o: TrackerOptions;
  readonly #camera: string;
  readonly #tracks: Track[] = [];
  #next = 0;

  constructor(camera: string, o: TrackerOptions = defaultTrackerOptions) {
    this.#camera = camera;
    this.#o = o;
  }

  get active(): readonly Track[] {
    return this.#tracks;
  }

  /**
   * Assigns each face of a frame captured at `at` to a track (new or existing); returns the tracks in
   * face order, and the tracks that closed (not seen for maxGapMs) before this frame.
   */
  update(faces: readonly TrackInput[], at: number): { assigned: Track[]; closed: Track[] } {
    const closed: Track[] = [];
    for (let i = this.#tracks.length - 1; i >= 0; i--) {
      if (at - this.#tracks[i]!.lastSeenAt > this.#o.maxGapMs) closed.push(...this.#tracks.splice(i, 1));
    }
    const pairs: { t: number; f: number; score: number }[] = [];
    this.#tracks.forEach((t, ti) => {
      faces.forEach((f, fi) => {
        const sim = dot(t.embedding, f.embedding);
        const overlap = iou(t.lastBox, f.box);
        const near = centreDistance(t.lastBox, f.box) <= this.#o.maxJump * Math.max(width(t.lastBox), width(f.box));
        const linked = (sim >= this.#o.minLinkSimilarity && near) || (overlap >= this.#o.minLinkIou && sim >= this.#o.minOverlapSimilarity);
        if (linked) pairs.push({ t: ti, f: fi, score: sim + overlap });
      });
    });
    pairs.sort((a, b) => b.score - a.score);
    const assigned: (Track | undefined)[] = new Array(faces.length);
    const usedTracks = new Set<number>();
    for (const p of pairs) {
      if (usedTracks.has(p.t) || assigned[p.f]) continue;
      usedTracks.add(p.t);
      const t = this.#tracks[p.t]!;
      absorb(t, faces[p.f]!, at);
      assigned[p.f] = t;
    }
    for (let fi = 0; fi < faces.length; fi++) {
      if (assigned[fi]) continue;
      const f = faces[fi]!;
      const t: Track = { id: `${this.#camera}-${at.toString(36)}-${this.#next++}`, firstSeenAt: at, lastSeenAt: at, lastBox: f.box, embedding: Float32Array.from(f.embedding), faces: 1 };
      this.#tracks.push(t);
      assigned[fi] = t;
    }
    return { assigned: assigned as Track[], closed };
  }

  /** Closes every track (end of stream). */
  flush(): Track[] {
    return this.#tracks.splice(0);
  }
}

function absorb(t: Track, f: TrackInput, at: number): void {
  t.lastSeenAt = at;
  t.lastBox = f.box;
  t.faces++;
  // Running mean, re-normalised: steadier than the last face alone against one blurred frame.
  const w = 1 / Math.min(t.faces, 10);
  let n = 0;
  for (let i = 0; i < t.embedding.length; i++) {
    const v = t.embedding[i]! * (1 - w) + f.embedding[i]! * w;
    t.embedding[i] = v;
    n += v * v;
  }
  const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
  for (let i = 0; i < t.embedding.length; i++) t.embedding[i]! *= inv;
}
