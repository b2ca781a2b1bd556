import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { BroadcastServer } from '../src/broadcast/server.js';
import { Tokens } from '../src/broadcast/token.js';
import { MemoryBus, embeddedPolicies } from '../src/bus/memory.js';
import type { MatchEvent } from '../src/contracts/messages.js';
import { createLogger } from '../src/log.js';
import { SqliteEventStore } from '../src/store/events.js';
import { percentile } from './metrics.js';

/**
 * `vigil bench feed`: the event store and the WebSocket feed under load, on a real store (SQLite in a
 * temp dir), bus and server, with the clients in a separate process:
 * - events/s sustained into the store (append, WAL, one writer);
 * - p50/p95 delivery latency (bus publish -> stored -> received and parsed by the client) to 1, 50 and
 *   200 clients at a fixed event rate;
 * - catch-up time of 10,000 stored events for a client resuming from the oldest cursor.
 */
export interface FeedBenchOptions {
  readonly clients: readonly number[];
  readonly rate: number;
  readonly seconds: number;
  readonly storeEvents: number;
  readonly catchup: number;
  readonly cropBytes: number;
  readonly progress: (line: string) => void;
}

export interface FeedBenchResult {
  readonly storeEventsPerSecond: number;
  /** serverCpu / clientCpu: share of one core the server process and the clients' process used during the run. */
  readonly latency: { clients: number; events: number; received: number; p50: number; p95: number; max: number; serverCpu: number; clientCpu: number }[];
  readonly catchup: { events: number; ms: number; eventsPerSecond: number };
  readonly machine: string;
}

const TOKEN = 'bench-feed-token-0123456789';

function event(i: number, crop: string, at: number): MatchEvent {
  const ts = new Date(at).toISOString();
  return {
    kind: 'match', v: 2, id: `bench-${i}`, type: 'alert', revision: 0, subject: { id: 's1', name: 'Subject One' }, similarity: 0.61, margin: 0.2, threshold: 0.35,
    candidates: [{ subject: { id: 's1', name: 'Subject One' }, similarity: 0.61 }, { subject: { id: 's2', name: 'Subject Two' }, similarity: 0.41 }], rule: 'strong',
    camera: `cam${i % 8}`, trackId: `t${i}`, firstSeenAt: ts, alertAt: ts, capturedAt: ts, mediaTime: at, seq: i, box: [100, 80, 180, 180], frame: { width: 1280, height: 720 },
    detectorScore: 0.9, crop, related: null, profile: 'research', model: 'w600k_mbf',
  };
}

const pct = (sorted: readonly number[], p: number): number => percentile(sorted, p / 100) ?? NaN;
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Clients {
  readonly #p: ChildProcess;
  constructor() {
    this.#p = fork(join(import.meta.dirname, 'feed-clients.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }
  ask<T>(cmd: Record<string, unknown>, reply: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const on = (m: unknown): void => {
        const msg = m as { op: string; message?: string };
        if (msg.op === 'error') {
          this.#p.off('message', on);
          reject(new Error(msg.message));
        } else if (msg.op === reply) {
          this.#p.off('message', on);
          resolve(msg as T);
        }
      };
      this.#p.on('message', on);
      this.#p.send(cmd);
    });
  }
  kill(): void {
    this.#p.kill();
  }
}

export async function benchFeed(o: FeedBenchOptions): Promise<FeedBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-feed-'));
  const crop = Buffer.alloc(Math.round((o.cropBytes * 3) / 4), 0x5a).toString('base64');
  const log = createLogger('warn');
  const store = SqliteEventStore.open(dir, { retentionDays: 30, maxCrops: 1_000_000, purgeIntervalMs: 0 });
  const bus = new MemoryBus(embeddedPolicies({ frames: 8, faces: 8, matches: 1024 }, true));
  const server = new BroadcastServer({ bus, store, token: TOKEN, host: '127.0.0.1', port: 0, maxPayloadBytes: 4096, maxBufferedBytes: 64 * 1024 * 1024, log, console: null });
  const clients = new Clients();
  try {
    // 1. Sustained appends into the store.
    const t0 = now();
    for (let i = 0; i < o.storeEvents; i++) await store.append(event(i, crop, Date.now()));
    const storeEventsPerSecond = o.storeEvents / ((now() - t0) / 1000);
    o.progress(`store: ${o.storeEvents} events in ${((now() - t0) / 1000).toFixed(2)} s = ${storeEventsPerSecond.toFixed(0)} events/s`);

    await server.start();
    const url = `ws://127.0.0.1:${server.port}/?token=${TOKEN}`;
    // 2. Delivery latency at a fixed rate, for each client count.
    const latency: FeedBenchResult['latency'] = [];
    let next = o.storeEvents;
    for (const n of o.clients) {
      await clients.ask({ op: 'open', url, n }, 'opened');
      await sleep(300);
      const { cpuMs: clientCpu0 } = await clients.ask<{ cpuMs: number }>({ op: 'report' }, 'latencies');
      const total = Math.round(o.rate * o.seconds);
      const cpu0 = process.cpuUsage();
      const start = now();
      for (let k = 0; k < total; k++) {
        const due = start + (k * 1000) / o.rate;
        const wait = due - now();
        if (wait > 1) await sleep(wait);
        await bus.publish('matches', event(next++, crop, now()));
      }
      await sleep(500);
      const wall = now() - start;
      const cpu = process.cpuUsage(cpu0);
      const { ms, cpuMs } = await clients.ask<{ ms: number[]; cpuMs: number }>({ op: 'report' }, 'latencies');
      const sorted = [...ms].sort((a, b) => a - b);
      const serverCpu = (cpu.user + cpu.system) / 1000 / wall;
      const clientCpu = (cpuMs - clientCpu0) / wall;
      const r = { clients: n, events: total, received: ms.length, p50: pct(sorted, 50), p95: pct(sorted, 95), max: sorted[sorted.length - 1] ?? NaN, serverCpu, clientCpu };
      latency.push(r);
      o.progress(`${n} clients @ ${o.rate} events/s for ${o.seconds} s: received ${r.received}/${total * n}, p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms, max ${r.max.toFixed(1)} ms; CPU server ${(serverCpu * 100).toFixed(0)}%, clients ${(clientCpu * 100).toFixed(0)}% of a core`);
      await clients.ask({ op: 'close' }, 'closed');
      await sleep(200);
    }
    // 3. Catch-up of the newest `catchup` stored events from a cursor.
    const head = await store.read(null, 1);
    const total = (await store.readBackward(null, o.catchup + 1)).events;
    const from = total.length > o.catchup ? total[total.length - 1]!.cursor : head.events[0]!.cursor;
    const count = Math.min(o.catchup, total.length - 1);
    const { ms } = await clients.ask<{ ms: number }>({ op: 'catchup', url: `${url}&after=${encodeURIComponent(from)}`, count }, 'caught');
    o.progress(`catch-up: ${count} stored events in ${ms.toFixed(0)} ms`);
    return {
      storeEventsPerSecond,
      latency,
      catchup: { events: count, ms, eventsPerSecond: count / (ms / 1000) },
      machine: `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} logical cores, load average ${loadavg()[0]!.toFixed(1)} at the end`,
    };
  } finally {
    clients.kill();
    await server.stop();
    await bus.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatFeedBench(r: FeedBenchResult, o: FeedBenchOptions): string[] {
  return [
    `event store: ${r.storeEventsPerSecond.toFixed(0)} events/s sustained (SQLite WAL, ${o.cropBytes}-byte crops)`,
    `delivery latency at ${o.rate} events/s (publish -> stored -> parsed by the client):`,
    '| clients | p50 ms | p95 ms | max ms | received | server CPU | clients CPU |',
    '|---|---|---|---|---|---|---|',
    ...r.latency.map((l) => `| ${l.clients} | ${l.p50.toFixed(1)} | ${l.p95.toFixed(1)} | ${l.max.toFixed(1)} | ${l.received}/${l.events * l.clients} | ${(l.serverCpu * 100).toFixed(0)}% | ${(l.clientCpu * 100).toFixed(0)}% |`),
    `catch-up: ${r.catchup.events} stored events in ${r.catchup.ms.toFixed(0)} ms (${r.catchup.eventsPerSecond.toFixed(0)} events/s)`,
    `machine: ${r.machine}`,
  ];
}
