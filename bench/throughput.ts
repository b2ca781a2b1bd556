import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { CameraConfig, Config } from '../src/config/schema.js';
import { cameraSchema, configSchema } from '../src/config/schema.js';
import type { MatchEvent, RgbImage } from '../src/contracts/messages.js';
import type { FaceWorker } from '../src/inference/remote-engine.js';
import type { StageTiming } from '../src/inference/stage.js';
import { decode } from '../src/ingest/ffmpeg.js';
import type { Logger } from '../src/log.js';
import { Pipeline } from '../src/pipeline.js';
import { openEngines, type Runtime } from '../src/runtime.js';
import { ensureRtspServerBinary, startRtspCamera, stopRtspCamera } from '../test/support/rtsp-lab.js';
import { prepareScene, scoreAlerts } from './alerts.js';
import type { SceneOptions } from './alerts-scene.js';
import { percentile } from './metrics.js';

/**
 * `vigil bench throughput`: how much video one machine gets through. Replay: the same file through
 * the brute-force engine (detect + align + embed every sampled frame, one call after another) and
 * through the pipeline in several set-ups, interleaved round by round so a busy machine slows all
 * alike; real-time factor, frames/s, where the time goes, and the alerts each set-up raised.
 * Live: N simulated 720p cameras (RTSP, the scene looped) at 5 fps into the whole pipeline; kept up
 * or not, and frame-to-alert latency.
 */
export interface ThroughputOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly workDir: string;
  readonly profile?: string;
  /** A video to replay instead of the LFW scene (no alert scoring then). */
  readonly video?: string;
  readonly enrolled: number;
  readonly strangers: number;
  readonly seed: number;
  /** How the LFW scene is built (face sizes, gaps, light...; bench/alerts-scene.ts); default the plain corridor. */
  readonly scene?: Partial<SceneOptions>;
  readonly fps: number;
  /** Worker counts to compare (pipeline variants are run for each). */
  readonly workers: readonly number[];
  /** Which replay parts to run: the engine alone, the pipeline brute force, the pipeline scheduled (default all). */
  readonly parts?: readonly ('engine' | 'brute' | 'scheduled')[];
  /** Scheduled variants: overrides of `inference.schedule` each (default one: the config's). */
  readonly schedules?: readonly ScheduleOverrides[];
  /** Replay rounds; 0: live part only. */
  readonly rounds: number;
  /** Live camera counts to try, ascending (empty: no live part). */
  readonly cameras: readonly number[];
  readonly liveSeconds: number;
  readonly progress: (line: string) => void;
}

export interface ReplayRun {
  readonly variant: string;
  readonly round: number;
  readonly frames: number;
  readonly seconds: number;
  readonly frames_per_s: number;
  readonly realtime_factor: number;
  /** stage wall time per frame, ms (pipeline variants) */
  readonly ms_per_frame?: Record<string, number>;
  readonly counts?: Omit<StageTiming, 'detectMs' | 'alignMs' | 'embedMs' | 'publishMs'>;
  readonly alerted_share?: number;
  readonly false_alerts?: number;
  /** p50, p95 seconds of video from a listed person's entry to the first alert */
  readonly time_to_alert_s?: readonly [number | null, number | null];
}

export interface LiveStep {
  readonly workers: number;
  readonly cameras: number;
  /** faces messages per camera per second: worst camera */
  readonly fps_min: number;
  readonly frame_latency_p50_ms: number | null;
  readonly frame_latency_p95_ms: number | null;
  readonly alert_latency_p50_ms: number | null;
  readonly alert_latency_p95_ms: number | null;
  readonly alerts: number;
  readonly cpu_cores: { readonly pipeline: number; readonly decoders: number };
  /** frames detected whole / in regions / not at all, faces embedded / followed, per second */
  readonly per_second: Record<string, number>;
  readonly kept_up: boolean;
}

export interface ThroughputReport {
  readonly cores: number;
  readonly load_before: readonly number[];
  readonly video: string;
  readonly video_seconds: number;
  readonly fps: number;
  readonly decode_frames_per_s: number;
  readonly replay: ReplayRun[];
  readonly live: LiveStep[];
}

export type ScheduleOverrides = Partial<Omit<Config['inference']['schedule'], 'enabled'>>;

interface Variant {
  readonly name: string;
  readonly workers: number;
  /** schedule on (track-driven detection/embedding, flip near the threshold) */
  readonly schedule: boolean;
  readonly overrides?: ScheduleOverrides;
}

const SCHEDULE_KEYS = ['fullEvery', 'reembedEvery', 'decidedMargin', 'flipBand', 'motionRegions', 'regionSize', 'regionModel'] satisfies (keyof ScheduleOverrides)[] as string[];

/** `key=value,key=value` overrides of `inference.schedule`, e.g. "motionRegions=false,fullEvery=30,regionModel=detector", checked by the config's own schema. */
export function parseSchedule(spec: string): ScheduleOverrides {
  const out: Record<string, number | boolean | string> = {};
  for (const kv of spec.split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!k || v === undefined) throw new Error(`"${kv}" is not key=value`);
    if (!SCHEDULE_KEYS.includes(k.trim())) throw new Error(`"${k}" is not one of ${SCHEDULE_KEYS.join(', ')}`);
    out[k.trim()] = v === 'true' ? true : v === 'false' ? false : v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  const checked = configSchema.shape.inference.safeParse({ schedule: out });
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new Error(`${issue.path.slice(1).join('.')}: ${issue.message}`);
  }
  return out as ScheduleOverrides;
}

const describe = (o: ScheduleOverrides | undefined): string => (o && Object.keys(o).length ? ` [${Object.entries(o).map(([k, v]) => `${k}=${v}`).join(',')}]` : '');

const run = promisify(execFile);
const round1 = (v: number): number => Math.round(v * 10) / 10;
const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Every sampled frame of a file, decoded by ffmpeg as the pipeline's ingest does, handed to `fn` in order. */
async function eachFrame(url: string, fps: number, fn: (img: RgbImage) => Promise<void>): Promise<number> {
  let n = 0;
  let chain = Promise.resolve();
  const h = decode(
    { url, fps, sampling: 'exact', size: { width: 1280, height: 720 }, realtime: false },
    {
      onFrame: async ({ data, width, height }) => {
        n++;
        chain = chain.then(() => fn({ width, height, data }));
        await chain;
      },
    },
  );
  await h.done;
  await chain;
  return n;
}

export async function benchThroughput(o: ThroughputOptions): Promise<ThroughputReport> {
  const loadBefore = loadavg();
  const maxWorkers = Math.max(...o.workers, 1);
  o.progress('preparing the scene and its watchlist');
  const prep = await prepareScene({ cfg: o.cfg, log: o.log, workDir: o.workDir, profile: o.profile, enrolled: o.enrolled, strangers: o.strangers, seed: o.seed, scene: o.scene });
  const video = o.video ?? prep.scene.video;
  // Worker threads for the largest count asked for (a variant with w > 1 uses the first w; w = 1 the main engine).
  const have = prep.runtime.workers ?? [];
  const extra: FaceWorker[] = [];
  if (maxWorkers > 1 && have.length < maxWorkers) {
    const more = await openEngines(prep.cfg, o.log, { profile: o.profile, fetch: false }, Math.max(2, maxWorkers - have.length));
    await more.engine.close();
    extra.push(...more.workers);
  }
  const threads: FaceWorker[] = [...have, ...extra];
  try {
    // Decoding alone, for the per-stage table (ffmpeg runs in its own process, overlapped with inference).
    let t0 = performance.now();
    const decoded = o.rounds > 0 ? await eachFrame(video, o.fps, async () => undefined) : 0;
    const decodeFps = decoded / Math.max(1e-3, (performance.now() - t0) / 1000);
    const videoSeconds = decoded / o.fps;
    o.progress(`video: ${video} (${round1(videoSeconds)} s, ${decoded} frames at ${o.fps} fps); decoding alone ${round1(decodeFps)} frames/s`);
    const parts = new Set(o.parts ?? ['engine', 'brute', 'scheduled']);
    const schedules = o.schedules?.length ? o.schedules : [{}];
    const variants: Variant[] = o.workers.flatMap((w) => [
      ...(parts.has('brute') ? [{ name: `pipeline brute-force, ${w} worker${w > 1 ? 's' : ''}`, workers: w, schedule: false }] : []),
      ...(parts.has('scheduled') ? schedules.map((overrides) => ({ name: `pipeline scheduled, ${w} worker${w > 1 ? 's' : ''}${describe(overrides)}`, workers: w, schedule: true, overrides })) : []),
    ]);
    const replay: ReplayRun[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      if (parts.has('engine')) {
        // The engine alone: what every frame costs without the pipeline (one call after another, one engine).
        t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const n = await eachFrame(video, o.fps, async (img) => void (await prep.runtime.engine.analyze(img, o.cfg.inference.minFaceSize)));
        const cpu = process.cpuUsage(cpu0);
        replay.push({ ...rate('engine alone (detect+align+embed every frame)', round, n, (performance.now() - t0) / 1000, videoSeconds), ms_per_frame: { cpu: round1((cpu.user + cpu.system) / 1000 / Math.max(1, n)) } });
        o.progress(line(replay[replay.length - 1]!));
      }
      for (const v of variants) {
        replay.push(await replayPipeline(o, prep, threads, v, round, video, videoSeconds));
        o.progress(line(replay[replay.length - 1]!));
      }
    }
    const live: LiveStep[] = [];
    if (o.cameras.length) {
      // With the most workers asked for: the machine's capacity (the replay shows how it grows with workers).
      for (const n of o.cameras) {
        const step = await liveStep(o, prep, threads, maxWorkers, n);
        live.push(step);
        o.progress(liveLine(step));
        if (!step.kept_up) break;
      }
    }
    return { cores: availableParallelism(), load_before: loadBefore, video, video_seconds: round1(videoSeconds), fps: o.fps, decode_frames_per_s: round1(decodeFps), replay, live };
  } finally {
    await Promise.all(extra.map((e) => e.close()));
    await prep.close();
  }
}

function rate(variant: string, round: number, frames: number, seconds: number, videoSeconds: number): ReplayRun {
  return { variant, round, frames, seconds: round2(seconds), frames_per_s: round1(frames / seconds), realtime_factor: round2(videoSeconds / seconds) };
}

/** The config of a variant: workers and the schedule switched as it says; flip everywhere when the schedule is off (today's behaviour). */
function variantConfig(cfg: Config, v: { workers: number; schedule: boolean; overrides?: ScheduleOverrides }): Config {
  const sched = { ...cfg.inference.schedule, ...v.overrides };
  return { ...cfg, inference: { ...cfg.inference, workers: v.workers, schedule: { ...sched, enabled: v.schedule, flipBand: v.schedule ? sched.flipBand : 0 } } };
}

function runtimeWith(rt: Runtime, threads: readonly FaceWorker[], workers: number): Runtime {
  return { ...rt, workers: workers > 1 ? threads.slice(0, workers) : [] };
}

async function replayPipeline(o: ThroughputOptions, prep: Awaited<ReturnType<typeof prepareScene>>, threads: readonly FaceWorker[], v: Variant, round: number, video: string, videoSeconds: number): Promise<ReplayRun> {
  // A fresh index copy is not needed: the pipeline only reads the watchlist.
  const pipeline = new Pipeline({ cfg: variantConfig(prep.cfg, v), log: o.log, runtime: runtimeWith(prep.runtime, threads, v.workers), live: false });
  await pipeline.start();
  const events: MatchEvent[] = [];
  pipeline.onMatch('bench', (e) => void events.push(e));
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const [res] = await pipeline.cameras.run([cameraSchema.parse({ id: 'scene', url: video, fps: o.fps, realtime: false })]);
  await pipeline.drain();
  const seconds = (performance.now() - t0) / 1000;
  // CPU time of this process, all threads (ffmpeg, a child, not included): the work done, whatever else loads the machine.
  const cpu = process.cpuUsage(cpu0);
  const matchMs = pipeline.matcher.busyMs;
  await pipeline.stop();
  if (!res || res.error) throw res?.error ?? new Error('the scene did not run');
  const t = pipeline.inference.timing;
  const frames = pipeline.inference.frames;
  const per = (ms: number): number => round1(ms / Math.max(1, frames));
  const { detectMs, alignMs, embedMs, publishMs, ...counts } = t;
  const score = o.video ? undefined : scoreAlerts(prep.scene.appearances, prep.subjectOf, events, prep.scene.duration);
  return {
    ...rate(v.name, round, frames, seconds, videoSeconds),
    ms_per_frame: { detect: per(detectMs), 'align+gate+track': per(alignMs), embed: per(embedMs), 'crop+publish': per(publishMs), match: per(matchMs), wall: per(seconds * 1000), cpu: per((cpu.user + cpu.system) / 1000) },
    counts,
    alerted_share: score ? round2(score.alerted_share) : undefined,
    false_alerts: score?.false_alerts,
    time_to_alert_s: score ? [score.time_to_alert_p50_s, score.time_to_alert_p95_s] : undefined,
  };
}

/** CPU time (user + system) of these processes so far, ms, from /proc (0 for one that is gone). */
async function childCpuMs(pids: readonly number[]): Promise<number> {
  const tick = 100; // USER_HZ on Linux
  let ms = 0;
  for (const pid of pids) {
    try {
      const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      ms += ((Number(f[11]) + Number(f[12])) * 1000) / tick;
    } catch {
      // ended or restarted between the two readings
    }
  }
  return ms;
}

/** The clip as a camera sends it: 25 fps, a key frame every 2 s, no B-frames (as `bench ingest`'s source), made once. */
async function cameraClip(video: string): Promise<string> {
  const out = video.replace(/\.mp4$/, '-cam25-gop50.mp4');
  if (existsSync(out)) return out;
  await run('ffmpeg', ['-y', '-v', 'error', '-i', video, '-an', '-vf', 'fps=25', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-bf', '0', '-b:v', '2M', `${out}.partial.mp4`]);
  await rename(`${out}.partial.mp4`, out);
  return out;
}

async function liveStep(o: ThroughputOptions, prep: Awaited<ReturnType<typeof prepareScene>>, threads: readonly FaceWorker[], workers: number, n: number): Promise<LiveStep> {
  const { server, pub } = await startRtspCamera({ binary: await ensureRtspServerBinary(), path: 'cam', file: await cameraClip(o.video ?? prep.scene.video) });
  const pipeline = new Pipeline({ cfg: variantConfig(prep.cfg, { workers, schedule: true }), log: o.log, runtime: runtimeWith(prep.runtime, threads, workers), live: true });
  try {
    await pipeline.start();
    const frameLat: number[] = [];
    const alertLat: number[] = [];
    const counts = new Map<string, number>();
    let measuring = false;
    pipeline.bus.subscribe('faces', { group: 'bench-live' }, (msgs) => {
      if (!measuring) return;
      const now = Date.now();
      for (const m of msgs) {
        counts.set(m.camera, (counts.get(m.camera) ?? 0) + 1);
        frameLat.push(now - m.capturedAt);
      }
    });
    pipeline.onMatch('bench-live', (e) => {
      if (measuring && e.type === 'alert') alertLat.push(Date.now() - Date.parse(e.capturedAt));
    });
    const cams: CameraConfig[] = Array.from({ length: n }, (_, i) => cameraSchema.parse({ id: `cam${i + 1}`, url: server.url('cam'), fps: o.fps }));
    await pipeline.cameras.apply(cams);
    // Warm-up: connections, first key frames, the catch-up burst.
    await new Promise((r) => setTimeout(r, 5000));
    measuring = true;
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    const timing0 = { ...pipeline.inference.timing };
    const decoders0 = await childCpuMs(pipeline.cameras.pids());
    await new Promise((r) => setTimeout(r, o.liveSeconds * 1000));
    measuring = false;
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const decoders = (await childCpuMs(pipeline.cameras.pids())) - decoders0;
    const t = pipeline.inference.timing;
    const d = (k: keyof StageTiming): number => round1((t[k] - timing0[k]) / elapsed);
    const fpsMin = Math.min(...cams.map((c) => (counts.get(c.id) ?? 0) / elapsed));
    const p = (xs: number[], q: number): number | null => {
      const v = percentile([...xs].sort((a, b) => a - b), q);
      return v === null ? null : Math.round(v);
    };
    const p95 = p(frameLat, 0.95);
    return {
      workers,
      cameras: n,
      fps_min: round2(fpsMin),
      frame_latency_p50_ms: p(frameLat, 0.5),
      frame_latency_p95_ms: p95,
      alert_latency_p50_ms: p(alertLat, 0.5),
      alert_latency_p95_ms: p(alertLat, 0.95),
      alerts: alertLat.length,
      // Where the CPU went, in cores: this process (inference, bus, matcher), the cameras' ffmpeg decoders.
      cpu_cores: { pipeline: round2((cpu.user + cpu.system) / 1e6 / elapsed), decoders: round2(decoders / 1000 / elapsed) },
      per_second: { full: d('fullDetections'), regions: d('regionDetections'), skipped: d('skippedFrames'), embedded: d('embedded'), followed: d('followed') },
      // Every camera within 10% of its rate, and a frame's faces out within a second.
      kept_up: fpsMin >= 0.9 * o.fps && p95 !== null && p95 <= 1000,
    };
  } finally {
    // Cameras off, queued frames through, then stop: the engines outlive this step.
    await pipeline.cameras.apply([]);
    await pipeline.drain();
    await pipeline.stop();
    await stopRtspCamera(server, pub);
  }
}

export function line(r: ReplayRun): string {
  const ms = r.ms_per_frame ? `  ms/frame ${Object.entries(r.ms_per_frame).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
  const acc = r.alerted_share !== undefined ? `  alerted ${(r.alerted_share * 100).toFixed(0)}%, false alerts ${r.false_alerts}, time to alert p50/p95 ${r.time_to_alert_s?.join('/')} s` : '';
  const c = r.counts ? `  [full ${r.counts.fullDetections}, regions ${r.counts.regionDetections}, skipped ${r.counts.skippedFrames}, embedded ${r.counts.embedded}, followed ${r.counts.followed}, flipped ${r.counts.flipped}]` : '';
  return `round ${r.round}  ${r.variant.padEnd(46)} ${String(r.frames_per_s).padStart(6)} frames/s  ${String(r.realtime_factor).padStart(6)}x real time${acc}${ms}${c}`;
}

export function liveLine(s: LiveStep): string {
  return (
    `live (schedule on) ${s.workers} worker(s) ${String(s.cameras).padStart(3)} cameras: worst ${s.fps_min} fps, frame->faces p50/p95 ${s.frame_latency_p50_ms}/${s.frame_latency_p95_ms} ms, ` +
    `frame->alert p50/p95 ${s.alert_latency_p50_ms}/${s.alert_latency_p95_ms} ms (${s.alerts} alerts); CPU cores: pipeline ${s.cpu_cores.pipeline}, ffmpeg decoders ${s.cpu_cores.decoders}; ` +
    `per s: ${Object.entries(s.per_second).map(([k, v]) => `${k} ${v}`).join(', ')} -> ${s.kept_up ? 'keeps up' : 'FALLS BEHIND'}`
  );
}
