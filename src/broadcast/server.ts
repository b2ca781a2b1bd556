import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Bus } from '../contracts/bus.js';
import type { Config } from '../config/schema.js';
import type { CameraStatus, MatchEvent } from '../contracts/messages.js';
import { isVigilError, VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { handleOps } from '../metrics-http.js';
import { secondsSince, stageTimes, timed } from '../metrics.js';
import type { Cursor, EventStore, StoredEvent } from '../store/types.js';
import { eventRoutes, type EventApiDeps, type SubjectDirectory } from './api.js';
import { FeedClient, Serialised, type CutReason } from './feed.js';
import { boolParam, filterOf } from './filter.js';
import { unknownOperatingPoint, type OperatingPoint } from './operating-point.js';
import { createRouter, errorBody, presentedToken } from './router.js';
import type { Actor, ApiRoute } from './routes.js';
import { Tokens } from './token.js';

export { presentedToken };

/** Serves the operator console (src/console/serve.ts): true when it handled the request. */
export type ConsoleHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface BroadcastOptions {
  readonly bus: Bus;
  /** Every event is written here before it is sent; the API and the feed read from it. */
  readonly store: EventStore;
  readonly host: string;
  readonly port: number;
  /** Accepted tokens by role. */
  readonly auth?: Tokens;
  /** A single admin token (what earlier releases had); used when `auth` is not given. */
  readonly token?: string;
  readonly maxPayloadBytes: number;
  readonly maxBufferedBytes: number;
  readonly maxMessagesPerSecond?: number;
  readonly log: Logger;
  /** Served as Prometheus text at GET /metrics when given; the feed's metrics go there too. */
  readonly metrics?: Registry;
  /** config metrics.token: /metrics needs it (src/metrics-http.ts). */
  readonly metricsToken?: string;
  /** Other features' API routes, mounted next to the event routes. */
  readonly routes?: readonly (readonly ApiRoute[])[];
  /** Called after each stored acknowledgement (see EventApiDeps.onAck). */
  readonly onAck?: EventApiDeps['onAck'];
  readonly subjects?: SubjectDirectory;
  readonly operatingPoint?: () => OperatingPoint;
  /** PEM files: serve https/wss. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** The console's handler; by default src/console/serve.ts when present. */
  readonly console?: ConsoleHandler | null;
}

type State = 'idle' | 'running' | 'closing' | 'closed';
const noMetrics = new Registry();

function readPem(which: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new VigilError('VIGIL_ERR_BROADCAST_TLS', { which, file, reason: (err as Error).message }, err);
  }
}

/** src/console/serve.ts's serveConsole when that module exists (the console is built alongside). */
async function loadConsole(): Promise<ConsoleHandler | null> {
  const spec = '../console/serve.js';
  try {
    const m = (await import(spec)) as { serveConsole?: ConsoleHandler };
    return m.serveConsole ?? null;
  } catch {
    return null;
  }
}

function feedMetrics(reg: Registry | undefined): { cut: Counter<'reason'> | undefined; clients: Gauge | undefined } {
  if (!reg) return { cut: undefined, clients: undefined };
  const cut = (reg.getSingleMetric('vigil_ws_clients_cut_total') as Counter<'reason'> | undefined) ?? new Counter({ name: 'vigil_ws_clients_cut_total', help: 'WebSocket clients cut off: slow (not reading), flood (too many messages), backlog (too far behind while catching up)', labelNames: ['reason'], registers: [reg] });
  const clients = (reg.getSingleMetric('vigil_ws_clients') as Gauge | undefined) ?? new Gauge({ name: 'vigil_ws_clients', help: 'Connected WebSocket clients', registers: [reg] });
  return { cut, clients };
}

/**
 * The broadcast port: the HTTP API (token- and role-checked, src/broadcast/router.ts), the WebSocket
 * event feed (src/broadcast/feed.ts), the operator console, /healthz and /metrics. Match events,
 * sightings and camera status changes from the bus are written to the event store first; the store's listeners
 * then fan them out, so the feed only ever sends what is stored (with its cursor).
 */
export class BroadcastServer {
  readonly name = 'broadcast';
  readonly #o: BroadcastOptions;
  readonly #tokens: Tokens;
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  readonly #unsubs: (() => void)[] = [];
  readonly #clients = new Set<FeedClient>();
  /** Each camera's latest status, sent (without cursor) to a live-only client when it connects. */
  readonly #cameras = new Map<string, CameraStatus>();
  readonly #metrics;
  #state: State = 'idle';
  sent = 0;

  constructor(o: BroadcastOptions) {
    this.#o = o;
    if (!o.auth && !o.token) throw new Error('BroadcastServer needs tokens');
    this.#tokens = o.auth ?? new Tokens([{ token: o.token!, role: 'admin', label: 'admin' }]);
    this.#metrics = feedMetrics(o.metrics);
  }

  get port(): number {
    return (this.#http?.address() as AddressInfo | null)?.port ?? this.#o.port;
  }

  get clients(): number {
    return this.#clients.size;
  }

  get tls(): boolean {
    return this.#o.tls !== undefined;
  }

  async start(): Promise<void> {
    const { host, port, maxPayloadBytes, log, bus, store } = this.#o;
    for (const st of await store.cameras()) this.#cameras.set(st.camera, st);
    const operatingPoint = this.#o.operatingPoint ?? (() => unknownOperatingPoint);
    const router = createRouter([eventRoutes({ store, subjects: this.#o.subjects, operatingPoint, status: () => ({ clients: this.clients }), onAck: this.#o.onAck }), ...(this.#o.routes ?? [])], {
      tokens: this.#tokens,
      maxBodyBytes: 16 * 1024 * 1024,
      log,
    });
    const consoleHandler = this.#o.console === undefined ? await loadConsole() : this.#o.console;
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const path = (req.url ?? '/').split('?')[0];
      const { metrics, metricsToken } = this.#o;
      if (handleOps(req, res, { registry: metrics ?? noMetrics, metrics: !!metrics, token: metricsToken, healthy: () => this.#state === 'running', details: () => ({ clients: this.clients }) })) return;
      router(req, res).then(
        (handled) => {
          if (handled) return;
          if (req.method === 'GET' && consoleHandler?.(req, res)) return;
          res.writeHead(404).end();
        },
        (err: Error) => {
          log.error({ err: err.message }, 'request failed');
          if (!res.headersSent) res.writeHead(500).end();
        },
      );
    };
    const http = this.#o.tls
      ? createHttpsServer({ cert: readPem('certificate', this.#o.tls.cert), key: readPem('key', this.#o.tls.key) }, onRequest)
      : createHttpServer(onRequest);
    // autoPong off: pongs are answered by FeedClient, checked against the same buffered-bytes limit.
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxPayloadBytes, autoPong: false });
    http.on('upgrade', (req, socket, head) => {
      if (this.#state !== 'running') {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      const actor = this.#tokens.actorOf(presentedToken(req));
      if (!actor) {
        log.warn({ remote: req.socket.remoteAddress }, 'websocket client refused: bad or missing token');
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => void this.#accept(ws, req, actor));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', (err: NodeJS.ErrnoException) => {
        // The usual cause: another Vigil (or anything) already listens there. Name the port, not a bare EADDRINUSE.
        reject(err.code === 'EADDRINUSE' ? new VigilError('VIGIL_ERR_BROADCAST_PORT_IN_USE', { host, port }, err) : err);
      });
      http.listen(port, host, () => resolve());
    });
    this.#http = http;
    this.#wss = wss;
    this.#state = 'running';
    this.#unsubs.push(
      store.subscribe((e) => this.#fanOut(e)),
      bus.subscribe('matches', { group: 'broadcast' }, async (events) => {
        for (const e of events) await timed(stageTimes().storeWrite, () => store.append(e));
      }),
      bus.subscribe('status', { group: 'broadcast' }, async (statuses) => {
        for (const st of statuses) await store.append(st);
      }),
      // Sightings (one per face track of a listed person) are stored and sent like match events: consoles show "last seen" from them.
      bus.subscribe('sightings', { group: 'broadcast' }, async (sightings) => {
        for (const g of sightings) await store.append(g);
      }),
    );
  }

  async #accept(ws: WebSocket, req: IncomingMessage, actor: Actor): Promise<void> {
    const { log, store } = this.#o;
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    let after: Cursor | null;
    let feed: FeedClient;
    try {
      after = q.get('after') || null;
      if (after !== null) store.compare(after, after); // validates: malformed or unknown is an error now, not mid-stream
      feed = new FeedClient(ws, actor, filterOf(q), boolParam(q, 'crops', true), {
        store,
        maxBufferedBytes: this.#o.maxBufferedBytes,
        maxMessagesPerSecond: this.#o.maxMessagesPerSecond ?? 20,
        maxPending: 10_000,
        log,
        onCut: (reason: CutReason) => this.#metrics.cut?.inc({ reason }),
      });
    } catch (err) {
      const e = isVigilError(err) ? err : new VigilError('VIGIL_ERR_API_BAD_REQUEST', { reason: (err as Error).message });
      ws.send(JSON.stringify({ kind: 'error', v: 1, ...errorBody(e).error }));
      ws.close(4400, e.code);
      return;
    }
    this.#clients.add(feed);
    this.#metrics.clients?.set(this.#clients.size);
    ws.on('error', (err) => log.warn({ err: err.message }, 'websocket client error'));
    ws.on('close', (code) => {
      this.#clients.delete(feed);
      this.#metrics.clients?.set(this.#clients.size);
      log.info({ code, clients: this.#clients.size }, 'websocket client left');
    });
    log.info({ remote: req.socket.remoteAddress, actor: actor.name, clients: this.#clients.size, resume: after !== null }, 'websocket client connected');
    const hello = (head: Cursor | null) => ({ kind: 'hello', v: 1, server: 'vigil', cursor: head, role: actor.role, actor: actor.name, operatingPoint: (this.#o.operatingPoint ?? (() => unknownOperatingPoint))() });
    const snapshot = after === null ? [...this.#cameras.values()].map((st) => JSON.stringify(st)) : [];
    await feed.start(hello, after, snapshot);
  }

  #fanOut(e: StoredEvent): void {
    if (e.kind === 'camera-status') {
      const { cursor: _c, ...st } = e;
      if (st.state === 'stopped') this.#cameras.delete(st.camera);
      else this.#cameras.set(st.camera, st);
    }
    if (e.kind === 'match') this.sent++, stageTimes().wsDelay.observe(secondsSince(e.type === 'alert' ? e.alertAt : e.capturedAt));
    const s = new Serialised(e);
    for (const c of this.#clients) c.offer(s);
  }

  /** Stores one event and sends it to every client (tests and tools; the bus path does the same). */
  async send(e: MatchEvent): Promise<void> {
    await this.#o.store.append(e);
  }

  /** Refuses new clients, closes existing ones (1001), then the listener. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    this.#state = 'closing';
    for (const u of this.#unsubs.splice(0)) u();
    const wss = this.#wss!;
    for (const c of wss.clients) c.close(1001, 'server shutting down');
    // A peer that never completes the close handshake is cut after a second.
    const timer = setTimeout(() => {
      for (const c of wss.clients) c.terminate();
    }, 1000);
    await new Promise<void>((r) => wss.close(() => r()));
    clearTimeout(timer);
    this.#http!.closeAllConnections?.();
    await new Promise<void>((r) => this.#http!.close(() => r()));
    this.#state = 'closed';
  }
}

/** The broadcast server from the config's `broadcast` section and what the process has. */
export function broadcastServerFor(
  b: Config['broadcast'],
  d: Pick<BroadcastOptions, 'bus' | 'store' | 'auth' | 'log' | 'metrics' | 'metricsToken' | 'subjects' | 'operatingPoint' | 'routes' | 'onAck'> & { readonly port?: number },
): BroadcastServer {
  return new BroadcastServer({
    host: b.host,
    port: d.port ?? b.port,
    maxPayloadBytes: b.maxPayloadBytes,
    maxBufferedBytes: b.maxBufferedBytes,
    maxMessagesPerSecond: b.maxMessagesPerSecond,
    tls: b.tls,
    ...d,
  });
}
