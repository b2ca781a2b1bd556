import type { WebSocket } from 'ws';
import { isVigilError, VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Cursor, EventFilter, EventStore, StoredEvent } from '../store/types.js';
import { filterOf, passes } from './filter.js';
import type { Actor } from './routes.js';

/** Why a client was cut off (a metric label). */
export type CutReason = 'slow' | 'flood' | 'backlog';

export interface FeedOptions {
  readonly store: EventStore;
  /** A client whose unsent bytes (events, pongs, errors alike) pass this is cut off. */
  readonly maxBufferedBytes: number;
  /** Messages (text, binary, pings) per second a client may send; burst twice that. */
  readonly maxMessagesPerSecond: number;
  /** Live events held for a client still catching up; more and it is cut off (it can resume from its cursor). */
  readonly maxPending: number;
  readonly log: Logger;
  readonly onCut?: (reason: CutReason) => void;
}

/** One serialisation per event and shape, shared by every client. */
export class Serialised {
  readonly event: StoredEvent;
  #full: Buffer | undefined;
  #lean: Buffer | undefined;

  constructor(e: StoredEvent) {
    this.event = e;
  }

  /** UTF-8 JSON, encoded once: ws would otherwise encode a string again for every client. */
  json(crops: boolean): Buffer {
    if (crops || (this.event.kind !== 'match' && this.event.kind !== 'sighting')) return (this.#full ??= Buffer.from(JSON.stringify(this.event)));
    if (this.#lean === undefined) {
      const { crop: _crop, ...rest } = this.event;
      this.#lean = Buffer.from(JSON.stringify(rest));
    }
    return this.#lean;
  }
}

const PAGE = 500;
/**
 * Messages handed to ws but not yet to the kernel. bufferedAmount counts bytes, but each queued
 * message also costs a write request and buffers (a few hundred bytes), so a flood of tiny replies
 * (pongs of 23 bytes) could hold far more memory than its byte count: the count is capped too.
 */
const MAX_QUEUED_MESSAGES = 4096;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * One WebSocket client of the event feed. From `after` it sends every stored event in order, then
 * live ones, with no gap and no duplicate at the seam: it is registered for live events before the
 * first read, holds them while catching up, and after the last read (which reaches the head) sends
 * only those whose cursor is past the last one read. Every byte it sends goes through one check of
 * the socket's buffered amount, pongs included: a client that does not read is cut off, so its
 * backlog never grows past maxBufferedBytes (+ one message).
 */
export class FeedClient {
  readonly actor: Actor;
  readonly #ws: WebSocket;
  readonly #o: FeedOptions;
  #filter: EventFilter;
  readonly #crops: boolean;
  /** Live events held until hello and the catch-up are out (from the start: nothing precedes hello). */
  #pending: Serialised[] | undefined = [];
  #closed = false;
  /** Token bucket for the client's own messages. */
  #tokens: number;
  #refilled = Date.now();
  /** Sends not yet written to the socket (see MAX_QUEUED_MESSAGES). */
  #queued = 0;
  readonly #written = (): void => {
    this.#queued--;
  };

  constructor(ws: WebSocket, actor: Actor, filter: EventFilter, crops: boolean, o: FeedOptions) {
    this.#ws = ws;
    this.actor = actor;
    this.#filter = filter;
    this.#crops = crops;
    this.#o = o;
    this.#tokens = 2 * o.maxMessagesPerSecond;
    ws.on('message', (data, binary) => {
      if (!this.#allow()) return;
      if (binary) return this.#error(new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: 'binary messages are not understood; send JSON text' }));
      this.#onText(data.toString());
    });
    // autoPong is off on the server: a pong is a send like any other, checked against the limit.
    ws.on('ping', (data) => {
      if (this.#allow() && this.#room()) {
        this.#queued++;
        ws.pong(data, false, this.#written);
      }
    });
    ws.on('close', () => {
      this.#closed = true;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A new stored event: sent now, or held while catching up. */
  offer(s: Serialised): void {
    if (this.#closed) return;
    if (this.#pending) {
      if (this.#pending.length >= this.#o.maxPending) return this.cut('backlog');
      this.#pending.push(s);
      return;
    }
    if (passes(s.event, this.#filter)) this.#send(s.json(this.#crops));
  }

  /**
   * Sends hello (with the store's head), then the stored events after `after`, then goes live. A
   * client without `after` starts at the head: it gets every event after hello's cursor.
   */
  async start(hello: (head: Cursor | null) => Record<string, unknown>, after: Cursor | null, snapshot: readonly string[]): Promise<void> {
    const head = await this.#o.store.head();
    this.#send(JSON.stringify(hello(head)));
    for (const s of snapshot) this.#send(s);
    let last: Cursor | null = after ?? head;
    if (after !== null) {
      try {
        for (;;) {
          // Pace the catch-up by the client's reading instead of cutting it off for being behind.
          // (Sleeping, not a microtask: the socket's write callbacks that lower #queued need the event loop to turn.)
          while (!this.#closed && (this.#ws.bufferedAmount > this.#o.maxBufferedBytes / 2 || this.#queued > MAX_QUEUED_MESSAGES / 2)) await sleep(5);
          if (this.#closed) return;
          const page = await this.#o.store.read(last, PAGE, this.#filter, { crops: this.#crops });
          for (const e of page.events) this.#send(this.#crops || e.kind !== 'match' ? JSON.stringify(e) : new Serialised(e).json(false));
          if (page.next) last = page.next;
          if (page.events.length < PAGE) break;
        }
      } catch (err) {
        this.#error(err);
        this.#ws.close(4400, 'bad request');
        this.#closed = true;
        return;
      }
    }
    // The seam. No await since the last read: everything newer is in #pending, in order.
    const held = this.#pending ?? [];
    this.#pending = undefined;
    for (const s of held) {
      if ((last === null || this.#o.store.compare(s.event.cursor, last) > 0) && passes(s.event, this.#filter)) this.#send(s.json(this.#crops));
    }
  }

  #onText(text: string): void {
    if (text === 'ping') return this.#send(JSON.stringify({ kind: 'pong', v: 1 }));
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.#error(new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: 'message is not JSON' }));
    }
    const m = msg as Record<string, unknown> | null;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return this.#error(new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: 'message must be a JSON object with "type"' }));
    if (m['type'] === 'ping') return this.#send(JSON.stringify({ kind: 'pong', v: 1 }));
    if (m['type'] === 'subscribe') {
      try {
        this.#filter = filterOf(m);
      } catch (err) {
        return this.#error(err);
      }
      return this.#send(JSON.stringify({ kind: 'subscribed', v: 1, filter: this.#filter }));
    }
    this.#error(new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: `unknown message type ${JSON.stringify(m['type'] ?? null).slice(0, 40)} (known: subscribe, ping)` }));
  }

  #error(err: unknown): void {
    const e = isVigilError(err) ? err : new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: (err as Error).message });
    this.#send(JSON.stringify({ kind: 'error', v: 1, code: e.code, message: e.message, hint: e.hint }));
  }

  #allow(): boolean {
    const now = Date.now();
    const rate = this.#o.maxMessagesPerSecond;
    this.#tokens = Math.min(2 * rate, this.#tokens + ((now - this.#refilled) / 1000) * rate);
    this.#refilled = now;
    if (this.#tokens < 1) {
      this.cut('flood');
      return false;
    }
    this.#tokens -= 1;
    return true;
  }

  /** False (and the client cut off) when its unsent bytes or messages are over the limit. */
  #room(): boolean {
    if (this.#closed) return false;
    if (this.#ws.bufferedAmount > this.#o.maxBufferedBytes || this.#queued >= MAX_QUEUED_MESSAGES) {
      this.cut('slow');
      return false;
    }
    return true;
  }

  #send(json: string | Buffer): void {
    if (!this.#room()) return;
    this.#queued++;
    this.#ws.send(json, { binary: false }, this.#written);
  }

  /**
   * Cuts the client off: a close frame (1013 too slow / 1008 flood) and, since a client that does
   * not read never answers it, the socket destroyed a second later. Its memory goes with it.
   */
  cut(reason: CutReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = undefined;
    this.#o.log.warn({ actor: this.actor.name, reason, buffered: this.#ws.bufferedAmount }, 'websocket client cut off');
    this.#o.onCut?.(reason);
    this.#ws.close(reason === 'flood' ? 1008 : 1013, reason === 'flood' ? 'too many messages' : 'too slow');
    setTimeout(() => this.#ws.terminate(), 1000).unref();
  }
}
