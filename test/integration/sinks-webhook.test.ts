import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { sinkMetrics } from '../../src/metrics.js';
import { SinkService } from '../../src/sinks/service.js';
import { signBody } from '../../src/sinks/signature.js';
import type { EventStore } from '../../src/store/types.js';
import { repoRoot, tempDir } from '../helpers.js';
import { cameraStatus, matchEvent, openEventStore, startReceiver, until, type Receiver } from '../sinks.js';

const SECRET = 'webhook-secret-0123456789';
const log = createLogger('silent');

function sinkConfig(dataDir: string, sinks: ConfigInput['sinks']) {
  return parseConfig({ dataDir, sinks, broadcast: { publicUrl: 'https://vigil.example' } }, { VIGIL_HOOK_SECRET: SECRET });
}

describe('webhook sink (real HTTP receiver, real SQLite event store)', () => {
  let dir: string;
  let store: EventStore;
  let receiver: Receiver;

  beforeAll(async () => {
    dir = await tempDir('vigil-sinks-');
    store = openEventStore(dir);
    receiver = await startReceiver(SECRET);
  });
  afterAll(async () => {
    await store?.close();
    await receiver?.close();
  });

  it('delivers every alert at least once through failures, signed, with provenance and a console link', async () => {
    const cfg = sinkConfig(dir, [
      { type: 'webhook', id: 'hook', url: receiver.url, secret: '{VIGIL_HOOK_SECRET}', retry: { initialBackoffMs: 10, maxBackoffMs: 50, maxAttempts: 20 } },
    ]);
    const metrics = sinkMetrics(new Registry());
    const svc = new SinkService({ cfg, store, log, metrics, pollMs: 20 });
    svc.start();
    receiver.failNext = 5; // the first five deliveries fail (503)
    for (let i = 0; i < 30; i++) await store.append(matchEvent(i));
    await store.append(cameraStatus('door', 'live')); // not in a webhook's default types
    await until(() => receiver.unique.size === 30, 20_000, 'all 30 alerts');
    await svc.stop();
    expect(receiver.rejected).toBe(0);
    expect([...receiver.unique].sort()).toEqual(Array.from({ length: 30 }, (_, i) => `door:${i}:s${i % 3}#0`).sort());
    // Order is kept: a retried event holds back the ones after it.
    expect(receiver.accepted.map((a) => a.id)).toEqual(Array.from({ length: 30 }, (_, i) => `door:${i}:s${i % 3}`));
    const first = receiver.accepted[0]!.body;
    expect(first.provenance).toEqual({ model: 'w600k_mbf_fp32', profile: 'research', threshold: 0.3527, fpir: 0.01, rule: 'strong', margin: 0.3 });
    expect(first.url).toBe('https://vigil.example/#/events/door%3A0%3As0');
    expect(first.crop).toBeUndefined();
    const counts = await metrics.deliveries.get();
    const by = (o: string) => counts.values.find((v) => v.labels.outcome === o)?.value ?? 0;
    expect([by('ok'), by('retry'), by('dead')]).toEqual([30, 5, 0]);
  });

  it('resumes from its durable cursor after a restart: nothing missed, nothing resent', async () => {
    const cfg = sinkConfig(dir, [{ type: 'webhook', id: 'hook', url: receiver.url, secret: SECRET, retry: { initialBackoffMs: 10, maxBackoffMs: 50 } }]);
    const before = receiver.accepted.length;
    for (let i = 30; i < 40; i++) await store.append(matchEvent(i));
    const svc = new SinkService({ cfg, store, log, metrics: sinkMetrics(new Registry()), pollMs: 20 });
    svc.start();
    await until(() => receiver.unique.size === 40, 10_000, '10 new alerts');
    await svc.stop();
    expect(receiver.accepted.length - before).toBe(10);
  });

  it('the receiver accepts nothing with a bad or stale signature', async () => {
    const body = JSON.stringify({ id: 'forged', revision: 0 });
    const now = Math.floor(Date.now() / 1000);
    const post = (sig: string, b = body) => fetch(receiver.url, { method: 'POST', headers: { 'vigil-signature': sig, 'content-type': 'application/json' }, body: b });
    const before = receiver.accepted.length;
    expect((await post(signBody('another-secret-0123456789', body, now))).status).toBe(401);
    expect((await post(signBody(SECRET, body, now - 301))).status).toBe(401); // a replay 5 minutes later
    expect((await post(signBody(SECRET, body, now), body.replace('forged', 'forge2'))).status).toBe(401); // body changed
    expect((await post('t=abc,v1=00')).status).toBe(401);
    expect((await post(signBody(SECRET, body, now))).status).toBe(204);
    expect(receiver.accepted.slice(before).map((a) => a.id)).toEqual(['forged']);
  });

  it('a replaced event store (events.db deleted and started afresh) is delivered from its start, crops included when asked', async () => {
    const d3 = await tempDir('vigil-sinks-reset-');
    const cfg = sinkConfig(d3, [{ type: 'webhook', id: 'hook', url: receiver.url, secret: SECRET, includeCrop: true, retry: { initialBackoffMs: 10, maxBackoffMs: 50 } }]);
    const before = receiver.unique.size;
    let s3 = openEventStore(d3);
    let svc = new SinkService({ cfg, store: s3, log, metrics: sinkMetrics(new Registry()), pollMs: 20 });
    await svc.start();
    await s3.append(matchEvent(200));
    await until(() => receiver.unique.size === before + 1, 10_000, 'the first store\'s alert');
    await svc.stop();
    await s3.close();
    for (const f of ['events.db', 'events.db-wal', 'events.db-shm']) await rm(join(d3, f), { force: true });
    s3 = openEventStore(d3);
    for (let i = 201; i < 204; i++) await s3.append(matchEvent(i));
    svc = new SinkService({ cfg, store: s3, log, metrics: sinkMetrics(new Registry()), pollMs: 20 });
    await svc.start();
    await until(() => receiver.unique.size === before + 4, 10_000, 'the new store\'s 3 alerts');
    await svc.stop();
    await s3.close();
    expect(receiver.accepted.at(-1)!.body.crop).toBe('AAAA');
  });

  it('a sink that keeps failing moves events to the dead letters (metrics, GET /api/sinks) and never holds the store up', async () => {
    const d2 = await tempDir('vigil-sinks-dead-');
    const s2 = openEventStore(d2);
    // Signed with the wrong secret: the receiver refuses every delivery.
    const cfg = sinkConfig(d2, [{ type: 'webhook', id: 'bad', url: receiver.url, secret: 'not-the-receivers-secret', retry: { initialBackoffMs: 5, maxBackoffMs: 10, maxAttempts: 3 } }]);
    const metrics = sinkMetrics(new Registry());
    const svc = new SinkService({ cfg, store: s2, log, metrics, pollMs: 20 });
    svc.start();
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) await s2.append(matchEvent(100 + i));
    expect(Date.now() - t0).toBeLessThan(2000); // appends never wait for a sink
    await until(async () => (await metrics.deadLetters.get()).values[0]?.value === 5, 10_000, '5 dead letters');
    const route = svc.routes.find((r) => r.path === '/api/sinks')!;
    expect(route.role).toBe('admin');
    const res = (await route.handle({ method: 'GET', params: {}, query: new URLSearchParams(), body: undefined, actor: { role: 'admin', name: 'admin:test' } })) as {
      body: { sinks: { id: string; deadLetters: number; lastError: string; recentDeadLetters: { eventId: string; attempts: number; lastError: string }[] }[] };
    };
    const s = res.body.sinks[0]!;
    expect(s.id).toBe('bad');
    expect(s.deadLetters).toBe(5);
    expect(s.recentDeadLetters[0]).toMatchObject({ eventId: 'door:104:s2', attempts: 3, lastError: expect.stringContaining('HTTP 401') });
    expect(JSON.stringify(res.body)).not.toContain('not-the-receivers-secret');
    await svc.stop();
    await s2.close();
  });
});

describe('dead letters sent again (POST /api/sinks/:id/dead-letters/retry)', () => {
  it('a receiver that was down gets the dead-lettered alerts once an admin retries them', async () => {
    const d = await tempDir('vigil-sinks-requeue-');
    const store = openEventStore(d);
    const rx = await startReceiver(SECRET);
    rx.failNext = 1_000; // down
    const cfg = sinkConfig(d, [{ type: 'webhook', id: 'hook', url: rx.url, secret: SECRET, retry: { initialBackoffMs: 5, maxBackoffMs: 10, maxAttempts: 2 } }]);
    const metrics = sinkMetrics(new Registry());
    const svc = new SinkService({ cfg, store, log, metrics, pollMs: 20 });
    await svc.start();
    for (let i = 0; i < 3; i++) await store.append(matchEvent(300 + i));
    await until(async () => (await metrics.deadLetters.get()).values[0]?.value === 3, 10_000, '3 dead letters');
    rx.failNext = 0; // back
    const retry = svc.routes.find((r) => r.method === 'POST')!;
    expect(retry.path).toBe('/api/sinks/:id/dead-letters/retry');
    const res = await retry.handle({ method: 'POST', params: { id: 'hook' }, query: new URLSearchParams(), body: undefined, actor: { role: 'admin', name: 'admin:test' } });
    expect(res).toMatchObject({ status: 202, body: { requeued: 3 } });
    await until(() => rx.unique.size === 3, 10_000, 'the 3 requeued alerts');
    await until(async () => (await metrics.deadLetters.get()).values[0]?.value === 0, 5000, 'no dead letters left');
    expect(svc.dispatchers[0]!.status().deadLetters).toBe(0);
    await svc.stop();
    await store.close();
    await rx.close();
  });
});

describe('two processes configured with the same sink (`vigil start` and `vigil sinks` on one data dir)', () => {
  it('one delivers, the other stands by and takes over when the first stops: nothing sent twice', async () => {
    const dataDir = await tempDir('vigil-sinks-owner-');
    const store = openEventStore(dataDir);
    const rx = await startReceiver(SECRET);
    const sinks = [{ type: 'webhook' as const, id: 'hook', url: rx.url, secret: SECRET }];
    const a = new SinkService({ cfg: sinkConfig(dataDir, sinks), store, log, metrics: sinkMetrics(new Registry()), pollMs: 20 });
    await a.start();
    const configFile = join(dataDir, 'vigil.yaml');
    await writeFile(configFile, stringify({ dataDir, sinks }));
    let stderr = '';
    const b = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', configFile, 'sinks'], { cwd: repoRoot, env: { ...process.env, VIGIL_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
    b.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await until(() => stderr.includes('"msg":"sinks ready"'), 60_000, 'vigil sinks to start');
      expect(stderr).toContain(`"owner":"${hostname()}:${process.pid}"`); // standing by for this process
      for (let i = 0; i < 5; i++) await store.append(matchEvent(400 + i));
      await until(() => rx.unique.size === 5, 10_000, '5 alerts from the owner');
      await a.stop(); // releases the sink
      await until(() => stderr.includes('sink taken over'), 15_000, 'the standby to take over');
      for (let i = 5; i < 10; i++) await store.append(matchEvent(400 + i));
      await until(() => rx.unique.size === 10, 15_000, '5 alerts from the new owner');
      expect(rx.accepted.length).toBe(10); // nothing delivered by both
    } finally {
      b.kill('SIGKILL');
      await store.close();
      await rx.close();
    }
  });
});

describe('webhook sink killed with SIGKILL in the middle of deliveries', () => {
  let child: ChildProcess | undefined;
  afterAll(() => void child?.kill('SIGKILL'));

  it('delivers every alert after the restart; duplicates are dropped by (event id, revision)', async () => {
    const dataDir = await tempDir('vigil-sinks-kill-');
    const receiver = await startReceiver(SECRET);
    receiver.delayMs = 15;
    const configFile = join(dataDir, 'vigil.yaml');
    await writeFile(configFile, stringify({ dataDir, sinks: [{ type: 'webhook', id: 'hook', url: receiver.url, secret: '{VIGIL_HOOK_SECRET}', retry: { initialBackoffMs: 10, maxBackoffMs: 100 } }] }));
    const store = openEventStore(dataDir);
    await store.append(cameraStatus('door', 'connecting')); // the sink registers after this: it starts from here
    let ready = false;
    let stderr = '';
    const start = (): ChildProcess => {
      ready = false;
      const p = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', configFile, 'sinks'], {
        cwd: repoRoot,
        env: { ...process.env, VIGIL_HOOK_SECRET: SECRET, VIGIL_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      p.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes('"msg":"sinks ready"')) ready = true;
      });
      return p;
    };
    child = start();
    await until(() => ready, 60_000, 'the sinks process to start');
    const total = 200;
    for (let i = 0; i < total; i++) await store.append(matchEvent(i, i % 10 === 9 ? { type: 'update', revision: 1, id: `door:${i - 1}:s${(i - 1) % 3}` } : {}));
    await until(() => receiver.unique.size >= 60, 60_000, '60 deliveries before the kill');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const atKill = receiver.unique.size;
    expect(atKill).toBeLessThan(total); // really killed in the middle
    child = start();
    await until(() => receiver.unique.size === total, 60_000, 'every alert after the restart');
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    child = undefined;
    expect(stderr).not.toContain(SECRET);
    const dupes = receiver.accepted.length - receiver.unique.size;
    process.stderr.write(`kill -9 test: ${atKill} of ${total} delivered at the kill, ${total} after restart, ${dupes} duplicate(s) dropped by (id, revision)\n`);
    expect(receiver.rejected).toBe(0);
    expect(dupes).toBeLessThanOrEqual(1); // at most the delivery in flight at the kill
    await store.close();
    await receiver.close();
  });
});
