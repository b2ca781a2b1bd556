import type { Bus, Handler, SubscribeOptions, TopicPolicy, TopicStats } from '../contracts/bus.js';
import { topicNames, type TopicName, type Topics } from '../contracts/messages.js';

/** Called when a handler throws: the embedded mode's dead letter (logged and counted; processing goes on). */
export type HandlerErrorSink = (topic: TopicName, group: string, err: unknown, count: number) => void;

interface Waiter {
  resolve: () => void;
}

/** One consumer group's bounded queue on one topic, drained by its handlers in order. */
class GroupQueue<T> {
  readonly items: T[] = [];
  head = 0;
  running = false;
  readonly handlers: { handler: Handler<T>; opts: SubscribeOptions }[] = [];
  readonly spaceWaiters: Waiter[] = [];
  next = 0;

  get depth(): number {
    return this.items.length - this.head;
  }

  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    // Compact now and then rather than shift() per message (O(n) each).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  dropOldest(): void {
    this.head++;
  }
}

/**
 * The embedded mode's bus: one process, typed topics, bounded queues per consumer group. Frames
 * pass by reference. A full 'drop-oldest' queue drops and counts; a full 'block' queue makes the
 * publisher wait, so a slow stage slows its producers instead of growing memory.
 */
export class MemoryBus implements Bus {
  readonly #policies: Record<TopicName, TopicPolicy>;
  readonly #groups = new Map<TopicName, Map<string, GroupQueue<unknown>>>();
  readonly #counters = new Map<TopicName, { published: number; dropped: number; failed: number }>();
  readonly #onError: HandlerErrorSink;
  #idleWaiters: Waiter[] = [];
  #closed = false;

  constructor(policies: Record<TopicName, TopicPolicy>, onError: HandlerErrorSink = () => {}) {
    this.#policies = policies;
    this.#onError = onError;
    for (const t of topicNames) {
      this.#groups.set(t, new Map());
      this.#counters.set(t, { published: 0, dropped: 0, failed: 0 });
    }
  }

  async publish<T extends TopicName>(topic: T, msg: Topics[T]): Promise<boolean> {
    if (this.#closed) return false;
    const policy = this.#policies[topic];
    const counters = this.#counters.get(topic)!;
    counters.published++;
    let dropped = false;
    for (const q of this.#groups.get(topic)!.values()) {
      if (q.depth >= policy.capacity) {
        if (policy.overflow === 'drop-oldest') {
          q.dropOldest();
          counters.dropped++;
          dropped = true;
        } else {
          while (q.depth >= policy.capacity && !this.#closed) await new Promise<void>((resolve) => q.spaceWaiters.push({ resolve }));
        }
      }
      q.items.push(msg);
      this.#pump(topic, q);
    }
    return !dropped;
  }

  subscribe<T extends TopicName>(topic: T, opts: SubscribeOptions, handler: Handler<Topics[T]>): () => void {
    const groups = this.#groups.get(topic)!;
    let q = groups.get(opts.group);
    if (!q) {
      q = new GroupQueue<unknown>();
      groups.set(opts.group, q);
    }
    const entry = { handler: handler as Handler<unknown>, opts };
    q.handlers.push(entry);
    const queue = q;
    return () => {
      const i = queue.handlers.indexOf(entry);
      if (i >= 0) queue.handlers.splice(i, 1);
      if (queue.handlers.length === 0) groups.delete(opts.group);
      this.#checkIdle();
    };
  }

  #pump(topic: TopicName, q: GroupQueue<unknown>): void {
    if (q.running || q.depth === 0 || q.handlers.length === 0) return;
    q.running = true;
    void this.#drainQueue(topic, q);
  }

  async #drainQueue(topic: TopicName, q: GroupQueue<unknown>): Promise<void> {
    try {
      while (q.depth > 0 && q.handlers.length > 0 && !this.#closed) {
        // Members of one group take turns (round robin), as consumers of one Kafka group share partitions.
        const { handler, opts } = q.handlers[q.next++ % q.handlers.length]!; // length > 0: checked by the loop
        const max = opts.maxBatch ?? 1;
        if (max > 1 && q.depth < max && (opts.maxWaitMs ?? 0) > 0) {
          await new Promise((r) => setTimeout(r, opts.maxWaitMs));
        }
        const batch = q.take(max);
        this.#releaseSpace(q);
        try {
          await handler(batch);
        } catch (err) {
          const c = this.#counters.get(topic)!;
          c.failed += batch.length;
          this.#onError(topic, opts.group, err, batch.length);
        }
      }
    } finally {
      q.running = false;
      this.#checkIdle();
    }
  }

  #releaseSpace(q: GroupQueue<unknown>): void {
    const waiters = q.spaceWaiters.splice(0);
    for (const w of waiters) w.resolve();
  }

  #isIdle(): boolean {
    for (const groups of this.#groups.values()) {
      for (const q of groups.values()) if (q.running || (q.depth > 0 && q.handlers.length > 0)) return false;
    }
    return true;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    // A handler may have published downstream just before finishing: re-check on the next tick.
    setImmediate(() => {
      if (!this.#isIdle()) return;
      const w = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const x of w) x.resolve();
    });
  }

  idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push({ resolve });
      this.#checkIdle();
    });
  }

  stats(): Record<TopicName, TopicStats> {
    const out = {} as Record<TopicName, TopicStats>;
    for (const t of topicNames) {
      let depth = 0;
      for (const q of this.#groups.get(t)!.values()) depth += q.depth;
      out[t] = { ...this.#counters.get(t)!, depth };
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const groups of this.#groups.values()) for (const q of groups.values()) this.#releaseSpace(q);
    const w = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const x of w) x.resolve();
  }
}

/** Topic policies for the embedded mode. Live cameras drop old frames; replay loses nothing. */
export function embeddedPolicies(q: { frames: number; faces: number; matches: number }, live: boolean): Record<TopicName, TopicPolicy> {
  return {
    frames: { capacity: q.frames, overflow: live ? 'drop-oldest' : 'block' },
    faces: { capacity: q.faces, overflow: 'block' },
    matches: { capacity: q.matches, overflow: 'block' },
    watchlist: { capacity: 1024, overflow: 'block' },
    // Camera state changes are few and each matters (an outage must show): never dropped.
    status: { capacity: 1024, overflow: 'block' },
    // One per appearance of a listed person: an audit must not lose one.
    sightings: { capacity: 1024, overflow: 'block' },
    // An operator's dismissal (distributed mode): each one teaches the matcher a negative example.
    dismissals: { capacity: 1024, overflow: 'block' },
    // Operator actions for the distributed audit writer: never dropped.
    'audit-requests': { capacity: 1024, overflow: 'block' },
  };
}
