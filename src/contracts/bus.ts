import type { TopicName, Topics } from './messages.js';

/** What happens when a topic's queue for a consumer group is full. */
export type Overflow =
  /** drop the oldest queued message and count it (live frames: a late frame is worth less than a new one) */
  | 'drop-oldest'
  /** the publisher waits for room (match events, and frames in replay: nothing may be lost) */
  | 'block';

export interface TopicPolicy {
  readonly capacity: number;
  readonly overflow: Overflow;
}

export interface SubscribeOptions {
  /** Consumer group: each group gets every message once; members of one group share them. */
  readonly group: string;
  /** Deliver up to this many queued messages at once (lets inference batch across frames). */
  readonly maxBatch?: number;
  /** When fewer than maxBatch are queued, wait this long for more, ms. */
  readonly maxWaitMs?: number;
}

export type Handler<T> = (msgs: readonly T[]) => void | Promise<void>;

export interface TopicStats {
  readonly published: number;
  readonly dropped: number;
  readonly failed: number;
  readonly depth: number;
}

export interface Bus {
  /** Resolves once queued (after waiting for room on 'block' topics). False: dropped (counted). */
  publish<T extends TopicName>(topic: T, msg: Topics[T]): Promise<boolean>;
  /** Messages of one subscription are handled in order, one batch at a time. Returns unsubscribe. */
  subscribe<T extends TopicName>(topic: T, opts: SubscribeOptions, handler: Handler<Topics[T]>): () => void;
  /** Resolves when every queue is empty and no handler is running. */
  idle(): Promise<void>;
  stats(): Record<TopicName, TopicStats>;
  close(): Promise<void>;
}
