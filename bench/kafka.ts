import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { KafkaBus } from '../src/bus/kafka.js';
import { cameraSchema, ingestSchema, type CameraConfig, type Config } from '../src/config/schema.js';
import type { Bus } from '../src/contracts/bus.js';
import type { TopicName, Topics } from '../src/contracts/messages.js';
import { Camera } from '../src/ingest/camera.js';
import { ingestMetrics } from '../src/metrics.js';
import type { Logger } from '../src/log.js';
import { WatchlistStore } from '../src/matcher/watchlist.js';
import { Pipeline } from '../src/pipeline.js';
import { openRuntime } from '../src/runtime.js';
import { kafkaConfigOf } from '../src/services/kafka-config.js';
import { publishWatchlist } from '../src/services/watchlist.js';
import { percentile } from './metrics.js';

/**
 * `vigil bench kafka`: the same video through the embedded pipeline (one process, in-memory bus)
 * and through the distributed mode (`vigil infer` and `vigil match` as separate processes on
 * Kafka), measuring throughput (the file as fast as possible) and latency (the file paced in real
 * time, as a live camera): frame -> faces out of inference, and frame -> alert at a consumer of the
 * matches topic. A frame's clock starts when ingest hands it to the bus.
 */

export interface LatencyStats {
  readonly n: number;
  readonly p50: number | null;
  readonly p95: number | null;
}

export interface ModeResult {
  readonly mode: 'embedded' | 'kafka';
  readonly frames: number;
  /** Frames through inference per second, the file replayed as fast as possible. */
  readonly framesPerSecond: number;
  /** Real-time passes: ms from a frame's publication to its faces message, and to an alert it raised. */
  readonly frameToFaces: LatencyStats;
  readonly frameToAlert: LatencyStats;
  readonly events: number;
  /** The match threshold the run used (the embedded runtime's, or the matcher service's). */
  readonly threshold: number;
}

export interface BusBenchOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly video: string;
  readonly profile?: string;
  readonly fps: number;
  /** Real-time passes per mode (each plays the whole video). */
  readonly runs: number;
  readonly progress: (line: string) => void;
}

function stats(xs: readonly number[]): LatencyStats {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 0.5), p95: percentile(s, 0.95) };
}

/** Per pass: when each frame entered the bus, and the faces and alerts seen since. */
class Clock {
  readonly sent = new Map<string, number>();
  readonly toFaces: number[] = [];
  readonly toAlert: number[] = [];
  firstSent = Infinity;
  lastFaces = 0;
  faces = 0;
  events = 0;

  /** A bus whose frame publications are timed (what ingest publishes to). */
  timed(bus: Bus): Bus {
    return {
      subscribe: (topic, opts, handler) => bus.subscribe(topic, opts, handler),
      idle: () => bus.idle(),
      stats: () => bus.stats(),
      close: () => bus.close(),
      publish: <T extends TopicName>(topic: T, msg: Topics[T]) => {
        if (topic === 'frames') {
          const f = msg as Topics['frames'];
          const now = Date.now();
          this.sent.set(`${f.camera}\0${f.seq}`, now);
          this.firstSent = Math.min(this.firstSent, now);
        }
        return bus.publish(topic, msg);
      },
    };
  }

  onFaces(ms: readonly Topics['faces'][]): void {
    const now = Date.now();
    for (const m of ms) {
      const t = this.sent.get(`${m.camera}\0${m.seq}`);
      if (t === undefined) continue;
      this.toFaces.push(now - t);
      this.faces++;
      this.lastFaces = now;
    }
  }

  onMatches(es: readonly Topics['matches'][]): void {
    const now = Date.now();
    for (const e of es) {
      const t = this.sent.get(`${e.camera}\0${e.seq}`);
      if (t === undefined) continue;
      this.toAlert.push(now - t);
      this.events++;
    }
  }
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const camera = (id: string, video: string, fps: number, realtime: boolean): CameraConfig => cameraSchema.parse({ id, url: video, fps, realtime });

/** One pass of the video through `bus` (already wired to the stages); resolves when every frame's faces came out. */
async function pass(bus: Bus, clock: Clock, cam: CameraConfig, log: Logger): Promise<number> {
  const r = await new Camera({ camera: cam, policy: 'replay', bus: clock.timed(bus), log, metrics: ingestMetrics(), timing: ingestSchema.parse({}) }).run();
  if (r.error) throw r.error;
  await until(() => clock.faces >= r.frames, 600_000, `the faces of ${r.frames} frames`);
  return r.frames;
}

/** `clocks`: the throughput pass, then the real-time passes that give the latencies. */
function summarise(mode: ModeResult['mode'], threshold: number, frames: number, clocks: readonly Clock[]): ModeResult {
  const [throughput, ...latency] = clocks;
  if (!throughput) throw new Error(`bench ${mode}: no measured pass (runs must be 0 or more)`);
  return {
    mode,
    threshold,
    frames,
    framesPerSecond: Math.round((frames / ((throughput.lastFaces - throughput.firstSent) / 1000)) * 10) / 10,
    frameToFaces: stats(latency.flatMap((c) => c.toFaces)),
    frameToAlert: stats(latency.flatMap((c) => c.toAlert)),
    events: latency.reduce((n, c) => n + c.events, 0),
  };
}

export async function benchEmbedded(o: BusBenchOptions): Promise<ModeResult> {
  const runtime = await openRuntime(o.cfg, o.log, { profile: o.profile, fetch: false });
  try {
    const clocks: Clock[] = [];
    let frames = 0;
    // Pass -1 warms up (model sessions, JIT) and is not counted; pass 0 measures throughput.
    for (let i = -1; i <= o.runs; i++) {
      const throughputPass = i <= 0;
      const p = new Pipeline({ cfg: o.cfg, log: o.log, runtime, live: false });
      const clock = new Clock();
      p.bus.subscribe('faces', { group: 'bench' }, (ms) => clock.onFaces(ms));
      p.bus.subscribe('matches', { group: 'bench' }, (es) => clock.onMatches(es));
      await p.start();
      frames = await pass(p.bus, clock, camera(`embedded${i + 1}`, o.video, o.fps, !throughputPass), o.log);
      await p.drain();
      await p.stop();
      if (i >= 0) clocks.push(clock);
      o.progress(`embedded ${i < 0 ? 'warm-up' : throughputPass ? 'throughput' : `real-time ${i}/${o.runs}`}: ${frames} frames, ${clock.events} event(s)`);
    }
    return summarise('embedded', runtime.threshold, frames, clocks);
  } finally {
    await runtime.close();
  }
}

const vigilBin = resolve(fileURLToPath(new URL('../bin/vigil.js', import.meta.url)));

/** Starts `vigil <name>` with the given config and resolves once it logged "service ready" (with that line). */
function startService(name: string, configFile: string, profile: string | undefined): Promise<{ proc: ChildProcess; ready: Record<string, unknown> }> {
  const args = [vigilBin, name, ...(profile ? ['--profile', profile] : [])];
  const p = spawn(process.execPath, args, { env: { ...process.env, VIGIL_CONFIG: configFile, VIGIL_LOG_LEVEL: 'info', KAFKA_BROKERS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((res, rej) => {
    let tail = '';
    p.stderr!.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      const line = tail.split('\n').find((l) => l.includes('"msg":"service ready"'));
      if (line) res({ proc: p, ready: JSON.parse(line) as Record<string, unknown> });
    });
    p.once('exit', (code) => rej(new Error(`vigil ${name} exited (${code}):\n${tail}`)));
  });
}

export async function benchKafka(o: BusBenchOptions): Promise<ModeResult> {
  const base = kafkaConfigOf(o.cfg, 'bench kafka');
  // Fresh topics and groups for this run: nothing left over from an earlier one is measured.
  const kafka = { ...base, topicPrefix: `${base.topicPrefix}bench-${Date.now().toString(36)}.` };
  const cfg: Config = { ...o.cfg, bus: { ...o.cfg.bus, kafka } };
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-kafka-'));
  const configFile = join(dir, 'vigil.yaml');
  await writeFile(configFile, stringify(cfg));
  const store = await new WatchlistStore(cfg.dataDir).load();
  await publishWatchlist(cfg, o.log, store.list().map((subject) => ({ op: 'upsert' as const, subject })));
  const children: ChildProcess[] = [];
  let threshold = NaN;
  const bus = new KafkaBus({ kafka, log: o.log.child({ component: 'kafka' }) });
  try {
    const started = await Promise.all([startService('infer', configFile, o.profile), startService('match', configFile, o.profile)]);
    children.push(...started.map((x) => x.proc));
    threshold = Number(started[1].ready.threshold);
    o.progress(`kafka: vigil infer and vigil match are up (topics ${kafka.topicPrefix}*)`);
    let clock = new Clock();
    bus.subscribe('faces', { group: 'bench' }, (ms) => clock.onFaces(ms));
    bus.subscribe('matches', { group: 'bench' }, (es) => clock.onMatches(es));
    await bus.start();
    await bus.ready();
    const clocks: Clock[] = [];
    let frames = 0;
    for (let i = -1; i <= o.runs; i++) {
      const throughputPass = i <= 0;
      clock = new Clock();
      frames = await pass(bus, clock, camera(`kafka${i + 1}`, o.video, o.fps, !throughputPass), o.log);
      // Alerts trail the faces by one hop: give the matcher a moment before the next pass.
      await new Promise((r) => setTimeout(r, 1000));
      if (i >= 0) clocks.push(clock);
      o.progress(`kafka ${i < 0 ? 'warm-up' : throughputPass ? 'throughput' : `real-time ${i}/${o.runs}`}: ${frames} frames, ${clock.events} event(s)`);
    }
    return summarise('kafka', threshold, frames, clocks);
  } finally {
    await bus.close();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatBench(video: string, rs: readonly ModeResult[]): string[] {
  const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)}`);
  const lines = [`video ${video}: ${rs[0]?.frames ?? 0} frames per pass`, `${'mode'.padEnd(10)}${'frames/s'.padStart(10)}   ${'frame->faces p50/p95 ms'.padEnd(26)}${'frame->alert p50/p95 ms (n)'.padEnd(30)}threshold`];
  for (const r of rs) {
    lines.push(
      `${r.mode.padEnd(10)}${r.framesPerSecond.toFixed(1).padStart(10)}   ${`${ms(r.frameToFaces.p50)} / ${ms(r.frameToFaces.p95)}`.padEnd(26)}${`${ms(r.frameToAlert.p50)} / ${ms(r.frameToAlert.p95)} (${r.frameToAlert.n})`.padEnd(30)}${r.threshold}`,
    );
  }
  return lines;
}
