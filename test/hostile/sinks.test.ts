import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { sinkMetrics } from '../../src/metrics.js';
import { SinkService } from '../../src/sinks/service.js';
import { tempDir } from '../helpers.js';
import { matchEvent, openEventStore, startReceiver, until } from '../sinks.js';

/**
 * Hostile or broken webhook receivers (issue 15: a failing sink never blocks the pipeline, and
 * nothing is lost): each probe is a real HTTP server misbehaving in one way.
 */
const SECRET = 'webhook-secret-0123456789';
const log = createLogger('silent');
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

async function sinkTo(url: string, retry: Record<string, number>, timeoutMs = 10_000) {
  const dir = await tempDir('vigil-hostile-sink-');
  const store = openEventStore(dir);
  const metrics = sinkMetrics(new Registry());
  const cfg = parseConfig({ dataDir: dir, sinks: [{ type: 'webhook', id: 'hook', url, secret: SECRET, timeoutMs, retry }] }, {});
  const svc = new SinkService({ cfg, store, log, metrics, pollMs: 20 });
  await svc.start();
  closers.push(() => store.close(), () => svc.stop());
  const count = async (outcome: string) => (await metrics.deliveries.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  return { store, svc, count };
}

describe('hostile webhook receivers', () => {
  it('a receiver that accepts the connection and never answers: each try times out, the events go to the dead letters, appends never wait', async () => {
    const url = await serve(() => {}); // reads nothing, answers nothing
    const { store, svc, count } = await sinkTo(url, { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 }, 200);
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await store.append(matchEvent(i));
    expect(Date.now() - t0).toBeLessThan(1000);
    await until(async () => (await count('dead')) === 3, 10_000, '3 dead letters');
    expect(svc.dispatchers[0]!.status().lastError).toMatch(/no answer within timeoutMs/);
  });

  it('a receiver that redirects elsewhere: the redirect is not followed (a signed alert goes only where configured)', async () => {
    const elsewhere = await startReceiver(SECRET);
    closers.push(() => elsewhere.close());
    const url = await serve((_req, res) => res.writeHead(307, { location: elsewhere.url }).end());
    const { store, svc, count } = await sinkTo(url, { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 });
    await store.append(matchEvent(1));
    await until(async () => (await count('dead')) === 1, 10_000, 'a dead letter');
    expect(elsewhere.requests).toBe(0);
    expect(svc.dispatchers[0]!.status().lastError).toMatch(/HTTP 307/);
  });

  it('a receiver answering 200 with an endless body: the delivery counts at once and the body is never buffered', async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const { store, count } = await sinkTo(url, { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 });
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 5; i++) await store.append(matchEvent(i));
    await until(async () => (await count('ok')) === 5, 10_000, '5 deliveries');
    expect(process.memoryUsage().rss - rss0).toBeLessThan(200 * 1024 * 1024);
  });
});
