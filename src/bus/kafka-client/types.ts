import type { VigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { KafkaSecurity } from './security.js';

/** The client's seam: what the bus speaks, whatever library is behind it (kafka-client.ts). */

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly log: Logger;
  /** TLS and SASL (unset: plaintext, no login). */
  readonly security?: KafkaSecurity;
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
  /**
   * After each fetched batch, handled or not: the offset of its last record, control records
   * (transaction markers) included, which onBatch never sees. Tells a reader it reached the end.
   */
  onProgress?(partition: number, lastOffset: string): void;
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

/**
 * A transactional producer: each send is one transaction, and a newer producer with the same
 * transactional id fences this one off (its next send fails with VIGIL_ERR_KAFKA_FENCED).
 */
export interface TransactionalSender {
  /** Registers this producer's transactional id, fencing off any earlier producer of that id (and aborting its open transaction). */
  fence(): Promise<void>;
  /** Sends `msgs` to `topic` as one committed transaction (read_committed readers see all of it or none). */
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
  transactionalSender(transactionalId: string): TransactionalSender;
  /**
   * A failure that retrying cannot fix (credentials refused, a certificate that does not verify, a
   * listener speaking another protocol) as a VigilError naming it; 'closed' when the brokers closed
   * the connection without an answer (a TLS or SASL listener, or a broker restarting); undefined
   * for anything else.
   */
  diagnose(err: unknown): VigilError | 'closed' | undefined;
  /** The error for 'closed' seen `attempts` times in a row. */
  closedError(attempts: number): VigilError;
  close(): Promise<void>;
}
