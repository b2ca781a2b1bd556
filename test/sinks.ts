import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { CameraStatus, MatchEvent } from '../src/contracts/messages.js';
import { freePort } from './support/net.js';
import { SqliteEventStore } from '../src/store/events.js';

/** The real SQLite event store of the embedded mode, in `dataDir` (retention off). */
export function openEventStore(dataDir: string): SqliteEventStore {
  return SqliteEventStore.open(dataDir, { retentionDays: 30, maxCrops: 10_000, purgeIntervalMs: 0 });
}

/** A match event as the matcher emits it (schema v2); `i` makes the id. */
export function matchEvent(i: number, o: Partial<MatchEvent> = {}): MatchEvent {
  const at = new Date().toISOString();
  return {
    kind: 'match', v: 2, id: `door:${i}:s${i % 3}`, type: 'alert', revision: 0, subject: { id: `s${i % 3}`, name: `Subject ${i % 3}` },
    similarity: 0.7, margin: 0.3, threshold: 0.3527, candidates: [], rule: 'strong', camera: 'door', trackId: `t${i}`,
    firstSeenAt: at, alertAt: at, capturedAt: at, mediaTime: null, seq: i, box: [1, 2, 30, 40], frame: { width: 640, height: 480 },
    detectorScore: 0.9, crop: 'AAAA', related: null, profile: 'research', model: 'w600k_mbf_fp32', ...o,
  };
}

export function cameraStatus(camera: string, state: CameraStatus['state'], at = new Date().toISOString()): CameraStatus {
  return { kind: 'camera-status', v: 1, camera, name: null, state, previous: null, at, url: 'rtsp://127.0.0.1/x', attempt: 0, retryInMs: null, frames: 0, lastFrameAt: null, error: null };
}

/**
 * The receiver side of README "Webhooks", written independently of src/sinks/signature.ts: the
 * signature over "<t>.<raw body>", a 5-minute window for t, and duplicates dropped by (id, revision).
 */
export function receiverAccepts(header: string | undefined, rawBody: string, secret: string, nowS = Math.floor(Date.now() / 1000)): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  if (Math.abs(nowS - Number(m[1])) > 300) return false; // stale: a replay, or a badly wrong clock
  const expected = createHmac('sha256', secret).update(`${m[1]}.${rawBody}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

export interface Receiver {
  readonly url: string;
  /** Accepted deliveries, in order, duplicates included. */
  readonly accepted: { id: string; revision: number; body: Record<string, unknown> }[];
  /** Unique (id, revision) accepted. */
  readonly unique: Set<string>;
  requests: number;
  rejected: number;
  /** Requests still to answer 503 before accepting. */
  failNext: number;
  /** Delay before answering, ms. */
  delayMs: number;
  close(): Promise<void>;
}

/** A real HTTP receiver on a free port that checks signatures and can fail on purpose. */
export async function startReceiver(secret: string): Promise<Receiver> {
  let server: Server;
  const r: Omit<Receiver, 'url' | 'close'> = { accepted: [], unique: new Set(), requests: 0, rejected: 0, failNext: 0, delayMs: 0 };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      const raw = Buffer.concat(chunks).toString('utf8');
      setTimeout(() => {
        if (r.failNext > 0) {
          r.failNext--;
          res.writeHead(503).end();
          return;
        }
        if (!receiverAccepts(req.headers['vigil-signature'] as string | undefined, raw, secret)) {
          r.rejected++;
          res.writeHead(401).end();
          return;
        }
        const body = JSON.parse(raw) as Record<string, unknown>;
        const key = `${String(body.id)}#${String(body.revision)}`;
        r.accepted.push({ id: String(body.id), revision: Number(body.revision), body });
        r.unique.add(key);
        res.writeHead(204).end();
      }, r.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(r, {
    url: `http://127.0.0.1:${port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** Debian's mosquitto on a free port with a temp config; persistence on, so sessions survive a restart. */
export class Mosquitto {
  readonly port: number;
  readonly dir: string;
  #proc: ChildProcess | undefined;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  static async start(dir: string): Promise<Mosquitto> {
    const m = new Mosquitto(dir, await freePort());
    await writeFile(
      join(dir, 'mosquitto.conf'),
      [`listener ${m.port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'log_dest stderr', 'log_type error', ''].join('\n'),
    );
    await m.run();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async run(): Promise<void> {
    const p = spawn('/usr/sbin/mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = p;
    let err = '';
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const end = Date.now() + 10_000;
    // Ready once it accepts TCP connections.
    const { connect } = await import('node:net');
    for (;;) {
      if (p.exitCode !== null) throw new Error(`mosquitto exited: ${err}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.port, '127.0.0.1', () => (s.end(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() > end) throw new Error(`mosquitto did not listen on ${this.port}: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM: mosquitto writes its persistence file (sessions, queued QoS 1 messages) and exits. */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }
}

export async function until(cond: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
