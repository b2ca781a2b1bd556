/** What kafkajs's admin, producer and consumer have in common. */
export interface Connectable {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * One connection made on first use and shared by concurrent callers; dropped after a failure, so
 * the next use makes a new one (kafkajs may hold on to a broker that went away, or stale metadata).
 */
export class LazyConnection<T extends Connectable> {
  readonly #make: () => T;
  #current: T | undefined;
  #connecting: Promise<T> | undefined;

  constructor(make: () => T) {
    this.#make = make;
  }

  async get(): Promise<T> {
    if (this.#current) return this.#current;
    return (this.#connecting ??= (async () => {
      const x = this.#make();
      try {
        await x.connect();
        this.#current = x;
        return x;
      } finally {
        this.#connecting = undefined;
      }
    })());
  }

  /** Runs `fn` on the connection; on failure the connection is dropped and the error passed on. */
  async use<R>(fn: (x: T) => Promise<R>): Promise<R> {
    const x = await this.get();
    try {
      return await fn(x);
    } catch (err) {
      if (this.#current === x) this.#current = undefined;
      void x.disconnect().catch(() => {});
      throw err;
    }
  }

  async close(): Promise<void> {
    const x = this.#current;
    this.#current = undefined;
    await x?.disconnect().catch(() => {});
  }
}
