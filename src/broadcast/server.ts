import { createServer, type IncomingMessage, type Server } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import type { Bus } from '../contracts/bus.js';
import type { CameraStatus, MatchEvent } from '../contracts/messages.js';
import { Registry } from 'prom-client';
import { handleOps } from '../metrics-http.js';
import { secondsSince, stageTimes } from '../metrics.js';
import type { Logger } from '../log.js';

export interface BroadcastOptions {
  readonly bus: Bus;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly maxPayloadBytes: number;
  readonly maxBufferedBytes: number;
  readonly log: Logger;
  /** Served as Prometheus text at GET /metrics when given. */
  readonly metrics?: Registry;
  /** config metrics.token: /metrics needs it (src/metrics-http.ts). */
  readonly metricsToken?: string;
}

/** Token from `Authorization: Bearer <t>` or `?token=<t>` (browsers cannot set headers on a WebSocket). */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const url = new URL(req.url ?? '/', 'http://x');
  return url.searchParams.get('token') ?? undefined;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type State = 'idle' | 'running' | 'closing' | 'closed';
const noMetrics = new Registry();

/**
 * Pushes match events to monitoring clients over WebSocket as JSON, one event per message.
 * Clients authenticate with the token; a client that sends more than maxPayloadBytes in one message
 * is closed (1009) by ws itself; a client that falls maxBufferedBytes behind is disconnected (1013)
 * rather than queued without limit.
 */
export class BroadcastServer {
  readonly name = 'broadcast';
  readonly #o: BroadcastOptions;
  #http: Server | undefined;
  #wss: WebSocketServer | undefined;
  #unsub: (() => void) | undefined;
  #unsubStatus: (() => void) | undefined;
  /** Each camera's latest status, sent to a client when it connects. */
  readonly #cameras = new Map<string, CameraStatus>();
  #state: State = 'idle';
  sent = 0;

  constructor(o: BroadcastOptions) {
    this.#o = o;
  }

  get port(): number {
    return (this.#http?.address() as AddressInfo | null)?.port ?? this.#o.port;
  }

  get clients(): number {
    return this.#wss?.clients.size ?? 0;
  }

  async start(): Promise<void> {
    const { host, port, token, maxPayloadBytes, log, bus } = this.#o;
    const http = createServer((req, res) => {
      const { metrics, metricsToken } = this.#o;
      if (handleOps(req, res, { registry: metrics ?? noMetrics, metrics: !!metrics, token: metricsToken, healthy: () => this.#state === 'running', details: () => ({ clients: this.clients }) })) return;
      res.writeHead(404).end();
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: maxPayloadBytes });
    http.on('upgrade', (req, socket, head) => {
      if (this.#state !== 'running') {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
        return;
      }
      const t = presentedToken(req);
      if (!t || !sameToken(t, token)) {
        log.warn({ remote: req.socket.remoteAddress }, 'websocket client refused: bad or missing token');
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    wss.on('connection', (ws, req) => {
      log.info({ remote: req.socket.remoteAddress, clients: wss.clients.size }, 'websocket client connected');
      ws.send(JSON.stringify({ kind: 'hello', v: 1, server: 'vigil' }));
      for (const st of this.#cameras.values()) ws.send(JSON.stringify(st));
      ws.on('message', (data) => {
        if (data.toString() === 'ping') ws.send(JSON.stringify({ kind: 'pong', v: 1 }));
      });
      ws.on('error', (err) => log.warn({ err: err.message }, 'websocket client error'));
      ws.on('close', (code) => log.info({ code, clients: wss.clients.size }, 'websocket client left'));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => resolve());
    });
    this.#http = http;
    this.#wss = wss;
    this.#state = 'running';
    this.#unsub = bus.subscribe('matches', { group: 'broadcast' }, (events) => {
      for (const e of events) this.send(e);
    });
    // Camera status changes go to clients as they are ({kind: 'camera-status', ...}; URLs already redacted).
    this.#unsubStatus = bus.subscribe('status', { group: 'broadcast' }, (statuses) => {
      for (const st of statuses) {
        if (st.state === 'stopped') this.#cameras.delete(st.camera);
        else this.#cameras.set(st.camera, st);
        this.#sendJson(JSON.stringify(st));
      }
    });
  }

  /** Sends one event to every client (serialised once). */
  send(e: MatchEvent): void {
    if (!this.#wss) return;
    this.#sendJson(JSON.stringify(e));
    this.sent++;
    stageTimes().wsDelay.observe(secondsSince(e.type === 'alert' ? e.alertAt : e.capturedAt));
  }

  #sendJson(json: string): void {
    if (!this.#wss) return;
    for (const c of this.#wss.clients) {
      if (c.readyState !== WebSocket.OPEN) continue;
      if (c.bufferedAmount > this.#o.maxBufferedBytes) {
        this.#o.log.warn({ buffered: c.bufferedAmount }, 'websocket client too slow; disconnected');
        c.close(1013, 'too slow');
        continue;
      }
      c.send(json);
    }
  }

  /** Refuses new clients, closes existing ones (1001), then the listener. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'idle') return;
    this.#state = 'closing';
    this.#unsub?.();
    this.#unsubStatus?.();
    const wss = this.#wss!;
    for (const c of wss.clients) c.close(1001, 'server shutting down');
    // A peer that never completes the close handshake is cut after a second.
    const timer = setTimeout(() => {
      for (const c of wss.clients) c.terminate();
    }, 1000);
    await new Promise<void>((r) => wss.close(() => r()));
    clearTimeout(timer);
    await new Promise<void>((r) => this.#http!.close(() => r()));
    this.#state = 'closed';
  }
}
