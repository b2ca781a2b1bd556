import { Api, ApiError } from './api.js';
import type { OperatingPoint } from './state.js';

/**
 * The console's connection to Vigil: the stored history over HTTP (`GET /api/events`, paged), then the
 * WebSocket from the last cursor (`hello`, the stored events after it, then live ones). After a
 * network drop or a server restart it reconnects with backoff (1 s, 2 s, 4 s … 30 s, ±20%) and
 * resumes from the last cursor it folded in, so nothing is missed and nothing arrives twice.
 */

export interface StreamEvent {
  readonly kind: string;
  readonly cursor?: string;
  readonly [k: string]: unknown;
}

export interface Hello {
  readonly kind: 'hello';
  /** The server's newest cursor when the socket opened (events up to it are catch-up, later ones live). */
  readonly cursor?: string | null;
  readonly head?: string | null;
  readonly operatingPoint?: OperatingPoint | null;
}

export type Phase = 'loading' | 'live' | 'reconnecting' | 'refused';

export interface Connection {
  readonly phase: Phase;
  /** Failed attempts in a row. */
  readonly attempt: number;
  /** Epoch ms of the next attempt while reconnecting. */
  readonly retryAt: number | null;
  readonly error: string | null;
}

export interface FeedOptions {
  readonly api: Api;
  /** Events in stream order; `live` is false during catch-up (no alarm sound for old alerts). */
  onEvents(events: StreamEvent[], live: boolean): void;
  onHello(h: Hello): void;
  onConnection(c: Connection): void;
}

const PAGE = 500;
/** Most stored events loaded when the console opens (the queue keeps the newest alerts of them). */
const HISTORY = 5000;
const MAX_DELAY_MS = 30_000;
/** A socket that hears nothing (not even a pong) for this long is considered dead and replaced. */
const SILENCE_MS = 45_000;
const PING_MS = 15_000;

export class Feed {
  readonly #o: FeedOptions;
  /** The newest cursor folded in; null until the history is read (and again after an unknown-cursor error). */
  #cursor: string | null = null;
  #ws: WebSocket | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;
  #heard = 0;
  #stopped = false;

  constructor(o: FeedOptions) {
    this.#o = o;
  }

  get cursor(): string | null {
    return this.#cursor;
  }

  start(): void {
    void this.#connect();
    addEventListener('online', this.#online);
  }

  /** The browser says the network is back: retry now rather than at the end of the backoff. */
  readonly #online = (): void => {
    if (this.#ws || this.#stopped || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    void this.#connect();
  };

  stop(): void {
    this.#stopped = true;
    removeEventListener('online', this.#online);
    clearTimeout(this.#timer);
    clearInterval(this.#ping);
    this.#ws?.close(1000, 'console closed');
  }

  #report(phase: Phase, error: string | null = null, retryAt: number | null = null): void {
    this.#o.onConnection({ phase, attempt: this.#attempt, retryAt, error });
  }

  #take(events: StreamEvent[], live: boolean): void {
    if (events.length === 0) return;
    for (const e of events) if (typeof e.cursor === 'string') this.#cursor = e.cursor;
    this.#o.onEvents(events, live);
  }

  /**
   * The recent history, newest first over HTTP (`newest=true`, then `before=`), at most HISTORY
   * events, folded oldest first; the newest cursor read becomes the socket's `after`.
   */
  async #history(): Promise<void> {
    const pages: StreamEvent[][] = [];
    let before: string | null = null;
    let read = 0;
    for (;;) {
      const q = new URLSearchParams({ limit: String(PAGE) });
      if (before) q.set('before', before);
      else q.set('newest', 'true');
      const page = await this.#o.api.get<{ events: StreamEvent[]; next: string | null }>(`/api/events?${q}`);
      pages.push(page.events);
      read += page.events.length;
      if (page.events.length < PAGE || read >= HISTORY || !page.next) break;
      before = page.next;
    }
    this.#take(pages.flat().reverse(), false);
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    this.#report(this.#attempt === 0 ? 'loading' : 'reconnecting');
    try {
      if (this.#cursor === null) await this.#history();
    } catch (err) {
      this.#failed(err);
      return;
    }
    const url = new URL('/', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.#o.api.token);
    if (this.#cursor) url.searchParams.set('after', this.#cursor);
    const ws = new WebSocket(url);
    this.#ws = ws;
    let catchUpTo: string | null | undefined; // undefined until hello
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#heard = Date.now();
      clearInterval(this.#ping);
      this.#ping = setInterval(() => {
        if (Date.now() - this.#heard > SILENCE_MS) ws.close(4000, 'silent');
        else if (ws.readyState === WebSocket.OPEN) ws.send('ping');
      }, PING_MS);
    };
    ws.onmessage = (m: MessageEvent<string>) => {
      this.#heard = Date.now();
      let e: StreamEvent;
      try {
        e = JSON.parse(m.data) as StreamEvent;
      } catch {
        return;
      }
      if (e.kind === 'hello') {
        const h = e as unknown as Hello;
        const head = h.cursor !== undefined ? h.cursor : (h.head ?? null);
        if (this.#cursor === null && head !== null) {
          // The store was empty when the history was read, and something was written since: a socket
          // without `after` starts at the live edge and would miss it, so read the history again.
          ws.close(4001, 'resync');
          return;
        }
        catchUpTo = head === this.#cursor ? null : head;
        this.#attempt = 0;
        this.#o.onHello(h);
        this.#report('live');
        return;
      }
      if (e.kind === 'pong') return;
      if (e.kind === 'error') {
        this.#serverError(e);
        return;
      }
      // Events up to the server's newest cursor at hello are catch-up; everything after is live.
      const live = catchUpTo === null;
      if (catchUpTo !== undefined && catchUpTo !== null && e.cursor === catchUpTo) catchUpTo = null;
      this.#take([e], live);
    };
    ws.onclose = (c: CloseEvent) => {
      clearInterval(this.#ping);
      if (this.#ws !== ws) return;
      this.#ws = null;
      if (this.#stopped) return;
      if (c.code === 4001) void this.#connect(); // resync: at once, from the history
      else void this.#closed(opened, c);
    };
  }

  /** A server error on the socket: an unknown cursor (retention purged it, or another data dir) restarts from the history. */
  #serverError(e: StreamEvent): void {
    const code = String(e.code ?? (e.error as { code?: string } | undefined)?.code ?? '');
    if (/CURSOR/.test(code)) {
      this.#cursor = null;
      this.#ws?.close(4001, 'resync');
    } else {
      this.#report('reconnecting', String(e.message ?? code));
    }
  }

  async #closed(opened: boolean, c: CloseEvent): Promise<void> {
    // A socket refused before opening tells the browser nothing: ask the API whether the token is still good.
    if (!opened) {
      try {
        await this.#o.api.get('/api/cameras');
      } catch (err) {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
          this.#report('refused', err.message);
          return;
        }
      }
    }
    this.#failed(new Error(c.reason || `connection closed (${c.code})`));
  }

  #failed(err: unknown): void {
    if (this.#stopped) return;
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      this.#report('refused', err.message);
      return;
    }
    const delay = Math.min(MAX_DELAY_MS, 1000 * 2 ** this.#attempt) * (0.8 + Math.random() * 0.4);
    this.#attempt++;
    this.#report('reconnecting', err instanceof Error ? err.message : String(err), Date.now() + delay);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }
}
