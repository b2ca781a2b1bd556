import kafkajs, { type Admin, type Consumer, type IHeaders, type LogEntry, type Producer } from 'kafkajs';
import type { Logger } from '../log.js';

/**
 * THE one module that imports kafkajs: everything else speaks these small interfaces, so the
 * client library can be swapped (e.g. for a librdkafka binding) by rewriting this file alone.
 * Each producer, consumer and admin gets a client of its own, so one that broke (a broker that
 * went away) is dropped and made anew without touching the others.
 */

// kafkajs is CommonJS: Node's ESM loader cannot see all of its named exports.
const { ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
type Kafka = InstanceType<typeof Kafka>;

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly log: Logger;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Topic-level configs, e.g. retention.ms, cleanup.policy, max.message.bytes. */
  readonly config: Readonly<Record<string, string>>;
}

export interface OutMessage {
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface InMessage {
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Record timestamp, epoch ms (the producer's clock). */
  readonly timestamp: number;
}

export interface InBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly InMessage[];
  readonly highWatermark: string;
}

export interface BatchControl {
  /** False once the consumer stops or the partition was revoked or re-positioned: drop the rest. */
  active(): boolean;
  /** This offset is handled: the next fetch starts after it. */
  resolve(offset: string): void;
  /** Stores the group's position for this partition (the next offset to read). */
  commit(next: bigint): Promise<void>;
  heartbeat(): Promise<void>;
}

export interface ConsumeOptions {
  readonly groupId: string;
  readonly topic: string;
  /** Where a group without a committed offset starts: the earliest message, or the next new one. */
  readonly fromBeginning: boolean;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBytesPerPartition: number;
}

export interface ConsumerHandlers {
  onBatch(batch: InBatch, ctl: BatchControl): Promise<void>;
  /** After every (re)join: this member's partitions of the topic. */
  onAssigned(partitions: readonly number[]): void;
  /** The client gave up and will not restart by itself: make a new consumer. */
  onFatal(err: Error): void;
}

export interface GroupConsumer {
  /** Connects, joins the group and starts fetching; rejects when the brokers cannot be reached. */
  start(h: ConsumerHandlers): Promise<void>;
  /** Next fetch of `partition` starts at `offset` (only after start). */
  seek(partition: number, offset: bigint): void;
  /** Leaves the group (its partitions go to the other members at once). */
  stop(): Promise<void>;
}

export interface Sender {
  /** Resolves once every message is acknowledged by all in-sync replicas (acks=-1). */
  send(topic: string, msgs: readonly OutMessage[], timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface PartitionRange {
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
}

export interface KafkaClient {
  /** Creates the topics that do not exist; returns the names created and the partition count of every topic. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<{ created: string[]; partitions: Map<string, number> }>;
  /** Partition count and the topic-level configs set on it (not the broker defaults). */
  describeTopic(topic: string): Promise<{ partitions: number; config: Record<string, string> }>;
  /** First and next offset of every partition. */
  topicOffsets(topic: string): Promise<PartitionRange[]>;
  /** Per partition, the first offset whose record timestamp is >= `timestamp` (null: none). */
  offsetsAt(topic: string, timestamp: number): Promise<Map<number, bigint | null>>;
  /** The group's committed offset per partition (null: none yet). */
  committed(groupId: string, topic: string): Promise<Map<number, bigint | null>>;
  sender(): Sender;
  consumer(o: ConsumeOptions): GroupConsumer;
  close(): Promise<void>;
}

/** kafkajs logs through the process's pino logger, a level lower: our own code reports what matters. */
function logCreator(log: Logger) {
  return () =>
    ({ namespace, level, log: entry }: LogEntry): void => {
      const { message, timestamp: _t, ...extra } = entry;
      const obj = { lib: 'kafkajs', ns: namespace, ...extra };
      if (level === logLevel.ERROR || level === logLevel.WARN) log.warn(obj, message);
      else if (level === logLevel.INFO) log.debug(obj, message);
      else log.trace(obj, message);
    };
}

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    out[k] = (Array.isArray(v) ? v[v.length - 1] : v).toString();
  }
  return out;
}

const toBig = (s: string): bigint | null => (s === '-1' || s === '' ? null : BigInt(s));

export function createKafkaClient(c: KafkaConnection): KafkaClient {
  const log = c.log;
  const kafka = (retries: number): Kafka =>
    new Kafka({
      brokers: [...c.brokers],
      clientId: c.clientId,
      connectionTimeout: 3000,
      requestTimeout: 30_000,
      retry: { retries, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: logLevel.WARN,
      logCreator: logCreator(log),
    });

  let admin: Admin | undefined;
  let adminConnecting: Promise<Admin> | undefined;
  const closers = new Set<() => Promise<void>>();

  /**
   * One admin, made on first use and dropped after a failure (the next call makes a new one, with
   * fresh metadata). A retriable answer (a partition whose leader just moved or was just created) is
   * tried again twice before it reaches the caller.
   */
  async function withAdmin<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await adminOnce(fn);
      } catch (err) {
        if (attempt >= 2 || (err as { retriable?: boolean }).retriable !== true) throw err;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
  }

  async function adminOnce<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
    const a =
      admin ??
      (await (adminConnecting ??= (async () => {
        const x = kafka(2).admin();
        try {
          await x.connect();
          admin = x;
          return x;
        } finally {
          adminConnecting = undefined;
        }
      })()));
    try {
      return await fn(a);
    } catch (err) {
      if (admin === a) admin = undefined;
      void a.disconnect().catch(() => {});
      throw err;
    }
  }

  return {
    async ensureTopics(specs) {
      return withAdmin(async (a) => {
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
            if (!/already exists/i.test(String((err as Error).message)) && !JSON.stringify((err as { errors?: unknown }).errors ?? '').includes('TOPIC_ALREADY_EXISTS')) throw err;
          }
        }
        const meta = await a.fetchTopicMetadata({ topics: specs.map((s) => s.name) });
        const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
        return { created, partitions };
      });
    },

    async describeTopic(topic) {
      return withAdmin(async (a) => {
        const meta = await a.fetchTopicMetadata({ topics: [topic] });
        const r = await a.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
        const config: Record<string, string> = {};
        for (const e of r.resources[0]?.configEntries ?? []) if (!e.isDefault && e.configValue !== null) config[e.configName] = e.configValue;
        return { partitions: meta.topics[0]?.partitions.length ?? 0, config };
      });
    },

    async topicOffsets(topic) {
      const r = await withAdmin((a) => a.fetchTopicOffsets(topic));
      return r.map((p) => ({ partition: p.partition, low: BigInt(p.low), high: BigInt(p.high) })).sort((x, y) => x.partition - y.partition);
    },

    async offsetsAt(topic, timestamp) {
      const r = await withAdmin((a) => a.fetchTopicOffsetsByTimestamp(topic, timestamp));
      return new Map(r.map((p) => [p.partition, toBig(p.offset)]));
    },

    async committed(groupId, topic) {
      const r = await withAdmin((a) => a.fetchOffsets({ groupId, topics: [topic] }));
      return new Map((r.find((t) => t.topic === topic)?.partitions ?? []).map((p) => [p.partition, toBig(p.offset)]));
    },

    sender() {
      let producer: Producer | undefined;
      let connecting: Promise<Producer> | undefined;
      const get = async (): Promise<Producer> =>
        producer ??
        (await (connecting ??= (async () => {
          const p = kafka(2).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
          try {
            await p.connect();
            producer = p;
            return p;
          } finally {
            connecting = undefined;
          }
        })()));
      const close = async (): Promise<void> => {
        const p = producer;
        producer = undefined;
        await p?.disconnect().catch(() => {});
      };
      closers.add(close);
      return {
        async send(topic, msgs, timeoutMs) {
          const p = await get();
          try {
            await p.send({
              topic,
              acks: -1,
              timeout: timeoutMs,
              messages: msgs.map((m) => ({ key: m.key, value: m.value, headers: m.headers ? { ...m.headers } : undefined })),
            });
          } catch (err) {
            // A producer that failed is replaced: kafkajs may hold on to a broker that went away.
            if (producer === p) producer = undefined;
            void p.disconnect().catch(() => {});
            throw err;
          }
        },
        async close() {
          closers.delete(close);
          await close();
        },
      };
    },

    consumer(o) {
      let consumer: Consumer | undefined;
      const stop = async (): Promise<void> => {
        const x = consumer;
        consumer = undefined;
        await x?.disconnect().catch(() => {});
      };
      closers.add(stop);
      return {
        async start(h) {
          const x = kafka(8).consumer({
            groupId: o.groupId,
            sessionTimeout: o.sessionTimeoutMs,
            heartbeatInterval: o.heartbeatIntervalMs,
            rebalanceTimeout: Math.max(10_000, o.sessionTimeoutMs),
            maxBytesPerPartition: o.maxBytesPerPartition,
            // Empty fetches return this often, and the consumer heartbeats between fetches.
            maxWaitTimeInMs: Math.min(1000, o.heartbeatIntervalMs),
            allowAutoTopicCreation: false,
            retry: { retries: 8, initialRetryTime: 300, maxRetryTime: 5000 },
          });
          consumer = x;
          x.on(x.events.GROUP_JOIN, (e) => h.onAssigned(e.payload.memberAssignment[o.topic] ?? []));
          x.on(x.events.CRASH, (e) => {
            if (!e.payload.restart && consumer === x) h.onFatal(e.payload.error);
          });
          await x.connect();
          await x.subscribe({ topics: [o.topic], fromBeginning: o.fromBeginning });
          await x.run({
            autoCommit: false,
            eachBatchAutoResolve: false,
            partitionsConsumedConcurrently: 1,
            eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
              const messages: InMessage[] = batch.messages.map((m) => ({
                offset: m.offset,
                key: m.key ? m.key.toString() : null,
                value: m.value,
                headers: headersOf(m.headers),
                timestamp: Number(m.timestamp),
              }));
              await h.onBatch(
                { topic: batch.topic, partition: batch.partition, messages, highWatermark: batch.highWatermark },
                {
                  active: () => isRunning() && !isStale(),
                  resolve: (offset) => resolveOffset(offset),
                  commit: (next) => x.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]),
                  heartbeat,
                },
              );
            },
          });
        },
        seek(partition, offset) {
          consumer?.seek({ topic: o.topic, partition, offset: offset.toString() });
        },
        async stop() {
          closers.delete(stop);
          await stop();
        },
      };
    },

    async close() {
      await Promise.all([...closers].map((f) => f()));
      closers.clear();
      const a = admin;
      admin = undefined;
      await a?.disconnect().catch(() => {});
    },
  };
}
