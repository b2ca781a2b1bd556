import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bus } from '../contracts/bus.js';
import type { Candidate, FaceRecord, FacesMsg, MatchEvent } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { base64Of } from '../util/base64.js';
import { AlertDecider, type AlertDecision, type AlertRules } from './alerts.js';
import type { SubjectIndex } from './index.js';
import { CameraTracker, defaultTrackerOptions, type Track, type TrackerOptions } from './tracker.js';

export interface MatcherOptions {
  readonly bus: Bus;
  readonly index: SubjectIndex;
  readonly rules: AlertRules;
  readonly tracker?: TrackerOptions;
  readonly topK: number;
  readonly log: Logger;
  /** Consumer group on the watchlist topic: every replica must see every change. */
  readonly replicaId?: string;
  /** Metrics hooks (kept out of the stage so it does not own a registry). */
  readonly onUnknownFace?: (camera: string) => void;
  readonly onEvent?: (e: MatchEvent) => void;
  /** When set, the best face of each appearance that matched nobody is saved here (<dir>/<camera>/<track>.jpg). */
  readonly unknownDir?: string;
}

/**
 * Identifies every embedded face against the watchlist, links faces of a camera into tracks, and
 * publishes one alert per appearance (plus updates with a better face) rather than one per frame.
 */
export class MatcherStage {
  readonly name = 'matcher';
  readonly #o: MatcherOptions;
  readonly #unsubs: (() => void)[] = [];
  readonly #trackers = new Map<string, CameraTracker>();
  /** best crop so far of each open track, only when unknown faces are stored */
  readonly #bestCrop = new Map<string, { score: number; crop: Uint8Array }>();
  readonly decider: AlertDecider;
  #modelMismatch = 0;
  faces = 0;
  /** Wall time spent matching since start, ms (bench throughput's per-stage table). */
  busyMs = 0;
  alerts = 0;
  updates = 0;

  constructor(o: MatcherOptions) {
    this.#o = o;
    this.decider = new AlertDecider(o.rules);
  }

  async start(): Promise<void> {
    const { bus, index, log } = this.#o;
    this.#unsubs.push(
      bus.subscribe('faces', { group: 'matcher' }, async (msgs) => {
        const t0 = performance.now();
        for (const m of msgs) await this.#match(m);
        this.busyMs += performance.now() - t0;
      }),
      bus.subscribe('watchlist', { group: `matcher-${this.#o.replicaId ?? 'embedded'}` }, (changes) => {
        for (const c of changes) {
          if (c.op === 'upsert') index.upsert(c.subject);
          else index.remove(c.id);
          log.info({ op: c.op, subject: c.op === 'upsert' ? c.subject.id : c.id, subjects: index.subjects }, 'watchlist changed');
        }
      }),
    );
  }

  #tracker(camera: string): CameraTracker {
    let t = this.#trackers.get(camera);
    if (!t) {
      t = new CameraTracker(camera, this.#o.tracker ?? defaultTrackerOptions);
      this.#trackers.set(camera, t);
    }
    return t;
  }

  async #match(m: FacesMsg): Promise<void> {
    const { bus, index, topK, log } = this.#o;
    if (m.model !== index.model) {
      // Never compare across models: similarities between two embedding spaces mean nothing.
      if (this.#modelMismatch++ === 0) log.error({ faceModel: m.model, indexModel: index.model }, 'faces embedded by another model than the watchlist index; ignored');
      return;
    }
    const { assigned, closed } = this.#tracker(m.camera).update(m.faces, m.capturedAt);
    await this.#closeTracks(m.camera, closed);
    for (let i = 0; i < m.faces.length; i++) {
      this.faces++;
      const candidates = index.search(m.faces[i].embedding, topK);
      const d = this.decider.observe(m.camera, assigned[i], candidates, m.capturedAt);
      if (!(candidates[0]?.similarity >= this.#o.rules.threshold)) this.#o.onUnknownFace?.(m.camera);
      if (this.#o.unknownDir) {
        const prev = this.#bestCrop.get(assigned[i].id);
        if (!prev || m.faces[i].score > prev.score) this.#bestCrop.set(assigned[i].id, { score: m.faces[i].score, crop: m.faces[i].crop });
      }
      if (!d) continue;
      if (d.type === 'alert') this.alerts++;
      else this.updates++;
      const ev = toEvent(d, m, m.faces[i], candidates, this.#o.rules.threshold);
      this.#o.onEvent?.(ev);
      await bus.publish('matches', ev);
    }
  }

  /** Closes tracks in the decider; with unknownDir, saves the best face of those that never alerted. */
  async #closeTracks(camera: string, tracks: readonly Track[]): Promise<void> {
    const unknown = this.decider.close(camera, tracks);
    if (!this.#o.unknownDir) return;
    for (const t of tracks) {
      const best = this.#bestCrop.get(t.id);
      this.#bestCrop.delete(t.id);
      if (!best || !unknown.includes(t)) continue;
      const dir = join(this.#o.unknownDir, camera);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${t.id}.jpg`), best.crop);
    }
  }

  /** Unknown faces and appearances (tracks that never alerted) per camera. */
  unknown(): Record<string, { faces: number; tracks: number }> {
    const out: Record<string, { faces: number; tracks: number }> = {};
    for (const [cam, n] of this.decider.unknownFaces) out[cam] = { faces: n, tracks: this.decider.unknownTracks.get(cam) ?? 0 };
    return out;
  }

  async stop(): Promise<void> {
    for (const u of this.#unsubs.splice(0)) u();
    for (const [cam, t] of this.#trackers) await this.#closeTracks(cam, t.flush());
  }
}

function toEvent(d: AlertDecision, m: FacesMsg, f: FaceRecord, candidates: readonly Candidate[], threshold: number): MatchEvent {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    kind: 'match',
    v: 2,
    id: d.alertId,
    type: d.type,
    revision: d.revision,
    subject: d.subject,
    similarity: round(d.similarity),
    margin: round(d.margin),
    threshold,
    candidates: candidates.map((c) => ({ subject: c.subject, similarity: round(c.similarity) })),
    rule: d.rule,
    camera: m.camera,
    trackId: d.track.id,
    firstSeenAt: iso(d.firstSeenAt),
    alertAt: iso(d.alertedAt),
    capturedAt: iso(m.capturedAt),
    mediaTime: m.mediaTime === null ? null : round(m.mediaTime),
    seq: m.seq,
    box: [Math.round(f.box[0]), Math.round(f.box[1]), Math.round(f.box[2]), Math.round(f.box[3])],
    frame: m.frame,
    detectorScore: round(f.score),
    crop: base64Of(f.crop),
    related: d.related ?? null,
    profile: m.profile,
    model: m.model,
  };
}

const round = (v: number): number => Math.round(v * 10000) / 10000;
