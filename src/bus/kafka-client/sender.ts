import type { Producer } from 'kafkajs';
import { Partitioners, type KafkaFactory } from './connection.js';
import { LazyConnection } from './lazy.js';
import type { OutMessage, Sender } from './types.js';

/** A producer made on first send; one that failed is replaced (kafkajs may hold on to a broker that went away). */
export class ProducerSender implements Sender {
  readonly #producer: LazyConnection<Producer>;
  readonly #onClose: () => void;

  constructor(kafka: KafkaFactory, onClose: () => void, idempotent = false) {
    this.#producer = new LazyConnection(() =>
      kafka(2).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner, ...(idempotent ? { idempotent: true, maxInFlightRequests: 1 } : {}) }),
    );
    this.#onClose = onClose;
  }

  async send(topic: string, msgs: readonly OutMessage[], timeoutMs: number): Promise<void> {
    await this.#producer.use((p) =>
      p.send({
        topic,
        acks: -1,
        timeout: timeoutMs,
        messages: msgs.map((m) => ({ key: m.key, value: m.value, headers: m.headers ? { ...m.headers } : undefined })),
      }),
    );
  }

  /** Disconnects the current producer (the client's close() does this too). */
  disconnect(): Promise<void> {
    return this.#producer.close();
  }

  async close(): Promise<void> {
    this.#onClose();
    await this.disconnect();
  }
}
