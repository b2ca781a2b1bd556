import { join } from 'node:path';
import type { Bus } from './contracts/bus.js';
import type { Config } from './config/schema.js';
import type { FaceEngine } from './inference/engine.js';
import { qualityLimits } from './inference/quality.js';
import { defaultScheduleOptions } from './inference/schedule.js';
import type { FaceWorker } from './inference/remote-engine.js';
import { InferenceStage } from './inference/stage.js';
import type { Logger } from './log.js';
import { faceMetrics } from './metrics.js';
import type { AlertRules } from './matcher/alerts.js';
import type { SubjectIndex } from './matcher/index.js';
import type { ListPolicy } from './matcher/lists.js';
import { MatcherStage } from './matcher/stage.js';
import { defaultTrackerOptions } from './matcher/tracker.js';
import type { VisitorTracks } from './visitors/tracks.js';

/**
 * The inference and matcher stages built from the config, on whatever bus is given: the embedded
 * pipeline (src/pipeline.ts) and the distributed services (src/services/) run the very same code.
 */
/** What only the embedded mode has for the inference stage: more engines, and the watchlist to tell decided identities. */
export interface EmbeddedExtras {
  readonly workers?: readonly FaceWorker[];
  readonly identify?: (embedding: Float32Array) => number;
}

export function inferenceStage(cfg: Config, bus: Bus, engine: FaceEngine, log: Logger, extras: EmbeddedExtras = {}): InferenceStage {
  const s = cfg.inference.schedule;
  return new InferenceStage({
    bus,
    engine,
    workers: extras.workers,
    identify: extras.identify,
    schedule: { ...defaultScheduleOptions, enabled: s.enabled, fullEvery: s.fullEvery, reembedEvery: s.reembedEvery, decidedMargin: s.decidedMargin, motionRegions: s.motionRegions, fullSize: engine.detectSize, regionSize: s.regionSize, regionModel: s.regionModel },
    flipBand: s.flipBand,
    boundaries: [0, cfg.alerts.strongMargin],
    batchSize: cfg.inference.batchSize,
    batchWaitMs: cfg.inference.batchWaitMs,
    minFaceSize: cfg.inference.minFaceSize,
    quality: qualityLimits(cfg.quality),
    onDrop: (gate) => faceMetrics().dropped.inc({ gate }),
    log: log.child({ stage: 'inference' }),
  });
}

export function matcherStage(cfg: Config, bus: Bus, index: SubjectIndex, threshold: number, replicaId: string | undefined, log: Logger, profile?: string, policy?: ListPolicy, visitors?: VisitorTracks): MatcherStage {
  return new MatcherStage({
    policy,
    visitors,
    bus,
    index,
    profile,
    rules: alertRules(cfg, threshold),
    tracker: { ...defaultTrackerOptions, maxGapMs: cfg.alerts.trackGapSeconds * 1000 },
    unknownDir: cfg.alerts.storeUnknown ? join(cfg.dataDir, 'unknown') : undefined,
    topK: cfg.matcher.topK,
    replicaId,
    onUnknownFace: (camera) => faceMetrics().unknown.inc({ camera }),
    onEvent: (e) => faceMetrics().alerts.inc({ camera: e.camera, type: e.type }),
    onProfileMismatch: (faceModel, indexModel) => faceMetrics().profileMismatch.inc({ face_model: faceModel, index_model: indexModel }),
    log: log.child({ stage: 'matcher' }),
  });
}

/** The alert rules from the config and the running threshold. */
export function alertRules(cfg: Config, threshold: number): AlertRules {
  const a = cfg.alerts;
  return { threshold, strongMargin: a.strongMargin, k: a.k, n: a.n, cooldownMs: a.cooldownSeconds * 1000, updateMinGain: a.updateMinGain };
}

/** Best watchlist similarity minus the threshold (the inference stage's `identify`). */
export function identifyBy(index: SubjectIndex, threshold: number): (embedding: Float32Array) => number {
  return (e) => (index.search(e, 1)[0]?.similarity ?? -1) - threshold;
}
