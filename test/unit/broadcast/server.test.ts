import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BroadcastServer } from '../../../src/broadcast/server.js';
import { ensureToken } from '../../../src/broadcast/token.js';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { MatchEvent } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';
import { createLogger } from '../../../src/log.js';
import { SqliteEventStore } from '../../../src/store/events.js';
import { tempDir } from '../../helpers.js';
import { sighting } from '../store/fixtures.js';
import { connect as feed, startServer, TOK } from './feed-helpers.js';

const TOKEN = 'test-token-0123456789';
const ev = (id: string): MatchEvent => ({
  kind: 'match', v: 2, id, type: 'alert', revision: 0, subject: { id: 's', name: 'S' }, similarity: 0.7, margin: 0.7, threshold: 0.4, candidates: [], rule: 'strong',
  camera: 'c', trackId: 't', firstSeenAt: '2026-01-01T00:00:00.000Z', alertAt: '2026-01-01T00:00:00.000Z', capturedAt: '2026-01-01T00:00:00.000Z',
  mediaTime: null, seq: 1, box: [0, 0, 1, 1], frame: { width: 2, height: 2 }, detectorScore: 1, crop: '', related: null, profile: 'p', model: 'm',
});

async function server() {
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, true));
  const store = SqliteEventStore.open(await tempDir(), { retentionDays: 30, maxCrops: 100, purgeIntervalMs: 0 });
  const s = new BroadcastServer({ bus, store, host: '127.0.0.1', port: 0, token: TOKEN, maxPayloadBytes: 1024, maxBufferedBytes: 1 << 20, log: createLogger('silent') });
  await s.start();
  return { bus, s, url: `ws://127.0.0.1:${s.port}/` };
}

function connect(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; messages: unknown[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const messages: unknown[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('BroadcastServer', () => {
  it('on a port another process holds, fails with VIGIL_ERR_BROADCAST_PORT_IN_USE naming the port, and can start again once it is free', async () => {
    const { s: first } = await server();
    const port = first.port;
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, true));
    const store = SqliteEventStore.open(await tempDir(), { retentionDays: 30, maxCrops: 100, purgeIntervalMs: 0 });
    const second = new BroadcastServer({ bus, store, host: '127.0.0.1', port, token: TOKEN, maxPayloadBytes: 1024, maxBufferedBytes: 1 << 20, log: createLogger('silent') });
    const err = await second.start().then(() => undefined, (e: unknown) => e);
    expect(isVigilError(err) && err.code).toBe('VIGIL_ERR_BROADCAST_PORT_IN_USE');
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    await first.stop();
    await second.start(); // nothing half-started was left behind
    expect(second.port).toBe(port);
    await second.stop();
    await store.close();
  });

  it('refuses clients without the right token (401) and serves those with it, by query or header', async () => {
    const { s, url } = await server();
    await expect(connect(url)).rejects.toThrow('HTTP 401');
    await expect(connect(`${url}?token=wrong-token-000000000`)).rejects.toThrow('HTTP 401');
    const a = await connect(`${url}?token=${TOKEN}`);
    const b = await connect(url, { authorization: `Bearer ${TOKEN}` });
    await until(() => a.messages.length > 0 && b.messages.length > 0);
    expect(a.messages[0]).toMatchObject({ kind: 'hello' });
    a.ws.close();
    b.ws.close();
    await s.stop();
  });

  it('pushes match events from the bus to every client, in order', async () => {
    const { bus, s, url } = await server();
    const a = await connect(`${url}?token=${TOKEN}`);
    for (const id of ['e1', 'e2', 'e3']) await bus.publish('matches', ev(id));
    await until(() => a.messages.length === 4);
    expect(a.messages.slice(1).map((m) => (m as MatchEvent).id)).toEqual(['e1', 'e2', 'e3']);
    a.ws.close();
    await s.stop();
  });

  it('stores sightings from the bus and sends them on the feed (live and catch-up, crop only when asked) and GET /api/events?type=sighting', async () => {
    const srv = await startServer();
    const live = await feed(`${srv.ws}?token=${TOK.viewer}&crops=false`);
    await until(() => live.messages.length === 1);
    await srv.bus.publish('matches', ev('a1'));
    await srv.bus.publish('sightings', sighting('g1', 'a1'));
    await until(() => live.messages.length === 3);
    expect(live.messages[2]).toMatchObject({ kind: 'sighting', id: 'g1', alertId: 'a1', faces: 3, lastSeenAt: '2026-01-01T00:00:02.000Z' });
    expect('crop' in live.messages[2]!).toBe(false);
    // Catch-up from the alert's cursor: the stored sighting, with its crop (crops default to true on the feed).
    const back = await feed(`${srv.ws}?token=${TOK.viewer}&types=sighting&after=${String(live.messages[1]!['cursor'])}`);
    await until(() => back.messages.length === 2);
    expect(back.messages[1]).toMatchObject({ kind: 'sighting', id: 'g1', crop: sighting('g1', 'a1').crop });
    const list = await srv.api('/api/events?type=sighting', TOK.viewer);
    expect(list.body.events!.map((e) => [e['kind'], e['alertId'], 'crop' in e])).toEqual([['sighting', 'a1', false]]);
    live.ws.close();
    back.ws.close();
    await srv.stop();
  });

  it('closes a client that sends an oversized frame (1009) and keeps serving the others', async () => {
    const { bus, s, url } = await server();
    const bad = await connect(`${url}?token=${TOKEN}`);
    const good = await connect(`${url}?token=${TOKEN}`);
    const closed = new Promise<number>((r) => bad.ws.once('close', (code) => r(code)));
    bad.ws.send('x'.repeat(4096));
    expect(await closed).toBe(1009);
    await bus.publish('matches', ev('after'));
    await until(() => good.messages.some((m) => (m as MatchEvent).id === 'after'));
    good.ws.close();
    await s.stop();
  });
});

describe('ensureToken', () => {
  it('generates a token once, keeps it, and prefers a configured one', async () => {
    const dir = await tempDir();
    const first = await ensureToken(dir, undefined);
    expect(first.generated).toBe(true);
    expect(first.token.length).toBeGreaterThanOrEqual(16);
    const second = await ensureToken(dir, undefined);
    expect(second).toMatchObject({ token: first.token, generated: false });
    expect((await ensureToken(dir, 'configured-token-123')).token).toBe('configured-token-123');
  });
});

describe('ensureTokens', () => {
  it('generates one token per role at first start into a 0600 file, keeps them, and resolves each to its role', async () => {
    const { statSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { ensureTokens } = await import('../../../src/broadcast/token.js');
    const dir = await tempDir();
    const first = await ensureTokens(dir, {});
    expect(first.generated.sort()).toEqual(['admin', 'operator', 'viewer']);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const again = await ensureTokens(dir, {});
    expect(again.generated).toEqual([]);
    for (const r of ['viewer', 'operator', 'admin'] as const) {
      expect(again.tokens.of(r)).toBe(first.tokens.of(r));
      expect(again.tokens.actorOf(first.tokens.of(r))).toEqual({ role: r, name: `${r}:${r}` });
    }
    expect(again.tokens.actorOf('wrong-token-wrong-token')).toBeUndefined();
    expect(again.tokens.actorOf(undefined)).toBeUndefined();
    // broadcast.token stays the admin token; a list names each holder.
    const cfg = await ensureTokens(await tempDir(), { token: 'configured-admin-token', tokens: [{ token: 'night-desk-token-000', role: 'operator', label: 'night-desk' }] });
    expect(cfg.tokens.actorOf('configured-admin-token')).toEqual({ role: 'admin', name: 'admin:admin' });
    expect(cfg.tokens.actorOf('night-desk-token-000')).toEqual({ role: 'operator', name: 'operator:night-desk' });
    expect(cfg.generated).toEqual(['viewer']);
    // The single token file of earlier releases is still the admin token.
    const old = await tempDir();
    writeFileSync(join(old, 'broadcast-token'), 'legacy-token-0123456789\n');
    expect((await ensureTokens(old, {})).tokens.of('admin')).toBe('legacy-token-0123456789');
  });
});
