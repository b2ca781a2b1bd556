import type { Bus, Handler } from '../contracts/bus.js';
import type { FacesMsg, MatchEvent, TopicName, Topics } from '../contracts/messages.js';

/** The last `capacity` ids seen: enough to recognise a redelivery, bounded however long the service runs. */
export class RecentIds {
  readonly #capacity: number;
  readonly #set = new Set<string>();
  readonly #ring: (string | undefined)[];
  #next = 0;

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
    this.#ring = new Array(this.#capacity);
  }

  get size(): number {
    return this.#set.size;
  }

  /** True when `id` was seen among the last `capacity` ids; remembers it either way. */
  seen(id: string): boolean {
    if (this.#set.has(id)) return true;
    const old = this.#ring[this.#next];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#next] = id;
    this.#next = (this.#next + 1) % this.#capacity;
    this.#set.add(id);
    return false;
  }
}

/**
 * What identifies one message, so that a redelivered copy (at-least-once) is recognised:
 * a match event by its deterministic id and revision, embedded faces by camera, frame and capture
 * time (the capture time tells a restarted camera's new frame 0 from a redelivered old one).
 */
export const dedupeKeys = {
  matches: (e: MatchEvent): string => `${e.id}\0${(e as { revision?: number }).revision ?? 0}\0${e.capturedAt}`,
  faces: (m: FacesMsg): string => `${m.camera}\0${m.seq}\0${m.capturedAt}`,
} satisfies Partial<{ [T in TopicName]: (m: Topics[T]) => string }>;

export type DedupeKeys = Partial<{ [T in TopicName]: (m: Topics[T]) => string }>;

/**
 * A bus whose subscriptions on the keyed topics drop messages seen before (per subscription,
 * among the last `capacity`). Publishing and everything else pass through unchanged.
 */
export function dedupeBus(bus: Bus, keys: DedupeKeys, capacity: number, onDuplicate: (topic: TopicName, key: string) => void = () => {}): Bus {
  return {
    publish: (topic, msg) => bus.publish(topic, msg),
    subscribe<T extends TopicName>(topic: T, opts: Parameters<Bus['subscribe']>[1], handler: Handler<Topics[T]>): () => void {
      const keyOf = keys[topic] as ((m: Topics[T]) => string) | undefined;
      if (!keyOf) return bus.subscribe(topic, opts, handler);
      const recent = new RecentIds(capacity);
      return bus.subscribe(topic, opts, (msgs) => {
        const fresh = msgs.filter((m) => {
          const k = keyOf(m);
          if (!recent.seen(k)) return true;
          onDuplicate(topic, k);
          return false;
        });
        return fresh.length ? handler(fresh) : undefined;
      });
    },
    idle: () => bus.idle(),
    stats: () => bus.stats(),
    close: () => bus.close(),
  };
}
