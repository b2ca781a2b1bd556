import type { Admin } from 'kafkajs';
import { ConfigResourceTypes, type KafkaFactory } from './connection.js';
import { LazyConnection } from './lazy.js';
import type { PartitionRange, TopicSpec } from './types.js';

const toBig = (s: string): bigint | null => (s === '-1' || s === '' ? null : BigInt(s));

/** kafkajs reports a topic created by someone else at the same moment in one of two ways. */
const alreadyExists = (err: unknown): boolean =>
  /already exists/i.test(String((err as Error).message)) || JSON.stringify((err as { errors?: unknown }).errors ?? '').includes('TOPIC_ALREADY_EXISTS');

/** Topic and offset queries over one admin connection, made on first use. */
export class AdminOps {
  readonly #admin: LazyConnection<Admin>;

  constructor(kafka: KafkaFactory) {
    this.#admin = new LazyConnection(() => kafka(2).admin());
  }

  /**
   * A failed call drops the admin (the next call makes a new one, with fresh metadata). A retriable
   * answer (a partition whose leader just moved or was just created) is tried again twice before it
   * reaches the caller.
   */
  async #with<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#admin.use(fn);
      } catch (err) {
        if (attempt >= 2 || (err as { retriable?: boolean }).retriable !== true) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<{ created: string[]; partitions: Map<string, number> }> {
    return this.#with(async (a) => {
      const existing = new Set(await a.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      const created: string[] = [];
      if (missing.length) {
        try {
          await a.createTopics({
            waitForLeaders: true,
            topics: missing.map((s) => ({
              topic: s.name,
              numPartitions: s.partitions,
              replicationFactor: s.replicationFactor,
              configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
            })),
          });
          created.push(...missing.map((s) => s.name));
        } catch (err) {
          // Another service created them at the same moment: that is fine.
          if (!alreadyExists(err)) throw err;
        }
      }
      const meta = await a.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
      const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
      return { created, partitions };
    });
  }

  describeTopic(topic: string): Promise<{ partitions: number; config: Record<string, string> }> {
    return this.#with(async (a) => {
      const meta = await a.fetchTopicMetadata({ topics: [topic] });
      const r = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
      const config: Record<string, string> = {};
      for (const e of r.resources[0]?.configEntries ?? []) if (!e.isDefault && e.configValue !== null) config[e.configName] = e.configValue;
      return { partitions: meta.topics[0]?.partitions.length ?? 0, config };
    });
  }

  async topicOffsets(topic: string): Promise<PartitionRange[]> {
    const r = await this.#with((a) => a.fetchTopicOffsets(topic));
    return r.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) })).sort((x, y) => x.partition - y.partition);
  }

  async offsetsAt(topic: string, timestamp: number): Promise<Map<number, bigint | null>> {
    const r = await this.#with((a) => a.fetchTopicOffsetsByTimestamp(topic, timestamp));
    return new Map(r.map((p) => [p.partition, toBig(p.offset)]));
  }

  async committed(groupId: string, topic: string): Promise<Map<number, bigint | null>> {
    const r = await this.#with((a) => a.fetchOffsets({ groupId, topics: [topic] }));
    return new Map((r.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, toBig(p.offset)]));
  }

  close(): Promise<void> {
    return this.#admin.close();
  }
}
