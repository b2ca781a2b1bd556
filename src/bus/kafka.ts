import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Bus, Handler, SubscribeOptions, TopicPolicy, TopicStats } from '../contracts/bus.js';
import { codecs } from '../contracts/codecs.js';
import { topicNames, type TopicName, type Topics } from '../contracts/messages.js';
import type { KafkaConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { createKafkaClient, type InMessage, type KafkaClient, type OutMessage, type Sender } from './kafka-client.js';
import { kafkaMetrics } from './kafka-metrics.js';
import { Subscription, type SubscriptionHost } from './kafka-subscription.js';
import { DEAD_LETTER, groupOf, keyOf, TABLE_TOPICS, topicOf, topicSpecs } from './kafka-topics.js';

export interface KafkaBusOptions {
  readonly kafka: KafkaConfig;
  readonly log: Logger;
  /**
   * Publishing gives up with VIGIL_ERR_KAFKA_UNAVAILABLE after this long without an answer
   * (one-shot commands). Unset: retries until the bus is closed (services ride out an outage).
   */
  readonly giveUpAfterMs?: number;
  /** Subscriptions on these topics rebuild state from this much recent history when they take over a partition, ms. */
  readonly restoreMs?: Partial<Record<TopicName, number>>;
  /**
   * Per topic: 'drop-oldest' bounds the messages waiting per key (a live camera's frames while the
   * brokers are slow or away); without a policy, or 'block', every message waits its turn.
   */
  readonly policies?: Partial<Record<TopicName, TopicPolicy>>;
  /** What the VIGIL_ERR_KAFKA_UNAVAILABLE hint tells the user to do next. */
  readonly unavailableHint?: string;
  readonly client?: KafkaClient;
}

/**
 * Connections the brokers closed without an answer, in a row, before the start gives up: what a
 * TLS or SASL listener does to a client that speaks neither (a restarting broker refuses instead).
 */
const CLOSED_WITHOUT_ANSWER = 5;

interface Lane {
  readonly queue: { msg: unknown; resolve: (ok: boolean) => void; reject: (err: unknown) => void }[];
  running: boolean;
}

/** Dead-letter record headers: where the message came from and why it was rejected. */
export const DLQ_HEADERS = {
  topic: 'vigil-topic',
  partition: 'vigil-partition',
  offset: 'vigil-offset',
  group: 'vigil-group',
  reason: 'vigil-reason',
  code: 'vigil-error',
  at: 'vigil-dead-lettered-at',
} as const;

/**
 * The distributed mode's bus: Vigil's typed topics on Apache Kafka, behind the same `Bus` seam as
 * the in-memory bus, so the stage classes run unchanged. Messages cross as the wire codecs'
 * bytes, keyed by camera (order kept per camera). Publishing resolves once the brokers
 * acknowledged (acks=all) and, while they are away, retries instead of losing anything; consumers
 * commit only after their handler resolved. Tables (the watchlist) are read whole by every
 * subscriber, and a process's stream subscriptions wait until its tables are loaded.
 */
export class KafkaBus implements Bus {
  readonly kafka: KafkaConfig;
  readonly #log: Logger;
  readonly #client: KafkaClient;
  readonly #sender: Sender;
  readonly #o: KafkaBusOptions;
  readonly #subs = new Set<Subscription<TopicName>>();
  readonly #stopping = new Set<Promise<void>>();
  readonly #counters = new Map<TopicName, { published: number; dropped: number; failed: number; depth: number }>();
  /** Per topic and key: messages waiting to be sent, one at a time, in order. */
  readonly #lanes = new Map<string, Lane>();
  readonly #replay = new AsyncLocalStorage<true>();
  readonly #sleepers = new Set<() => void>();
  readonly #host: SubscriptionHost;
  #topics: Promise<void> | undefined;
  #lagTimer: NodeJS.Timeout | undefined;
  readonly #lastLag = new Map<string, number>();
  #closed = false;

  constructor(o: KafkaBusOptions) {
    this.#o = o;
    this.kafka = o.kafka;
    this.#log = o.log;
    this.#client = o.client ?? createKafkaClient({ brokers: o.kafka.brokers, clientId: o.kafka.clientId, log: o.log, security: { ssl: o.kafka.ssl, sasl: o.kafka.sasl } });
    this.#sender = this.#client.sender();
    for (const t of topicNames) this.#counters.set(t, { published: 0, dropped: 0, failed: 0, depth: 0 });
    this.#host = {
      client: this.#client,
      log: o.log,
      sessionTimeoutMs: o.kafka.sessionTimeoutMs,
      heartbeatIntervalMs: o.kafka.heartbeatIntervalMs,
      maxMessageBytes: o.kafka.maxMessageBytes,
      decodeLimits: { maxFramePixels: o.kafka.maxFramePixels },
      closed: () => this.#closed,
      tablesReady: async () => {
        await Promise.all([...this.#subs].filter((s) => s.spec.table).map((s) => s.caughtUp));
      },
      replaying: (fn) => this.#replay.run(true, fn),
      deadLetter: (topic, group, partition, m, reason, code) => this.#deadLetter(topic, group, partition, m, reason, code),
      sleep: (ms) => this.#sleep(ms),
    };
  }

  /** Creates the topics that are missing (stated partitions, retention, compaction); retries until the brokers answer. */
  start(): Promise<void> {
    this.#topics ??= this.#ensureTopics();
    this.#lagTimer ??= setInterval(() => void this.#reportLag(), this.kafka.lagIntervalSeconds * 1000).unref();
    return this.#topics;
  }

  async #ensureTopics(): Promise<void> {
    const specs = topicSpecs(this.kafka);
    const t0 = Date.now();
    let closedInARow = 0;
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return;
      try {
        const { created, partitions } = await this.#client.ensureTopics(specs);
        if (created.length) this.#log.info({ topics: created }, 'kafka topics created');
        for (const s of specs) {
          const n = partitions.get(s.name);
          if (n !== undefined && n !== s.partitions) this.#log.warn({ topic: s.name, partitions: n, configured: s.partitions }, 'topic exists with another partition count; left as it is');
        }
        return;
      } catch (err) {
        // Wrong credentials, certificates or protocol: retrying cannot help, so the service stops with the reason.
        const d = this.#client.diagnose(err);
        if (d instanceof VigilError) throw d;
        closedInARow = d === 'closed' ? closedInARow + 1 : 0;
        if (closedInARow >= CLOSED_WITHOUT_ANSWER) throw this.#client.closedError(closedInARow);
        this.#giveUpMaybe(t0, 'creating topics', err);
        if (attempt === 0 || attempt % 10 === 0) this.#log.warn({ brokers: this.kafka.brokers, err: (err as Error).message }, 'kafka not reachable; retrying');
        await this.#sleep(Math.min(2000, 200 * 2 ** attempt));
      }
    }
  }

  #giveUpMaybe(t0: number, operation: string, err: unknown): void {
    const limit = this.#o.giveUpAfterMs;
    if (limit === undefined || Date.now() - t0 < limit) return;
    throw new VigilError(
      'VIGIL_ERR_KAFKA_UNAVAILABLE',
      { brokers: this.kafka.brokers.join(','), seconds: Math.round(limit / 1000), operation, reason: (err as Error).message, then: this.#o.unavailableHint ?? 'then run the command again' },
      err,
    );
  }

  /**
   * Resolves once the brokers acknowledged the message (true), or it was dropped (false: a
   * 'drop-oldest' topic whose lane was full, or the bus closed). Messages with one key (one camera)
   * are sent one after the other in call order, even when the caller does not wait for each.
   */
  async publish<T extends TopicName>(topic: T, msg: Topics[T]): Promise<boolean> {
    if (this.#closed) return false;
    // Rebuilding state from messages handled before: what they produced was published then.
    if (this.#replay.getStore()) return true;
    const key = keyOf(topic, msg);
    const laneId = `${topic}\0${key ?? ''}`;
    let lane = this.#lanes.get(laneId);
    if (!lane) {
      lane = { queue: [], running: false };
      this.#lanes.set(laneId, lane);
    }
    const policy = this.#o.policies?.[topic];
    return new Promise<boolean>((resolve, reject) => {
      if (policy?.overflow === 'drop-oldest' && lane.queue.length >= policy.capacity) {
        // A live camera faster than the brokers (or while they are away): the oldest waiting frame goes.
        lane.queue.shift()!.resolve(false);
        this.#counters.get(topic)!.dropped++;
      }
      lane.queue.push({ msg, resolve, reject });
      void this.#drainLane(topic, key, laneId, lane);
    });
  }

  async #drainLane(topic: TopicName, key: string | null, laneId: string, lane: Lane): Promise<void> {
    if (lane.running) return;
    lane.running = true;
    try {
      try {
        await this.start();
      } catch (err) {
        for (const item of lane.queue.splice(0)) item.reject(err); // gave up reaching the brokers
        return;
      }
      while (lane.queue.length) {
        const item = lane.queue.shift()!;
        if (this.#closed) {
          item.resolve(false);
          continue;
        }
        let value: Buffer;
        try {
          value = await codecs[topic].encode(item.msg as never);
        } catch (err) {
          this.#log.error({ topic, err: (err as Error).message }, 'message cannot be encoded; not published');
          this.#counters.get(topic)!.failed++;
          item.resolve(false);
          continue;
        }
        try {
          const ok = await this.#send(topicOf(this.kafka, topic), [{ key, value }], topic);
          if (ok) {
            this.#counters.get(topic)!.published++;
            kafkaMetrics.published.inc({ topic });
          }
          item.resolve(ok);
        } catch (err) {
          item.reject(err); // gave up (giveUpAfterMs): the caller reports it
        }
      }
    } finally {
      lane.running = false;
      if (lane.queue.length === 0) this.#lanes.delete(laneId);
      else void this.#drainLane(topic, key, laneId, lane);
    }
  }

  /** Sends until acknowledged; false only when the bus closed first. */
  async #send(kafkaTopic: string, msgs: readonly OutMessage[], label: string): Promise<boolean> {
    const t0 = Date.now();
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) return false;
      try {
        await this.#sender.send(kafkaTopic, msgs, 30_000);
        if (attempt > 0) this.#log.info({ topic: label, attempts: attempt + 1 }, 'publishing again');
        return true;
      } catch (err) {
        kafkaMetrics.publishRetries.inc({ topic: label });
        this.#giveUpMaybe(t0, `publishing to ${kafkaTopic}`, err);
        if (attempt === 0 || attempt % 10 === 0) {
          const d = this.#client.diagnose(err);
          if (d instanceof VigilError) this.#log.error({ topic: label, attempt, code: d.code, err: d.message }, 'publish refused; retrying until the settings or the brokers change');
          else this.#log.warn({ topic: label, attempt, err: (err as Error).message }, 'publish failed; retrying until the brokers answer');
        }
        await this.#sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  subscribe<T extends TopicName>(topic: T, opts: SubscribeOptions, handler: Handler<Topics[T]>): () => void {
    const table = TABLE_TOPICS.has(topic);
    const sub = new Subscription<T>(this.#host, {
      topic,
      kafkaTopic: topicOf(this.kafka, topic),
      // A table's reader has a group of its own (never committed), so it always reads the whole table.
      group: groupOf(this.kafka, table ? `${opts.group}.${randomUUID().slice(0, 8)}` : opts.group, topic),
      opts,
      handler,
      table,
      restoreMs: this.#o.restoreMs?.[topic] ?? 0,
    });
    this.#subs.add(sub as unknown as Subscription<TopicName>);
    void this.start()
      .then(() => sub.run())
      .catch((err: unknown) => this.#log.error({ topic, err: (err as Error).message }, 'subscription ended'));
    return () => {
      if (!this.#subs.delete(sub as unknown as Subscription<TopicName>)) return;
      const p = sub.stop().finally(() => this.#stopping.delete(p));
      this.#stopping.add(p);
    };
  }

  /** Resolves when every subscription joined its group and every table is loaded. */
  async ready(): Promise<void> {
    await Promise.all([...this.#subs].map((s) => s.joined.then(() => s.caughtUp)));
  }

  async #deadLetter(topic: TopicName, group: string, partition: number, m: InMessage, reason: string, code?: string): Promise<void> {
    const headers: Record<string, string> = {
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: String(partition),
      [DLQ_HEADERS.offset]: m.offset,
      [DLQ_HEADERS.group]: group,
      [DLQ_HEADERS.reason]: reason.slice(0, 2000),
      [DLQ_HEADERS.code]: code ?? '',
      [DLQ_HEADERS.at]: new Date().toISOString(),
    };
    this.#log.warn({ topic, partition, offset: m.offset, group, reason: headers[DLQ_HEADERS.reason] }, 'message dead-lettered; processing goes on');
    await this.#send(topicOf(this.kafka, DEAD_LETTER), [{ key: m.key, value: m.value, headers }], DEAD_LETTER);
    this.#counters.get(topic)!.failed++;
    kafkaMetrics.deadLettered.inc({ group, topic });
  }

  /** Per subscription: messages of its topic the group has not handled (committed) yet. */
  async lag(): Promise<{ topic: TopicName; group: string; lag: number }[]> {
    const out: { topic: TopicName; group: string; lag: number }[] = [];
    for (const s of this.#subs) {
      const { topic, group, kafkaTopic, table } = s.spec;
      let lag: number;
      if (table) lag = await s.tableLag();
      else {
        const [ranges, committed] = await Promise.all([this.#client.topicOffsets(kafkaTopic), this.#client.committed(group, kafkaTopic)]);
        let sum = 0n;
        for (const r of ranges) {
          const c = committed.get(r.partition) ?? r.low;
          if (r.high > c) sum += r.high - c;
        }
        lag = Number(sum);
      }
      out.push({ topic, group, lag });
    }
    return out;
  }

  async #reportLag(): Promise<void> {
    if (this.#closed || this.#subs.size === 0) return;
    let lags: Awaited<ReturnType<KafkaBus['lag']>>;
    try {
      lags = await this.lag();
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, 'cannot measure consumer lag now');
      return;
    }
    const depth = new Map<TopicName, number>();
    for (const { topic, group, lag } of lags) {
      kafkaMetrics.lag.set({ group, topic }, lag);
      depth.set(topic, (depth.get(topic) ?? 0) + lag);
      const key = `${group}\0${topic}`;
      const before = this.#lastLag.get(key) ?? 0;
      if (lag > 0 || before > 0) this.#log.info({ group, topic, lag }, 'consumer lag');
      this.#lastLag.set(key, lag);
    }
    for (const t of topicNames) this.#counters.get(t)!.depth = depth.get(t) ?? 0;
  }

  /** Resolves when no handler is running and every subscription's group has handled all of its topic. */
  async idle(): Promise<void> {
    while (!this.#closed) {
      if (![...this.#subs].some((s) => s.handling)) {
        try {
          if ((await this.lag()).every((l) => l.lag === 0) && ![...this.#subs].some((s) => s.handling)) return;
        } catch {
          // brokers away: keep waiting
        }
      }
      await this.#sleep(100);
    }
  }

  stats(): Record<TopicName, TopicStats> {
    const out = {} as Record<TopicName, TopicStats>;
    for (const t of topicNames) {
      const c = this.#counters.get(t)!;
      out[t] = { published: c.published, dropped: c.dropped, failed: c.failed, depth: c.depth };
    }
    return out;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.#sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#sleepers.add(done);
    });
  }

  /** Leaves the consumer groups (their partitions move to other replicas at once) and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#lagTimer);
    for (const w of [...this.#sleepers]) w();
    for (const lane of this.#lanes.values()) for (const item of lane.queue.splice(0)) item.resolve(false);
    const subs = [...this.#subs];
    this.#subs.clear();
    await Promise.all([...subs.map((s) => s.stop()), ...this.#stopping]);
    await this.#sender.close();
    await this.#client.close();
  }
}
