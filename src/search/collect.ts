import type { FaceRecord, FacesMsg } from '../contracts/messages.js';
import { CameraTracker, type Track, type TrackerOptions } from '../matcher/tracker.js';
import type { Appearance } from './store.js';

interface Best {
  readonly face: FaceRecord;
  readonly at: number;
  readonly media: number | null;
}

interface Open {
  readonly camera: string;
  firstAt: number;
  lastAt: number;
  firstMedia: number | null;
  lastMedia: number | null;
  faces: number;
  /** best faces by detector score, best first */
  best: Best[];
}

/** Embeddings kept per appearance besides the track's mean: its best faces (a profile and a frontal view may both be there). */
export const BEST_PER_TRACK = 3;

/**
 * Turns the faces of recordings into appearances for the search index: links faces into tracks with
 * the matcher's tracker (the same notion of "one appearance" as alerts and sightings) and keeps, per
 * track, the times, the best face's crop and box, the mean embedding and the best faces' embeddings.
 */
export class AppearanceCollector {
  readonly #trackers = new Map<string, CameraTracker>();
  readonly #open = new Map<string, Open>();
  readonly #opts: TrackerOptions;
  readonly #out: (a: Appearance) => void;

  constructor(opts: TrackerOptions, out: (a: Appearance) => void) {
    this.#opts = opts;
    this.#out = out;
  }

  add(m: FacesMsg): void {
    let tr = this.#trackers.get(m.camera);
    if (!tr) this.#trackers.set(m.camera, (tr = new CameraTracker(m.camera, this.#opts)));
    const { assigned, closed } = tr.update(m.faces, m.capturedAt);
    for (const t of closed) this.#close(t);
    m.faces.forEach((face, i) => {
      const t = assigned[i]!;
      let o = this.#open.get(t.id);
      if (!o) this.#open.set(t.id, (o = { camera: m.camera, firstAt: m.capturedAt, lastAt: m.capturedAt, firstMedia: m.mediaTime, lastMedia: m.mediaTime, faces: 0, best: [] }));
      o.lastAt = m.capturedAt;
      o.lastMedia = m.mediaTime;
      o.faces++;
      if (o.best.length < BEST_PER_TRACK || face.score > o.best.at(-1)!.face.score) {
        o.best.push({ face, at: m.capturedAt, media: m.mediaTime });
        o.best.sort((a, b) => b.face.score - a.face.score);
        if (o.best.length > BEST_PER_TRACK) o.best.pop();
      }
    });
  }

  /** Ends every open track (the recordings ended). */
  flush(): void {
    for (const tr of this.#trackers.values()) for (const t of tr.flush()) this.#close(t);
  }

  #close(t: Track): void {
    const o = this.#open.get(t.id);
    this.#open.delete(t.id);
    if (!o) return;
    const b = o.best[0]!;
    this.#out({
      camera: o.camera,
      track: t.id,
      firstAt: o.firstAt,
      lastAt: o.lastAt,
      firstMedia: o.firstMedia,
      lastMedia: o.lastMedia,
      bestAt: b.at,
      bestMedia: b.media,
      box: b.face.box,
      faces: o.faces,
      score: b.face.score,
      crop: b.face.crop,
      vectors: [Float32Array.from(t.embedding), ...o.best.map((x) => x.face.embedding)],
    });
  }
}
