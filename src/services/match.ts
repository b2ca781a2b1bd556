import { hostname } from 'node:os';
import { KafkaBus } from '../bus/kafka.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { SubjectIndex } from '../matcher/index.js';
import { ListPolicy } from '../matcher/lists.js';
import { matchThreshold } from '../models/manifest.js';
import { lookupProfile } from '../models/store.js';
import { chooseProfile } from '../runtime.js';
import { dedupeBus, dedupeKeys } from './dedupe.js';
import { never, startOnBus, type RunningService } from './service.js';
import { matcherStage } from '../stages.js';
import { kafkaConfigOf } from './kafka-config.js';

/**
 * `vigil match`: faces topic in, matches topic out, with the embedded mode's MatcherStage. A replica
 * builds its HNSW index from the log-compacted watchlist topic before it matches anything, then
 * follows it live, so replicas are interchangeable and need no watchlist file. Replicas share the
 * faces through one consumer group (a camera on one replica at a time); one that takes over a
 * camera first re-reads its recent faces with publishing off, so tracks and alert cooldowns carry
 * on, and faces redelivered after a crash upstream are dropped, so they count once. Lists (their
 * operating points and priorities) and negative examples come from the same topic and are applied
 * by the same MatcherStage, ListPolicy and SubjectIndex as in the embedded mode; operators'
 * dismissals (topic `dismissals`) become negative examples published there by the replica that
 * holds the dismissed alert's face.
 */
export async function startMatch(cfg: Config, log: Logger, o: { profile?: string; replica?: string } = {}): Promise<RunningService> {
  const k = kafkaConfigOf(cfg, 'match');
  // The matcher needs the embedding model's id and size, not the model files.
  const { manifest, name } = await chooseProfile(cfg, log, { profile: o.profile, fetch: false });
  const profile = lookupProfile(manifest, name);
  const { threshold, from } = matchThreshold(profile.profile, cfg.matcher);
  const index = new SubjectIndex(profile.embeddingModel, profile.recognizer.embeddingSize);
  const replica = o.replica ?? `${hostname()}-${process.pid}`;
  const kafka = new KafkaBus({ kafka: k, log: log.child({ component: 'kafka' }), restoreMs: { faces: k.restoreSeconds * 1000 } });
  let redelivered = 0;
  const bus = dedupeBus(kafka, { faces: dedupeKeys.faces }, k.dedupeWindow, () => redelivered++);
  // The embedded mode's list rules (src/runtime.ts), filled from the watchlist topic's list records.
  const policy = new ListPolicy(threshold, (targetFpir) => matchThreshold(profile.profile, { targetFpir }).threshold);
  const stage = matcherStage(cfg, bus, index, threshold, replica, log, name, policy);
  // Unknown visitors need the one visitors.db of an embedded pipeline; replicas do not share one.
  if (cfg.visitors.enabled) log.warn('visitors.enabled is ignored by the distributed match service: unknown visitors are clustered in the embedded mode (vigil start) only');
  await startOnBus(kafka, stage, () => kafka.close());
  return {
    name: 'match',
    info: { replica, profile: name, model: index.model, threshold, thresholdFrom: from, subjects: index.subjects },
    done: never,
    exitCode: () => 0,
    health: () => ({ replica, subjects: index.subjects, negativeSubjects: stage.negativeSubjects, faces: stage.faces, alerts: stage.alerts, updates: stage.updates, redeliveredFacesDropped: redelivered, profileMismatches: stage.profileMismatches }),
    async stop() {
      await stage.stop();
      await kafka.close();
    },
  };
}
