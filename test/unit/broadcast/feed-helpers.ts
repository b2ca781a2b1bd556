import { WebSocket } from 'ws';
import type { SubjectDirectory } from '../../../src/broadcast/api.js';
import { BroadcastServer } from '../../../src/broadcast/server.js';
import { Tokens } from '../../../src/broadcast/token.js';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import { createLogger } from '../../../src/log.js';
import { SqliteEventStore } from '../../../src/store/events.js';
import { tempDir } from '../../helpers.js';

/** A broadcast server on a real store and bus, with one token per role, for the API and feed tests. */
export const TOK = { viewer: 'viewer-token-0123456789', operator: 'operator-token-0123456789', admin: 'admin-token-0123456789' } as const;

export async function startServer(o: { maxBufferedBytes?: number; maxMessagesPerSecond?: number; maxPayloadBytes?: number; dir?: string; tls?: { cert: string; key: string }; subjects?: SubjectDirectory } = {}) {
  const dir = o.dir ?? (await tempDir());
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 64 }, true));
  const store = SqliteEventStore.open(dir, { retentionDays: 30, maxCrops: 1000, purgeIntervalMs: 0 });
  const auth = new Tokens([
    { token: TOK.viewer, role: 'viewer', label: 'wall' },
    { token: TOK.operator, role: 'operator', label: 'desk' },
    { token: TOK.admin, role: 'admin', label: 'admin' },
  ]);
  const server = new BroadcastServer({
    bus, store, auth, host: '127.0.0.1', port: 0, log: createLogger('silent'), console: null, tls: o.tls, subjects: o.subjects,
    maxPayloadBytes: o.maxPayloadBytes ?? 4096, maxBufferedBytes: o.maxBufferedBytes ?? 1 << 20, maxMessagesPerSecond: o.maxMessagesPerSecond ?? 50,
    operatingPoint: () => ({ profile: 'research', threshold: 0.35, fpir: 0.01, identities: 1000 }),
  });
  await server.start();
  const base = `${o.tls ? 'https' : 'http'}://127.0.0.1:${server.port}`;
  const api = async (path: string, token: string | null, init: RequestInit = {}) => {
    const r = await fetch(base + path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> & { events?: Record<string, unknown>[]; next?: string | null } };
  };
  const stop = async () => {
    await server.stop();
    await bus.close();
    await store.close();
  };
  return { dir, bus, store, server, base, api, stop, ws: `ws://127.0.0.1:${server.port}/` };
}

export interface Client {
  readonly ws: WebSocket;
  readonly messages: Record<string, unknown>[];
  readonly closed: Promise<{ code: number; reason: string }>;
}

export function connect(url: string, opts: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    const messages: Record<string, unknown>[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    ws.once('open', () => resolve({ ws, messages, closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

export const until = async (cond: () => boolean, ms = 15_000, what = 'condition'): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
