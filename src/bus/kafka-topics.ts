import type { KafkaConfig } from '../config/schema.js';
import { topicNames, type TopicName, type Topics } from '../contracts/messages.js';
import type { TopicSpec } from './kafka-client.js';

/**
 * The Kafka layout of Vigil's topics: names, partitions, retention, and the message key that
 * places each message on a partition. Stream topics are keyed by camera, so one camera's messages
 * stay in order on one partition (one consumer of a group at a time); the watchlist is a table.
 */

export const DEAD_LETTER = 'dead-letter';

/** Topics every subscriber reads whole from the start (log-compacted state), never committing. */
export const TABLE_TOPICS: ReadonlySet<TopicName> = new Set<TopicName>(['watchlist']);

export const topicOf = (k: KafkaConfig, topic: TopicName | typeof DEAD_LETTER): string => `${k.topicPrefix}${topic}`;
/**
 * Kafka consumer group of a bus group on one topic. As on the in-memory bus, a group is per topic:
 * one Kafka group spanning two topics would hand one member's partitions of a topic to a member
 * that never subscribed to it.
 */
export const groupOf = (k: KafkaConfig, group: string, topic: TopicName): string => `${k.topicPrefix}${group}.${topic}`;

const MIN = 60_000;
const DAY = 24 * 60 * MIN;

export function topicSpecs(k: KafkaConfig): TopicSpec[] {
  const stream = (topic: TopicName, retentionMs: number): TopicSpec => ({
    name: topicOf(k, topic),
    partitions: k.partitions,
    replicationFactor: k.replicationFactor,
    config: {
      'retention.ms': String(Math.round(retentionMs)),
      // Retention drops whole segments: roll them often enough for short retention to mean something.
      'segment.ms': String(Math.round(Math.min(retentionMs, DAY))),
      'max.message.bytes': String(k.maxMessageBytes),
    },
  });
  const known: Partial<Record<TopicName, TopicSpec>> = {
    frames: stream('frames', k.retention.framesMinutes * MIN),
    faces: stream('faces', k.retention.facesMinutes * MIN),
    matches: stream('matches', k.retention.matchesDays * DAY),
    // One partition: changes apply in the order they were made. Compacted: the latest record per subject stays.
    watchlist: {
      name: topicOf(k, 'watchlist'),
      partitions: 1,
      replicationFactor: k.replicationFactor,
      config: { 'cleanup.policy': 'compact', 'segment.ms': String(DAY), 'min.cleanable.dirty.ratio': '0.1', 'max.message.bytes': String(k.maxMessageBytes) },
    },
  };
  // One partition: one consumer (the audit writer) takes every request, in order. Kept a week (the writer commits once recorded).
  known['audit-requests'] = { ...stream('audit-requests', 7 * DAY), partitions: 1 };
  const specs = topicNames.map((t) => known[t] ?? stream(t, DAY));
  specs.push({
    name: topicOf(k, DEAD_LETTER),
    partitions: 1,
    replicationFactor: k.replicationFactor,
    config: { 'retention.ms': String(k.retention.deadLetterDays * DAY), 'max.message.bytes': String(k.maxMessageBytes + 64 * 1024) },
  });
  return specs;
}

/** Partition key: the camera for stream topics, the subject for the watchlist (what compaction keeps one of). */
export function keyOf<T extends TopicName>(topic: T, msg: Topics[T]): string | null {
  if (topic === 'watchlist') {
    // Subject ids cannot hold "/": list and negative keys never collide with a subject's.
    const c = msg as Topics['watchlist'];
    return c.op === 'upsert' ? c.subject.id : c.op === 'remove' ? c.id : c.op === 'list' ? `list/${c.list.name}` : `negatives/${c.model}/${c.subject}`;
  }
  const camera = (msg as { camera?: unknown }).camera;
  return typeof camera === 'string' ? camera : null;
}
