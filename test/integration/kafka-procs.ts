import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { WebSocket } from 'ws';
import { createKafkaClient, type InMessage, type KafkaClient } from '../../src/bus/kafka-client.js';
import { groupOf, topicOf } from '../../src/bus/kafka-topics.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config, KafkaConfig } from '../../src/config/schema.js';
import type { MatchEvent, TopicName } from '../../src/contracts/messages.js';
import { createLogger } from '../../src/log.js';
import { faces, hamiltonClip, repoRoot } from '../helpers.js';
import { readRecords } from '../kafka.js';
import { dataDirWithModels, vigil } from './cli.js';

/** Helpers for the distributed-mode tests: service processes, a WebSocket monitor, Kafka state. */

export interface Deployment {
  readonly cfg: Config;
  readonly dataDir: string;
  readonly configFile: string;
  readonly kafka: KafkaConfig;
  readonly env: Record<string, string>;
  readonly admin: KafkaClient;
}

/** A data dir with the test models, a config file for the services (file cameras on the clip), and an admin client. */
export async function deployment(brokers: string, prefix: string, cameras: readonly string[], o: { realtime?: boolean } = {}): Promise<Deployment> {
  const dataDir = await dataDirWithModels();
  const raw = {
    dataDir,
    models: { profile: 'research' },
    // Both modes under one explicit configuration: the services must raise the very events of the
    // embedded pipeline, face for face. With the schedule on (the default), the embedded mode holds the
    // watchlist and follows a decided track by its box, sending its last embedding on, which `vigil
    // infer` cannot: the alerts agree (bench throughput scores them) but not every similarity.
    inference: { schedule: { enabled: false } },
    broadcast: { port: 0, token: 'kafka-test-token-0123456789' },
    bus: { kafka: { brokers: brokers.split(','), topicPrefix: prefix, partitions: 3, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, lagIntervalSeconds: 1 } },
    cameras: cameras.map((id) => ({ id, url: hamiltonClip(), fps: 5, realtime: o.realtime ?? false })),
  };
  const configFile = join(dataDir, 'vigil.yaml');
  await writeFile(configFile, stringify(raw));
  const cfg = parseConfig(raw, {});
  const kafka = cfg.bus.kafka!;
  const admin = createKafkaClient({ brokers: kafka.brokers, clientId: 'vigil-test', log: createLogger('silent') });
  // KAFKA_BROKERS from the outer environment must not override the deployment's broker.
  return { cfg, dataDir, configFile, kafka, env: { VIGIL_CONFIG: configFile, KAFKA_BROKERS: '' }, admin };
}

/** `vigil enroll` of Lin-Manuel Miranda: stored locally and published to the watchlist topic. */
export async function enrollLin(d: Deployment): Promise<void> {
  const r = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')], d.env);
  if (r.code !== 0 || !r.stdout.includes(`to ${d.kafka.topicPrefix}watchlist`)) throw new Error(`enroll failed (${r.code}): ${r.stdout}\n${r.stderr}`);
}

/** What identifies an event across runs (ids embed the run's capture times, so they differ between runs). */
export const eventKey = (e: Pick<MatchEvent, 'type' | 'revision' | 'seq' | 'subject'>): string => `${e.type}#${e.revision}@${e.seq}:${e.subject.id}`;

/** The embedded pipeline's events for the clip (`vigil replay --json`, same config and watchlist). */
export async function replayReference(d: Deployment): Promise<MatchEvent[]> {
  const r = await vigil(['replay', hamiltonClip(), '--json', '--no-crop'], d.env, 180_000);
  if (r.code !== 0) throw new Error(`replay failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as MatchEvent);
}

/**
 * Compares a distributed run with the embedded one. Frames cross Kafka as JPEG (quality 90), which
 * moves similarities by a few thousandths; so the alerts must be the same (frame, subject), and an
 * update may differ only where its similarity gain lies within 0.01 of alerts.updateMinGain, the
 * decision boundary JPEG noise can tip. Returns the differences that are not explained so.
 */
export function unlikeEmbedded(reference: readonly MatchEvent[], got: readonly MatchEvent[], updateMinGain: number): string[] {
  const key = (e: MatchEvent): string => `${e.type}@${e.seq}:${e.subject.id}`;
  const gains = (events: readonly MatchEvent[]): Map<string, number> => {
    const out = new Map<string, number>();
    const byAlert = new Map<string, MatchEvent[]>();
    for (const e of events) byAlert.set(e.id, [...(byAlert.get(e.id) ?? []), e]);
    for (const list of byAlert.values()) {
      list.sort((a, b) => a.revision - b.revision);
      list.forEach((e, i) => out.set(key(e), i === 0 ? Infinity : e.similarity - list[i - 1]!.similarity));
    }
    return out;
  };
  const [gr, gg] = [gains(reference), gains(got)];
  const diff = [...[...gr.keys()].filter((k) => !gg.has(k)).map((k) => ({ k, gain: gr.get(k)!, side: 'missing' })), ...[...gg.keys()].filter((k) => !gr.has(k)).map((k) => ({ k, gain: gg.get(k)!, side: 'extra' }))];
  return diff.filter(({ k, gain }) => !k.startsWith('update') || Math.abs(gain - updateMinGain) > 0.01).map(({ k, side, gain }) => `${side} ${k} (gain ${gain.toFixed(4)})`);
}

/** Every service process started here; killed if the test worker exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** One service process (`vigil <name>`), its log lines, and its "service ready" line. */
export class ServiceProc {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  readonly ready: Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;

  constructor(name: string, args: readonly string[], env: Record<string, string>) {
    this.name = name;
    this.proc = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), name, ...args], {
      cwd: repoRoot,
      env: { ...process.env, VIGIL_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buf = '';
    let onReady!: (info: Record<string, unknown>) => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    const take = (d: Buffer): void => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        if (line.includes('"msg":"service ready"')) onReady(JSON.parse(line) as Record<string, unknown>);
      }
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    live.add(this.proc);
    this.exited = new Promise((r) => this.proc.once('exit', (code) => (live.delete(this.proc), r(code))));
    void this.exited.then((code) => onFail(new Error(`vigil ${name} exited (${code}) before it was ready:\n${this.lines.slice(-15).join('\n')}`)));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves once ready; rejects when it exits first or is not ready within 90 s. */
  async waitReady(): Promise<this> {
    let t: NodeJS.Timeout | undefined;
    try {
      await Promise.race([this.ready, new Promise((_r, j) => (t = setTimeout(() => j(new Error(`vigil ${this.name} not ready in 90 s:\n${this.lines.slice(-15).join('\n')}`)), 90_000)))]);
    } finally {
      clearTimeout(t);
    }
    return this;
  }

  static start(name: string, args: readonly string[], env: Record<string, string>): Promise<ServiceProc> {
    return new ServiceProc(name, args, env).waitReady();
  }

  /** SIGKILL: a crash, nothing cleaned up. */
  async crash(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<number | null> {
    if (this.running) this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** A monitoring client on the broadcaster: every match event it receives, in order. */
export class Monitor {
  readonly events: MatchEvent[] = [];
  readonly #ws: WebSocket;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { kind: string };
      if (m.kind === 'match') this.events.push(m as MatchEvent);
    });
  }

  static async connect(port: number, token: string): Promise<Monitor> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=${token}`);
    const m = new Monitor(ws);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    return m;
  }

  of(camera: string): MatchEvent[] {
    return this.events.filter((e) => e.camera === camera);
  }

  close(): void {
    this.#ws.close();
  }
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Messages of a stage group not yet committed on its input topic. */
export async function groupLag(d: Deployment, group: string, topic: TopicName): Promise<number> {
  const [ranges, committed] = await Promise.all([d.admin.topicOffsets(topicOf(d.kafka, topic)), d.admin.committed(groupOf(d.kafka, group, topic), topicOf(d.kafka, topic))]);
  return ranges.reduce((n, r) => n + Number(r.high - (committed.get(r.partition) ?? r.low)), 0);
}

/** Every stage has handled everything on its input topic. */
export async function drained(d: Deployment): Promise<boolean> {
  const lags = await Promise.all([groupLag(d, 'inference', 'frames'), groupLag(d, 'matcher', 'faces'), groupLag(d, 'broadcast', 'matches')]);
  return lags.every((l) => l === 0);
}

/** Every record on a topic (read with a throwaway group). */
export function readTopic(d: Deployment, topic: string, atLeast: number): Promise<InMessage[]> {
  return readRecords(d.admin, topic, atLeast, `${d.kafka.topicPrefix}test-`);
}
