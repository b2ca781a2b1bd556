import type { Producer } from 'kafkajs';
import { VigilError } from '../../errors.js';
import { Partitioners, type KafkaFactory } from './connection.js';
import { LazyConnection } from './lazy.js';
import type { OutMessage, Sender, TransactionalSender } from './types.js';

/** A producer made on first send; one that failed is replaced (kafkajs may hold on to a broker that went away). */
export class ProducerSender implements Sender {
  readonly #producer: LazyConnection<Producer>;
  readonly #onClose: () => void;

  constructor(kafka: KafkaFactory, onClose: () => void) {
    this.#producer = new LazyConnection(() => kafka(2).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner }));
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

/** kafkajs names a fenced producer by the broker's error type. */
const fenced = (err: unknown): boolean => /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH|fenced/i.test(`${(err as { type?: string }).type ?? ''} ${(err as Error).message}`);

/**
 * One kafkajs producer with a transactional id, kept for the sender's life: a producer made anew
 * would register the id again and fence off a newer holder of it. A fenced send is
 * VIGIL_ERR_KAFKA_FENCED and every later one too.
 */
export class KafkajsTransactionalSender implements TransactionalSender {
  readonly #producer: Producer;
  readonly #id: string;
  readonly #onClose: () => void;
  #connected: Promise<void> | undefined;
  #fenced = false;

  constructor(kafka: KafkaFactory, transactionalId: string, onClose: () => void) {
    this.#id = transactionalId;
    this.#producer = kafka(5).producer({ allowAutoTopicCreation: false, transactionalId, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    this.#onClose = onClose;
  }

  async #run(fn: (p: Producer) => Promise<void>): Promise<void> {
    if (this.#fenced) throw new VigilError('VIGIL_ERR_KAFKA_FENCED', { id: this.#id });
    try {
      await (this.#connected ??= this.#producer.connect());
      await fn(this.#producer);
    } catch (err) {
      if (!fenced(err)) throw err;
      this.#fenced = true;
      throw new VigilError('VIGIL_ERR_KAFKA_FENCED', { id: this.#id }, err);
    }
  }

  fence(): Promise<void> {
    // kafkajs registers the id (InitProducerId) at the first transaction: begin one and end it empty.
    return this.#run(async (p) => {
      const tx = await p.transaction();
      await tx.abort();
    });
  }

  send(topic: string, msgs: readonly OutMessage[], timeoutMs: number): Promise<void> {
    return this.#run(async (p) => {
      const tx = await p.transaction();
      try {
        await tx.send({ topic, acks: -1, timeout: timeoutMs, messages: msgs.map((m) => ({ key: m.key, value: m.value, headers: m.headers ? { ...m.headers } : undefined })) });
        await tx.commit();
      } catch (err) {
        if (tx.isActive()) await tx.abort().catch(() => {});
        throw err;
      }
    });
  }

  async disconnect(): Promise<void> {
    await this.#producer.disconnect().catch(() => {});
  }

  async close(): Promise<void> {
    this.#onClose();
    await this.disconnect();
  }
}
