import type { Handler, SubscribeOptions } from '../contracts/bus.js';
import { codecs, type DecodeLimits } from '../contracts/codecs.js';
import type { TopicName, Topics } from '../contracts/messages.js';
import { isVigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BatchControl, GroupConsumer, InBatch, InMessage, KafkaClient } from './kafka-client.js';
import { kafkaMetrics } from './kafka-metrics.js';

/** What a subscription needs from its bus. */
export interface SubscriptionHost {
  readonly client: KafkaClient;
  readonly log: Logger;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxMessageBytes: number;
  /** Checked before decoding: what is above goes to the dead-letter topic. */
  readonly decodeLimits: DecodeLimits;
  closed(): boolean;
  /** Resolves when every table subscription of the bus has read its topic to the end it had at start. */
  tablesReady(): Promise<void>;
  /** Runs `fn` with publishing turned off (state being rebuilt from messages already handled once). */
  replaying(fn: () => Promise<void>): Promise<void>;
  deadLetter(topic: TopicName, group: string, partition: number, m: InMessage, reason: string, code?: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface SubscriptionSpec<T extends TopicName> {
  readonly topic: T;
  /** Kafka topic and group names. */
  readonly kafkaTopic: string;
  readonly group: string;
  readonly opts: SubscribeOptions;
  readonly handler: Handler<Topics[T]>;
  /** A table: read whole from the start by every subscriber, never committed. */
  readonly table: boolean;
  /** When this member takes over a partition, re-handle this much history first (publishing off), ms. */
  readonly restoreMs: number;
}

/** A handler that keeps failing on the same messages dead-letters them after this many tries. */
const HANDLER_TRIES = 3;

/**
 * One subscription on the Kafka bus: a consumer group member that decodes, hands batches to the
 * handler in partition order, and commits a partition's offset only after the handler resolved,
 * i.e. after everything it published was acknowledged (at-least-once). Undecodable messages go to
 * the dead-letter topic and processing goes on. When the client gives up (a broker gone too long),
 * a new consumer is made, for as long as the subscription lives.
 */
export class Subscription<T extends TopicName> {
  readonly spec: SubscriptionSpec<T>;
  readonly #h: SubscriptionHost;
  readonly joined: Promise<void>;
  readonly caughtUp: Promise<void>;
  #resolveJoined!: () => void;
  #resolveCaughtUp!: () => void;
  #consumer: GroupConsumer | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** Partitions this member owns, and for those being restored, the offset where new work starts. */
  #owned = new Set<number>();
  readonly #restoreUntil = new Map<number, bigint>();
  #setup: Promise<void> = Promise.resolve();
  /** Next offset to handle, per partition (tables resume from it; lag of tables). */
  readonly #position = new Map<number, bigint>();
  /** Tables: the end of each partition when the subscription started. */
  #targets: Map<number, bigint> | undefined;
  handling = false;

  constructor(h: SubscriptionHost, spec: SubscriptionSpec<T>) {
    this.#h = h;
    this.spec = spec;
    this.joined = new Promise((r) => (this.#resolveJoined = r));
    this.caughtUp = spec.table ? new Promise((r) => (this.#resolveCaughtUp = r)) : Promise.resolve();
  }

  get #log(): Logger {
    return this.#h.log;
  }

  /** Supervises consumers until stopped: a consumer that fails for good is replaced after a pause. */
  async run(): Promise<void> {
    const { spec } = this;
    for (let attempt = 0; !this.#stopped && !this.#h.closed(); attempt++) {
      let fatal!: (e: Error) => void;
      const failed = new Promise<Error>((r) => (fatal = r));
      const stopped = new Promise<undefined>((r) => (this.#wake = () => r(undefined)));
      const c = this.#h.client.consumer({
        groupId: spec.group,
        topic: spec.kafkaTopic,
        fromBeginning: true,
        sessionTimeoutMs: this.#h.sessionTimeoutMs,
        heartbeatIntervalMs: this.#h.heartbeatIntervalMs,
        maxBytesPerPartition: this.#h.maxMessageBytes,
      });
      this.#consumer = c;
      try {
        if (spec.table && !this.#targets) await this.#measureTargets();
        await c.start({ onBatch: (b, ctl) => this.#onBatch(b, ctl), onAssigned: (p) => this.#onAssigned(p), onFatal: (e) => fatal(e) });
        if (attempt > 0) this.#log.info({ topic: spec.topic, group: spec.group }, 'consumer is back');
        attempt = 0;
        const err = await Promise.race([failed, stopped]);
        if (!err) break;
        this.#log.warn({ topic: spec.topic, group: spec.group, err: err.message }, 'consumer failed; starting a new one');
      } catch (err) {
        if (this.#stopped || this.#h.closed()) break;
        if (attempt === 0 || attempt % 10 === 0) {
          this.#log.warn({ topic: spec.topic, group: spec.group, err: (err as Error).message }, 'cannot consume from Kafka; retrying until the brokers answer');
        }
      }
      await c.stop();
      this.#owned = new Set();
      if (!this.#stopped) await Promise.race([this.#h.sleep(Math.min(5000, 250 * 2 ** Math.min(attempt, 5))), stopped]);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#consumer?.stop();
  }

  /** Messages not yet handled: for tables, counted from this member's position. */
  async tableLag(): Promise<number> {
    const ranges = await this.#h.client.topicOffsets(this.spec.kafkaTopic);
    let lag = 0n;
    for (const r of ranges) {
      const pos = this.#position.get(r.partition) ?? r.low;
      if (r.high > pos) lag += r.high - pos;
    }
    return Number(lag);
  }

  async #measureTargets(): Promise<void> {
    const ranges = await this.#h.client.topicOffsets(this.spec.kafkaTopic);
    this.#targets = new Map(ranges.filter((r) => r.high > r.low).map((r) => [r.partition, r.high]));
    this.#checkCaughtUp();
  }

  #checkCaughtUp(): void {
    if (!this.#targets) return;
    for (const [p, end] of this.#targets) if ((this.#position.get(p) ?? -1n) < end) return;
    this.#resolveCaughtUp();
  }

  #onAssigned(partitions: readonly number[]): void {
    const fresh = partitions.filter((p) => !this.#owned.has(p));
    this.#owned = new Set(partitions);
    this.#resolveJoined();
    this.#log.debug({ topic: this.spec.topic, group: this.spec.group, partitions }, 'partitions assigned');
    if (this.spec.table) {
      // A replacement consumer of a table goes on from where the last one was (it never commits).
      for (const p of partitions) {
        const pos = this.#position.get(p);
        if (pos !== undefined) this.#trySeek(p, pos);
      }
      return;
    }
    if (this.spec.restoreMs > 0 && fresh.length) this.#setup = this.#restoreWithRetries(fresh);
  }

  async #restoreWithRetries(fresh: readonly number[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#planRestore(fresh);
      } catch (err) {
        if (attempt >= 5 || this.#stopped) {
          this.#log.warn({ topic: this.spec.topic, err: (err as Error).message }, 'cannot plan the state restore; starting at the committed offset');
          return;
        }
        await this.#h.sleep(500 * attempt);
      }
    }
  }

  #trySeek(p: number, offset: bigint): void {
    try {
      this.#consumer?.seek(p, offset);
    } catch (err) {
      this.#log.warn({ topic: this.spec.topic, partition: p, err: (err as Error).message }, 'seek failed');
    }
  }

  /**
   * A member that takes over a partition (first start, restart, rebalance) re-reads the partition's
   * recent history up to the group's committed offset with publishing off, so a stateful stage
   * (the matcher's tracks and alert cooldowns) decides the next message as the last owner would have.
   */
  async #planRestore(fresh: readonly number[]): Promise<void> {
    const { client } = this.#h;
    const [committed, from, ranges] = await Promise.all([
      client.committed(this.spec.group, this.spec.kafkaTopic),
      client.offsetsAt(this.spec.kafkaTopic, Date.now() - this.spec.restoreMs),
      client.topicOffsets(this.spec.kafkaTopic),
    ]);
    for (const p of fresh) {
      const until = committed.get(p);
      if (until === null || until === undefined) continue;
      const low = ranges.find((r) => r.partition === p)?.low ?? 0n;
      let start = from.get(p) ?? until;
      if (start < low) start = low;
      if (start >= until) continue;
      this.#restoreUntil.set(p, until);
      this.#trySeek(p, start);
      this.#log.info({ topic: this.spec.topic, partition: p, from: start.toString(), until: until.toString() }, 'restoring state from recent history');
    }
  }

  async #onBatch(batch: InBatch, ctl: BatchControl): Promise<void> {
    await this.#setup;
    if (!ctl.active()) return;
    if (!this.spec.table) await this.#h.tablesReady();
    const { messages: msgs, partition } = batch;
    const max = Math.max(1, this.spec.opts.maxBatch ?? 1);
    const high = BigInt(batch.highWatermark);
    for (let i = 0; i < msgs.length; ) {
      if (!ctl.active() || this.#stopped || this.#h.closed()) return;
      // A chunk: up to maxBatch messages, never straddling the end of a restore.
      const until = this.#restoreUntil.get(partition);
      const replay = until !== undefined && BigInt(msgs[i]!.offset) < until;
      let j = i + 1;
      while (j < msgs.length && j - i < max && (until === undefined || BigInt(msgs[j]!.offset) < until === replay)) j++;
      const chunk = msgs.slice(i, j);
      i = j;
      if (!(await this.#handle(partition, chunk, replay))) return; // stopping: not committed, redelivered later
      const last = chunk[chunk.length - 1]!.offset; // i < j: never empty
      const next = BigInt(last) + 1n;
      ctl.resolve(last);
      this.#position.set(partition, next);
      if (replay && until !== undefined && next >= until) {
        this.#restoreUntil.delete(partition);
        this.#log.info({ topic: this.spec.topic, partition }, 'state restored');
      }
      if (this.spec.table) this.#checkCaughtUp();
      else if (!replay) await ctl.commit(next);
      if (high > next) kafkaMetrics.lag.set({ group: this.spec.group, topic: this.spec.topic }, Number(high - next));
      await ctl.heartbeat();
    }
  }

  /** Decodes and hands one chunk to the handler; false when the bus is stopping (nothing may be committed). */
  async #handle(partition: number, chunk: readonly InMessage[], replay: boolean): Promise<boolean> {
    const { topic, group, handler } = this.spec;
    const codec = codecs[topic];
    const good: { raw: InMessage; msg: Topics[T] }[] = [];
    for (const m of chunk) {
      if (m.value === null) {
        // A tombstone on a table is compaction's business; anywhere else it is junk.
        if (!this.spec.table && !replay) await this.#h.deadLetter(topic, group, partition, m, 'message has no value');
        continue;
      }
      try {
        good.push({ raw: m, msg: (await codec.decode(m.value, this.#h.decodeLimits)) as Topics[T] });
      } catch (err) {
        if (!replay) await this.#h.deadLetter(topic, group, partition, m, (err as Error).message, isVigilError(err) ? err.code : undefined);
      }
    }
    if (good.length === 0) return true;
    const batch = good.map((g) => g.msg);
    for (let attempt = 1; ; attempt++) {
      this.handling = true;
      try {
        if (replay) await this.#h.replaying(async () => void (await handler(batch)));
        else await handler(batch);
        break;
      } catch (err) {
        if (this.#stopped || this.#h.closed()) return false;
        const reason = `handler failed: ${(err as Error).message}`;
        if (attempt < HANDLER_TRIES) {
          this.#log.warn({ topic, group, partition, attempt, err: (err as Error).message }, 'handler failed; retrying');
          await this.#h.sleep(300 * attempt);
          continue;
        }
        if (!replay) for (const g of good) await this.#h.deadLetter(topic, group, partition, g.raw, reason, isVigilError(err) ? err.code : undefined);
        break;
      } finally {
        this.handling = false;
      }
    }
    if (this.#stopped || this.#h.closed()) return false;
    kafkaMetrics.consumed.inc({ group, topic }, good.length);
    return true;
  }
}
