import type { Consumer, IHeaders } from 'kafkajs';
import type { KafkaFactory } from './connection.js';
import type { ConsumeOptions, ConsumerHandlers, GroupConsumer, InMessage } from './types.js';

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    // A repeated header keeps its last value; an empty list is no header.
    const s = (Array.isArray(v) ? v.at(-1) : v)?.toString();
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/**
 * One consumer group member on one topic: batches in partition order, offsets resolved and
 * committed only when the caller says so (no auto-commit).
 */
export class KafkajsGroupConsumer implements GroupConsumer {
  readonly #kafka: KafkaFactory;
  readonly #o: ConsumeOptions;
  readonly #onClose: () => void;
  #consumer: Consumer | undefined;

  constructor(kafka: KafkaFactory, o: ConsumeOptions, onClose: () => void) {
    this.#kafka = kafka;
    this.#o = o;
    this.#onClose = onClose;
  }

  async start(h: ConsumerHandlers): Promise<void> {
    const o = this.#o;
    const x = this.#kafka(8).consumer({
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
    this.#consumer = x;
    x.on(x.events.GROUP_JOIN, (e) => h.onAssigned(e.payload.memberAssignment[o.topic] ?? []));
    x.on(x.events.END_BATCH_PROCESS, (e) => h.onProgress?.(e.payload.partition, e.payload.lastOffset));
    x.on(x.events.CRASH, (e) => {
      if (!e.payload.restart && this.#consumer === x) h.onFatal(e.payload.error);
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
  }

  seek(partition: number, offset: bigint): void {
    this.#consumer?.seek({ topic: this.#o.topic, partition, offset: offset.toString() });
  }

  /** Disconnects (the client's close() does this too). */
  async disconnect(): Promise<void> {
    const x = this.#consumer;
    this.#consumer = undefined;
    await x?.disconnect().catch(() => {});
  }

  async stop(): Promise<void> {
    this.#onClose();
    await this.disconnect();
  }
}
