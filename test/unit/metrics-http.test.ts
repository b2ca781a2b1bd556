import { Counter, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { serveOps } from '../../src/metrics-http.js';
import { BroadcastServer } from '../../src/broadcast/server.js';
import { MemoryBus, embeddedPolicies } from '../../src/bus/memory.js';
import { createLogger } from '../../src/log.js';
import { tempDir } from '../helpers.js';
import { openEventStore } from '../sinks.js';

const TOKEN = 'metrics-token-0123456789';

describe('/metrics and /healthz (issue 12 item 8)', () => {
  const registry = new Registry();
  new Counter({ name: 'vigil_test_total', help: 'x', registers: [registry] }).inc();
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('with metrics.token: /metrics needs the bearer token; /healthz answers everyone but details only with the token', async () => {
    const ops = await serveOps('127.0.0.1', 0, { registry, token: TOKEN, healthy: () => true, details: () => ({ clients: 3 }) });
    closers.push(() => ops.close());
    const base = `http://127.0.0.1:${ops.port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${base}/metrics?token=${TOKEN}`)).status).toBe(401); // never in a URL (logs, proxies)
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('vigil_test_total 1');
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    expect(await (await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).toEqual({ ok: true, clients: 3 });
  });

  it('the broadcast port serves no /metrics when metrics.port moves it elsewhere, and /healthz says only ok', async () => {
    const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 8 }, true));
    const store = openEventStore(await tempDir());
    closers.push(() => store.close());
    const s = new BroadcastServer({ bus, store, host: '127.0.0.1', port: 0, token: 'ws-token-0123456789abc', maxPayloadBytes: 1024, maxBufferedBytes: 1 << 20, log: createLogger('silent'), metricsToken: TOKEN });
    await s.start();
    closers.push(() => s.stop());
    expect((await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect(await (await fetch(`http://127.0.0.1:${s.port}/healthz`)).json()).toEqual({ ok: true });
  });
});
