import type { Logger } from '../log.js';
import type { SubjectIndex } from './index.js';
import type { ListPolicy } from './lists.js';
import type { WatchlistStore } from './watchlist.js';

export interface FollowerOptions {
  readonly store: WatchlistStore;
  readonly index: SubjectIndex;
  /** the change the index already includes */
  readonly from: number;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** reloaded from the database when a list's settings change */
  readonly policy?: ListPolicy;
}

/**
 * Keeps a running pipeline's index in step with the watchlist database, whichever process
 * changed it (`vigil enroll` in another shell, the admin API): polls the change log every
 * intervalMs (one indexed query; SQLite WAL readers never block the writer) and re-reads each
 * changed subject. A change is live within about one interval.
 */
export class WatchlistFollower {
  #seq: number;
  #timer: NodeJS.Timeout | undefined;
  readonly #o: FollowerOptions;

  constructor(o: FollowerOptions) {
    this.#o = o;
    this.#seq = o.from;
  }

  get seq(): number {
    return this.#seq;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.poll(), this.#o.intervalMs ?? 500);
    this.#timer.unref();
  }

  /** Applies pending changes now; returns how many subjects changed. */
  poll(): number {
    try {
      const { seq, applied, lists } = this.#o.index.catchUp(this.#o.store, this.#seq);
      this.#seq = seq;
      if (lists) this.#o.policy?.update(this.#o.store.lists());
      if (applied || lists) this.#o.log.info({ applied, lists, seq, subjects: this.#o.index.subjects }, 'watchlist changed');
      return applied;
    } catch (err) {
      // A busy or briefly unreadable database: the next poll retries; matching goes on.
      this.#o.log.warn({ err: (err as Error).message }, 'watchlist poll failed');
      return 0;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
