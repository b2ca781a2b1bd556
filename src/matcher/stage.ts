import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bus } from '../contracts/bus.js';
import type { Candidate, DismissalMsg, FaceRecord, FacesMsg, MatchEvent, WatchlistChange } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { secondsSince, stageTimes } from '../metrics.js';
import { base64Of } from '../util/base64.js';
import { sameVector } from '../util/boxes.js';
import { AlertDecider, type AlertDecision, type AlertRules } from './alerts.js';
import type { SubjectIndex } from './index.js';
import type { ListPolicy } from './lists.js';
import { SightingAggregator } from './sightings.js';
import { CameraTracker, defaultTrackerOptions, type Track, type TrackerOptions } from './tracker.js';
import type { VisitorTracks } from '../visitors/tracks.js';

export interface MatcherOptions {
  readonly bus: Bus;
  readonly index: SubjectIndex;
  readonly rules: AlertRules;
  readonly tracker?: TrackerOptions;
  readonly topK: number;
  readonly log: Logger;
  /**
   * Distributed mode (`vigil match`): the replica's name. Its consumer group on the watchlist topic
   * (every replica must see every change), and on `dismissals`: operators' dismissals, whose face
   * the replica that holds it publishes as a negative example on the watchlist topic, which every
   * replica applies (the embedded mode keeps it in watchlist.db: learnFromDismissal).
   */
  readonly replicaId?: string;
  /** The model profile the index was built for (logged when faces of another model arrive). */
  readonly profile?: string;
  /** Metrics hooks (kept out of the stage so it does not own a registry). */
  readonly onUnknownFace?: (camera: string) => void;
  /** Faces embedded by another model than the index's: they cannot be matched. */
  readonly onProfileMismatch?: (faceModel: string, indexModel: string) => void;
  readonly onEvent?: (e: MatchEvent) => void;
  /** When set, the best face of each appearance that matched nobody is saved here (<dir>/<camera>/<track>.jpg). */
  readonly unknownDir?: string;
  /** Per-list operating points and priorities (embedded: from watchlist.db; distributed: from the watchlist topic); absent: rules.threshold for everyone. */
  readonly policy?: ListPolicy;
  /** Unknown visitors (config visitors.enabled, embedded mode): tracks that matched nobody become pseudonymous visitors. */
  readonly visitors?: VisitorTracks;
}

/** Faces of another model are logged (error) on the first message and then once every this many. */
export const PROFILE_MISMATCH_LOG_EVERY = 100;

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
  /** Resolved once: the search is timed per face, so no lookup or closure there. */
  readonly #times = stageTimes();
  /** Face messages not matched because another model embedded them. */
  profileMismatches = 0;
  /** the face behind each recent alert (bounded), so an operator's dismissal can keep it as a negative example */
  readonly #alertFaces = new Map<string, { subject: string; embedding: Float32Array }>();
  readonly #sightings = new SightingAggregator();
  /** Negative examples per subject from the watchlist topic (distributed mode), kept across the subject's upserts. */
  readonly #negatives = new Map<string, Float32Array[]>();
  sightings = 0;
  faces = 0;
  /** Wall time spent matching since start, ms (bench throughput's per-stage table). */
  busyMs = 0;
  alerts = 0;
  updates = 0;

  constructor(o: MatcherOptions) {
    this.#o = o;
    const policy = o.policy;
    this.decider = new AlertDecider(o.rules, policy && ((id) => policy.thresholdFor(o.index.info(id)?.lists)));
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
        for (const c of changes) this.#apply(c);
      }),
    );
    if (this.#o.replicaId !== undefined) {
      this.#unsubs.push(
        bus.subscribe('dismissals', { group: `matcher-${this.#o.replicaId}` }, async (ds) => {
          for (const d of ds) await this.#learn(d);
        }),
      );
    }
  }

  /** One change from the watchlist topic: the same index and list policy the embedded follower updates from watchlist.db. */
  #apply(c: WatchlistChange): void {
    const { index, log, policy } = this.#o;
    switch (c.op) {
      case 'upsert':
        index.upsert(c.subject);
        // Negatives may arrive before the subject (compaction keeps only the latest of each key, in offset order).
        index.setNegatives(c.subject.id, this.#negatives.get(c.subject.id) ?? []);
        log.info({ op: c.op, subject: c.subject.id, subjects: index.subjects }, 'watchlist changed');
        return;
      case 'remove':
        index.remove(c.id);
        this.#negatives.delete(c.id);
        log.info({ op: c.op, subject: c.id, subjects: index.subjects }, 'watchlist changed');
        return;
      case 'list':
        policy?.put(c.list);
        log.info({ op: c.op, list: c.list.name, threshold: policy?.get(c.list.name)?.at ?? null, priority: c.list.priority }, 'watchlist list changed');
        return;
      case 'negatives': {
        if (c.model !== index.model) return; // another profile's look-alikes
        const vectors = c.vectors.map((v) => Float32Array.from(v));
        if (vectors.length) this.#negatives.set(c.subject, vectors);
        else this.#negatives.delete(c.subject);
        index.setNegatives(c.subject, vectors);
        log.info({ op: c.op, subject: c.subject, negatives: vectors.length }, 'watchlist negatives changed');
        return;
      }
    }
  }

  /** A dismissal: the replica that holds the alert's face publishes the subject's negatives with it added. */
  async #learn(d: DismissalMsg): Promise<void> {
    const face = this.alertFace(d.alertId);
    if (!face) return; // another replica's alert, or one older than the last RECENT_ALERT_FACES
    const { index, bus, log } = this.#o;
    const current = this.#negatives.get(face.subject) ?? [];
    if (current.some((v) => sameVector(v, face.embedding))) return; // dismissed twice, or by two replicas
    const vectors = [...current, face.embedding];
    // Applied here at once too, so two dismissals in a row both count before the topic echoes them.
    this.#negatives.set(face.subject, vectors);
    index.setNegatives(face.subject, vectors);
    await bus.publish('watchlist', { kind: 'watchlist', v: 2, op: 'negatives', subject: face.subject, model: index.model, vectors: vectors.map((v) => Array.from(v)) });
    log.info({ alertId: d.alertId, subject: face.subject, actor: d.actor, negatives: vectors.length }, 'dismissed face kept as a negative example');
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
      // Never compare across models: similarities between two embedding spaces mean nothing. Loudly,
      // though: an infer and a match on different profiles would otherwise raise no alert, silently.
      const n = ++this.profileMismatches;
      this.#o.onProfileMismatch?.(m.model, index.model);
      if (n === 1 || n % PROFILE_MISMATCH_LOG_EVERY === 0) {
        log.error(
          { camera: m.camera, faceProfile: m.profile, faceModel: m.model, indexProfile: this.#o.profile ?? null, indexModel: index.model, mismatched: n },
          'profile mismatch: these faces were embedded by another model than the watchlist index, so none of them can raise an alert; run infer and match with the same profile (--profile or models.profile)',
        );
      }
      return;
    }
    const { assigned, closed } = this.#tracker(m.camera).update(m.faces, m.capturedAt);
    await this.#closeTracks(m.camera, closed);
    for (let i = 0; i < m.faces.length; i++) {
      this.faces++;
      // The tracker assigns every face a track: assigned has one entry per face.
      const face = m.faces[i]!;
      const track = assigned[i]!;
      const t0 = performance.now();
      const candidates = index.search(face.embedding, topK);
      this.#times.search.observe((performance.now() - t0) / 1000);
      const d = this.decider.observe(m.camera, track, candidates, m.capturedAt);
      const top = candidates[0];
      const threshold = top && this.#o.policy ? this.#o.policy.thresholdFor(index.info(top.subject.id)?.lists) : this.#o.rules.threshold;
      const hit = top !== undefined && top.similarity >= threshold;
      if (hit) this.#sightings.observe(track.id, top.subject.id, top.similarity, m, face);
      if (!hit) this.#o.onUnknownFace?.(m.camera);
      const visitorAlert = this.#o.visitors?.observe(m.camera, track, face, hit, m, candidates);
      if (visitorAlert) {
        this.alerts++;
        this.#o.onEvent?.(visitorAlert);
        await bus.publish('matches', visitorAlert);
      }
      if (this.#o.unknownDir) {
        const prev = this.#bestCrop.get(track.id);
        if (!prev || face.score > prev.score) this.#bestCrop.set(track.id, { score: face.score, crop: face.crop });
      }
      if (!d) continue;
      if (d.type === 'alert') this.alerts++;
      else this.updates++;
      this.#alertFaces.delete(d.alertId);
      this.#alertFaces.set(d.alertId, { subject: d.subject.id, embedding: face.embedding });
      if (this.#alertFaces.size > RECENT_ALERT_FACES) this.#alertFaces.delete(this.#alertFaces.keys().next().value!);
      const listed = this.#o.policy?.match(index.info(d.subject.id)?.lists, d.similarity);
      const ev = toEvent(d, m, face, candidates, listed?.threshold ?? this.#o.rules.threshold, listed?.list);
      this.#o.onEvent?.(ev);
      await bus.publish('matches', ev);
      if (ev.type === 'alert') this.#times.frameToAlert.observe({ camera: ev.camera }, secondsSince(ev.alertAt));
    }
  }

  /** Closes tracks in the decider; with unknownDir, saves the best face of those that never alerted. */
  async #closeTracks(camera: string, tracks: readonly Track[]): Promise<void> {
    for (const t of tracks) {
      // Every alerted track is a sighting, also when its alert was folded into an earlier one.
      const s = this.#sightings.close(t.id, this.decider.alertOf(t.id), camera, this.#o.rules.threshold);
      if (!s) continue;
      this.sightings++;
      await this.#o.bus.publish('sightings', s);
    }
    const unknown = this.decider.close(camera, tracks);
    this.#o.visitors?.close(camera, tracks, unknown);
    if (!this.#o.unknownDir) return;
    for (const t of tracks) {
      const best = this.#bestCrop.get(t.id);
      this.#bestCrop.delete(t.id);
      if (!best || !unknown.includes(t)) continue;
      const dir = join(this.#o.unknownDir, camera);
      // Faces are biometric data: owner-only folders (every level created here) and files.
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, `${t.id}.jpg`), best.crop, { mode: 0o600 });
    }
  }

  /** Subjects with negative examples from the watchlist topic (distributed mode). */
  get negativeSubjects(): number {
    return this.#negatives.size;
  }

  /** The best face so far of a recent alert (the last RECENT_ALERT_FACES alerts), for dismissals. */
  alertFace(alertId: string): { subject: string; embedding: Float32Array } | undefined {
    return this.#alertFaces.get(alertId);
  }

  /** Unknown faces and appearances (tracks that never alerted) per camera. */
  unknown(): Record<string, { faces: number; tracks: number }> {
    const out: Record<string, { faces: number; tracks: number }> = {};
    for (const [cam, n] of this.decider.unknownFaces) out[cam] = { faces: n, tracks: this.decider.unknownTracks.get(cam) ?? 0 };
    return out;
  }

  /** Closes every open track (all streams ended, e.g. the end of a replay): their sightings are published now. */
  async flush(): Promise<void> {
    for (const [cam, t] of this.#trackers) await this.#closeTracks(cam, t.flush());
  }

  async stop(): Promise<void> {
    for (const u of this.#unsubs.splice(0)) u();
    await this.flush();
  }
}

function toEvent(d: AlertDecision, m: FacesMsg, f: FaceRecord, candidates: readonly Candidate[], threshold: number, list?: { name: string; priority: number }): MatchEvent {
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
    trackId: d.track.id,
    firstSeenAt: iso(d.firstSeenAt),
    alertAt: iso(d.alertedAt),
    ...faceFields(m, f),
    related: d.related ?? null,
    ...(list ? { list: list.name, priority: list.priority } : {}),
  };
}

/** The fields of a match event that describe the face and its frame (shared with the unknown-visitor alert). */
export function faceFields(m: FacesMsg, f: FaceRecord): Pick<MatchEvent, 'camera' | 'capturedAt' | 'mediaTime' | 'seq' | 'box' | 'frame' | 'detectorScore' | 'crop' | 'profile' | 'model'> {
  return {
    camera: m.camera,
    capturedAt: new Date(m.capturedAt).toISOString(),
    mediaTime: m.mediaTime === null ? null : round(m.mediaTime),
    seq: m.seq,
    box: [Math.round(f.box[0]), Math.round(f.box[1]), Math.round(f.box[2]), Math.round(f.box[3])],
    frame: m.frame,
    detectorScore: round(f.score),
    crop: base64Of(f.crop),
    profile: m.profile,
    model: m.model,
  };
}

const RECENT_ALERT_FACES = 10_000;

/** Similarities on events: 4 decimals. */
export const round = (v: number): number => Math.round(v * 10000) / 10000;
