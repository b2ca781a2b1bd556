import { join } from 'node:path';
import type { Bus } from '../contracts/bus.js';
import type { Config, KafkaConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { FaceEngine } from '../inference/engine.js';
import { qualityLimits } from '../inference/quality.js';
import { InferenceStage } from '../inference/stage.js';
import type { Logger } from '../log.js';
import type { SubjectIndex } from '../matcher/index.js';
import { MatcherStage } from '../matcher/stage.js';
import { defaultTrackerOptions } from '../matcher/tracker.js';
import { alertRules } from '../pipeline.js';

/** The Kafka section, or an error naming the command that needs it. */
export function kafkaConfigOf(cfg: Config, command: string): KafkaConfig {
  const k = cfg.bus.kafka;
  if (!k) throw new VigilError('VIGIL_ERR_KAFKA_NOT_CONFIGURED', { command, reason: 'the config has no bus.kafka section and KAFKA_BROKERS is not set' });
  return k;
}

/**
 * The stage classes of the embedded pipeline (src/pipeline.ts), built with the same options from
 * the same config, on whatever bus a service gives them: the distributed mode runs the very code
 * `vigil start` runs.
 */
export function inferenceStage(cfg: Config, bus: Bus, engine: FaceEngine, log: Logger): InferenceStage {
  return new InferenceStage({
    bus,
    engine,
    batchSize: cfg.inference.batchSize,
    batchWaitMs: cfg.inference.batchWaitMs,
    minFaceSize: cfg.inference.minFaceSize,
    quality: qualityLimits(cfg.quality),
    log: log.child({ stage: 'inference' }),
  });
}

export function matcherStage(cfg: Config, bus: Bus, index: SubjectIndex, threshold: number, replicaId: string, log: Logger): MatcherStage {
  return new MatcherStage({
    bus,
    index,
    rules: alertRules(cfg, threshold),
    tracker: { ...defaultTrackerOptions, maxGapMs: cfg.alerts.trackGapSeconds * 1000 },
    unknownDir: cfg.alerts.storeUnknown ? join(cfg.dataDir, 'unknown') : undefined,
    topK: cfg.matcher.topK,
    replicaId,
    log: log.child({ stage: 'matcher' }),
  });
}
