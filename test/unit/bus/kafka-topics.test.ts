import { describe, expect, it } from 'vitest';
import { DEAD_LETTER, groupOf, keyOf, TABLE_TOPICS, topicOf, topicSpecs } from '../../../src/bus/kafka-topics.js';
import { parseConfig } from '../../../src/config/load.js';
import { kafkaSchema } from '../../../src/config/schema.js';
import { topicNames } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';

describe('Kafka topic layout', () => {
  const k = kafkaSchema.parse({ topicPrefix: 'site1.', partitions: 12 });

  it('names topics and per-topic groups under the prefix', () => {
    expect(topicOf(k, 'frames')).toBe('site1.frames');
    expect(topicOf(k, DEAD_LETTER)).toBe('site1.dead-letter');
    expect(groupOf(k, 'inference', 'frames')).toBe('site1.inference.frames');
  });

  it('states partitions and retention for every topic; the watchlist is one compacted partition', () => {
    const specs = new Map(topicSpecs(k).map((s) => [s.name, s]));
    for (const t of topicNames) expect(specs.has(topicOf(k, t)), t).toBe(true);
    expect(specs.get('site1.frames')).toMatchObject({ partitions: 12, config: { 'retention.ms': '600000', 'max.message.bytes': String(10 * 1024 * 1024) } });
    expect(specs.get('site1.faces')!.config['retention.ms']).toBe('3600000');
    expect(specs.get('site1.matches')!.config['retention.ms']).toBe(String(30 * 86_400_000));
    expect(specs.get('site1.watchlist')).toMatchObject({ partitions: 1, config: { 'cleanup.policy': 'compact' } });
    expect(specs.get('site1.dead-letter')!.config['retention.ms']).toBe(String(7 * 86_400_000));
    expect(TABLE_TOPICS.has('watchlist')).toBe(true);
    // One partition: the one audit writer takes every request, in order.
    expect(specs.get('site1.audit-requests')).toMatchObject({ partitions: 1, config: { 'retention.ms': String(7 * 86_400_000) } });
  });

  it('keys stream messages by camera and watchlist changes by subject', () => {
    expect(keyOf('faces', { camera: 'door' } as never)).toBe('door');
    expect(keyOf('watchlist', { kind: 'watchlist', v: 1, op: 'remove', id: 'ann' })).toBe('ann');
    // Lists and negatives have keys of their own (subject ids hold no "/"): compaction keeps the latest of each.
    expect(keyOf('watchlist', { kind: 'watchlist', v: 2, op: 'list', list: { name: 'vip', priority: 1, colour: null, threshold: null, targetFpir: null } })).toBe('list/vip');
    expect(keyOf('watchlist', { kind: 'watchlist', v: 2, op: 'negatives', subject: 'ann', model: 'm1', vectors: [] })).toBe('negatives/m1/ann');
  });
});

describe('bus.kafka config', () => {
  it('is off by default; KAFKA_BROKERS turns it on and overrides the brokers', () => {
    expect(parseConfig({}, {}).bus.kafka).toBeUndefined();
    const c = parseConfig({ bus: { kafka: { topicPrefix: 'x.', brokers: ['a:1'] } } }, { KAFKA_BROKERS: 'k1:9092, k2:9093' });
    expect(c.bus.kafka).toMatchObject({ brokers: ['k1:9092', 'k2:9093'], topicPrefix: 'x.', partitions: 6 });
    expect(parseConfig({}, { KAFKA_BROKERS: 'k:9092' }).bus.kafka?.brokers).toEqual(['k:9092']);
  });

  it('names a bad broker address', () => {
    try {
      parseConfig({}, { KAFKA_BROKERS: 'no-port' });
      throw new Error('expected an error');
    } catch (e) {
      expect(isVigilError(e, 'VIGIL_ERR_CONFIG_INVALID')).toBe(true);
      expect((e as Error).message).toMatch(/KAFKA_BROKERS.*host:port/);
    }
    expect(() => parseConfig({ bus: { kafka: { brokers: ['x:1'], partitons: 3 } } }, {})).toThrow(/partitons/);
  });
});
