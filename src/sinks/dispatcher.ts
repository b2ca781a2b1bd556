import { setTimeout as sleep } from 'node:timers/promises';
import type { SinkConfig } from '../config/schema.js';
import { isVigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SinkMetrics } from '../metrics.js';
import type { Cursor, EventFilter, EventStore, StoredEvent } from '../store/types.js';
import { eventLists, toPayload, type PayloadOptions, type SinkPayload } from './payload.js';
import type { SinkState } from './state.js';

/** A destination: sends one payload and resolves once the receiver acknowledged it; throws (without secrets) otherwise. */
export interface Sink {
  readonly id: string;
  readonly type: SinkConfig['type'];
  deliver(p: SinkPayload): Promise<void>;
  close(): Promise<void>;
}

/** standby: another process delivers this sink (sinks.db's owner); this one takes over if that one dies. */
export type SinkHealth = 'idle' | 'delivering' | 'retrying' | 'standby' | 'stopped';

export interface SinkStatus {
  readonly id: string;
  readonly type: SinkConfig['type'];
  readonly state: SinkHealth;
  readonly delivered: number;
  readonly consecutiveFailures: number;
  /** In standby: the process ("host:pid") that delivers the sink. */
  readonly owner: string | null;
  readonly lastError: string | null;
  readonly lastDeliveredAt: string | null;
  readonly deadLetters: number;
}

export interface DispatcherOptions {
  readonly sink: Sink;
  readonly cfg: Pick<SinkConfig, 'filter' | 'retry' | 'includeCrop'>;
  readonly store: EventStore;
  readonly state: SinkState;
  readonly log: Logger;
  readonly metrics: SinkMetrics;
  readonly payload: Omit<PayloadOptions, 'includeCrop'>;
  /** How often an idle dispatcher looks for new events, ms (notify() wakes it at once). */
  readonly pollMs?: number;
  readonly pageSize?: number;
  /** Ownership heartbeat and how old a heartbeat may get before another process takes the sink over, ms. */
  readonly lease?: { readonly beatMs: number; readonly staleMs: number };
}

const DEFAULT_LEASE = { beatMs: 5000, staleMs: 30_000 };

const DEFAULT_TYPES: Record<SinkConfig['type'], readonly string[]> = { webhook: ['alert', 'update'], mqtt: ['alert', 'update', 'camera-status'] };

/** The event's own time: when the alert was raised, when the camera changed state. */
function eventTime(e: StoredEvent): number {
  if (e.kind === 'match') return Date.parse(e.type === 'alert' ? e.alertAt : e.capturedAt);
  if (e.kind === 'camera-status') return Date.parse(e.at);
  if (e.kind === 'sighting') return Date.parse(e.lastSeenAt);
  return Date.parse(e.at);
}

/** Backoff before try `n + 1`: doubling from initialMs up to maxMs, with "equal jitter" so many retrying sinks spread out. */
export function backoffMs(n: number, initialMs: number, maxMs: number, rnd: () => number = Math.random): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.max(0, n - 1));
  return Math.round(d / 2 + (rnd() * d) / 2);
}

/**
 * The outbox of one sink: reads the event store from its own durable cursor, delivers each event
 * the sink's filter takes, in order, retrying with backoff; after retry.maxAttempts tries or
 * retry.maxAgeSeconds the event goes to the dead letters and delivery goes on. It never touches
 * the pipeline: the pipeline only appends to the store, so a slow or dead sink cannot hold it up.
 */
export class SinkDispatcher {
  readonly #o: DispatcherOptions;
  readonly #filter: EventFilter;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #health: SinkHealth = 'idle';
  #delivered = 0;
  #failures = 0;
  #lastError: string | null = null;
  #lastDeliveredAt: string | null = null;
  /** Another process holding the sink, or null when this one does. */
  #owner: string | null = null;
  #beat: NodeJS.Timeout | undefined;

  constructor(o: DispatcherOptions) {
    this.#o = o;
    const f = o.cfg.filter;
    this.#filter = { ...(f.cameras ? { cameras: f.cameras } : {}), types: f.types ?? DEFAULT_TYPES[o.sink.type] };
    o.metrics.deadLetters.set({ sink: o.sink.id }, o.state.deadCount(o.sink.id));
    o.metrics.failing.set({ sink: o.sink.id }, 0);
  }

  get id(): string {
    return this.#o.sink.id;
  }

  /** Resolves once the sink's cursor is known (a new sink's is the store's head: it takes events appended from now on). */
  async start(): Promise<void> {
    if (this.#loop) return;
    const { store, state, log, sink } = this.#o;
    let cursor = state.cursor(sink.id);
    if (cursor === undefined) {
      cursor = await store.head();
      state.advance(sink.id, cursor);
      log.info({ sink: sink.id }, 'sink registered: delivering events from now on');
    }
    const lease = this.#o.lease ?? DEFAULT_LEASE;
    this.#heartbeat(lease.staleMs);
    this.#beat = setInterval(() => this.#heartbeat(lease.staleMs), lease.beatMs);
    this.#beat.unref();
    this.#loop = this.#run().catch((err: unknown) => {
      log.error({ sink: sink.id, err: (err as Error).message }, 'sink dispatcher stopped on an error');
    });
  }

  /** New events were appended: look now instead of at the next poll. */
  notify(): void {
    this.#wake?.();
  }

  /** Claims (or keeps) the sink; logs when it changes hands. */
  #heartbeat(staleMs: number): void {
    const { state, sink, log } = this.#o;
    const other = state.claim(sink.id, staleMs);
    if (other !== this.#owner) {
      if (other) log.warn({ sink: sink.id, owner: other }, 'another process delivers this sink: standing by');
      else log.info({ sink: sink.id }, 'sink taken over: delivering');
      this.#owner = other;
      if (!other) this.#wake?.();
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#beat);
    this.#wake?.();
    await this.#loop;
    if (this.#loop && !this.#owner) this.#o.state.release(this.#o.sink.id);
    this.#health = 'stopped';
    await this.#o.sink.close();
  }

  status(): SinkStatus {
    const { sink, state } = this.#o;
    return {
      id: sink.id,
      type: sink.type,
      state: this.#health,
      delivered: this.#delivered,
      consecutiveFailures: this.#failures,
      owner: this.#owner,
      lastError: this.#lastError,
      lastDeliveredAt: this.#lastDeliveredAt,
      deadLetters: state.deadCount(sink.id),
    };
  }

  async #run(): Promise<void> {
    const { store, log, sink, metrics, state } = this.#o;
    const pageSize = this.#o.pageSize ?? 100;
    const signal = this.#abort.signal;
    /** undefined while another process owns the sink: read afresh on taking over (that one moved it). */
    let cursor: Cursor | null | undefined;
    while (!signal.aborted) {
      if (this.#owner) {
        cursor = undefined;
        this.#health = 'standby';
        await this.#idle();
        continue;
      }
      if (cursor === undefined) {
        cursor = state.cursor(sink.id) ?? null;
        this.#health = 'idle';
      }
      await this.#retryDead();
      let events: readonly StoredEvent[];
      try {
        events = (await store.read(cursor, pageSize, this.#filter, { crops: this.#o.cfg.includeCrop })).events;
      } catch (err) {
        if (cursor !== null && isVigilError(err, 'VIGIL_ERR_EVENTS_CURSOR')) {
          // The store was replaced (restored, or deleted and started afresh): its events are all new to this sink.
          log.error({ sink: sink.id, err: (err as Error).message }, 'sink cursor unknown to the event store (a new store?): delivering it from its start');
          cursor = null;
          this.#o.state.advance(sink.id, null);
          continue;
        }
        log.warn({ sink: sink.id, err: (err as Error).message }, 'sink cannot read the event store; retrying');
        await this.#idle();
        continue;
      }
      if (events.length === 0) {
        metrics.pending.set({ sink: sink.id }, 0);
        await this.#idle();
        continue;
      }
      for (const [i, e] of events.entries()) {
        metrics.pending.set({ sink: sink.id }, events.length - i);
        const done = await this.#deliver(e);
        if (!done) break; // stopped, or the sink was taken over, mid-retry: the cursor stays before e
        cursor = e.cursor;
      }
    }
  }

  /** Dead letters an operator requeued: one more try each, in order; delivered ones leave the dead letters. */
  async #retryDead(): Promise<void> {
    const { sink, state, log, metrics } = this.#o;
    for (const d of state.requeued(sink.id)) {
      if (this.#abort.signal.aborted) return;
      try {
        await sink.deliver(JSON.parse(d.payload) as SinkPayload);
        state.resolve(d.seq);
        metrics.deliveries.inc({ sink: sink.id, outcome: 'ok' });
        metrics.deadLetters.dec({ sink: sink.id });
        this.#delivered++;
        log.info({ sink: sink.id, event: d.eventId }, 'dead letter delivered on retry');
      } catch (err) {
        state.failedAgain(d.seq, (err as Error).message);
        metrics.deliveries.inc({ sink: sink.id, outcome: 'dead' });
        log.warn({ sink: sink.id, event: d.eventId, err: (err as Error).message }, 'dead letter failed again');
      }
    }
  }

  /** Waits for notify(), the poll interval or stop(). */
  async #idle(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, this.#o.pollMs ?? 250);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  /** Delivers e (or skips it); false when stopped before it was settled. */
  async #deliver(e: StoredEvent): Promise<boolean> {
    const { sink, state, log, metrics, cfg } = this.#o;
    const labels = { sink: sink.id };
    const lists = cfg.filter.lists;
    const payload = toPayload(e, { ...this.#o.payload, includeCrop: cfg.includeCrop });
    if (!payload || (lists && e.kind === 'match' && !eventLists(e).some((l) => lists.includes(l)))) {
      state.advance(sink.id, e.cursor);
      return true;
    }
    const firstTry = Date.now();
    const maxAgeMs = cfg.retry.maxAgeSeconds * 1000;
    for (let attempt = 1; ; attempt++) {
      if (this.#abort.signal.aborted || this.#owner) return false;
      this.#health = attempt === 1 ? 'delivering' : 'retrying';
      try {
        await sink.deliver(payload);
        state.advance(sink.id, e.cursor);
        this.#delivered++;
        this.#failures = 0;
        this.#lastDeliveredAt = new Date().toISOString();
        metrics.deliveries.inc({ ...labels, outcome: 'ok' });
        metrics.failing.set(labels, 0);
        const t = eventTime(e);
        if (Number.isFinite(t)) metrics.delay.observe(labels, Math.max(0, Date.now() - t) / 1000);
        this.#health = 'idle';
        return true;
      } catch (err) {
        const why = (err as Error).message;
        this.#failures++;
        this.#lastError = why;
        metrics.failing.set(labels, this.#failures);
        const id = payload.kind === 'vigil.alert' ? payload.id : `${payload.camera}@${payload.at}`;
        if (attempt >= cfg.retry.maxAttempts || Date.now() - firstTry >= maxAgeMs) {
          state.deadLetter(
            {
              eventId: id,
              revision: payload.kind === 'vigil.alert' ? payload.revision : null,
              kind: e.kind,
              camera: payload.camera,
              cursor: e.cursor,
              attempts: attempt,
              firstTryAt: new Date(firstTry).toISOString(),
              lastError: why,
              payload: JSON.stringify(payload),
            },
            sink.id,
          );
          metrics.deliveries.inc({ ...labels, outcome: 'dead' });
          metrics.deadLetters.inc(labels);
          log.error({ sink: sink.id, event: id, attempts: attempt, err: why }, 'sink gave up on an event: moved to the dead letters');
          this.#health = 'idle';
          return true;
        }
        metrics.deliveries.inc({ ...labels, outcome: 'retry' });
        const wait = backoffMs(attempt, cfg.retry.initialBackoffMs, cfg.retry.maxBackoffMs);
        log.warn({ sink: sink.id, event: id, attempt, retryInMs: wait, err: why }, 'sink delivery failed; retrying');
        try {
          await sleep(wait, undefined, { signal: this.#abort.signal });
        } catch {
          return false;
        }
      }
    }
  }
}
