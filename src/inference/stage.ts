import type { Bus } from '../contracts/bus.js';
import type { FaceRecord, FrameMsg, RgbImage } from '../contracts/messages.js';
import { framePool } from '../ingest/frame-pool.js';
import type { Logger } from '../log.js';
import { stageTimes, timed } from '../metrics.js';
import { cropRgb, encodeJpeg } from './image-io.js';
import { faceSize, type FaceEngine } from './engine.js';
import type { FaceWorker } from './remote-engine.js';
import { emptyGateCounts, failedDetectionGate, sharpness, type GateCounts, type QualityGateName, type QualityLimits } from './quality.js';
import { CameraSchedule, type DetectPlan, type FaceTask, type ScheduleOptions } from './schedule.js';
import type { Detection } from './types.js';

/** A frame's faces to send, and those among them to embed first. */
interface Prepared {
  readonly kept: FaceTask[];
  readonly toEmbed: { task: FaceTask; aligned: RgbImage }[];
}

/** The engines, each running one model call at a time; a call waits for a free one. */
class EnginePool {
  readonly size: number;
  readonly #free: FaceWorker[];
  readonly #waiting: ((e: FaceWorker) => void)[] = [];

  constructor(engines: readonly FaceWorker[]) {
    this.#free = [...engines].reverse();
    this.size = engines.length;
  }

  async use<T>(fn: (e: FaceWorker) => Promise<T>): Promise<T> {
    const e = this.#free.pop() ?? (await new Promise<FaceWorker>((resolve) => this.#waiting.push(resolve)));
    try {
      return await fn(e);
    } finally {
      const next = this.#waiting.shift();
      if (next) next(e);
      else this.#free.push(e);
    }
  }
}

export interface InferenceOptions {
  readonly bus: Bus;
  readonly engine: FaceEngine;
  /**
   * Engines in worker threads (remote-engine.ts): when given, they do all detection and embedding
   * and `engine` only aligns. onnxruntime-node runs a session synchronously on the calling thread, so
   * an engine on the main thread would block the event loop and leave the threads waiting for their
   * next frame (measured: main thread + 1 thread was slower than the main thread alone).
   */
  readonly workers?: readonly FaceWorker[];
  readonly batchSize: number;
  readonly batchWaitMs: number;
  readonly minFaceSize: number;
  /** Quality gates (config `quality`): faces failing one are dropped before embedding, counted in `dropped`. */
  readonly quality: QualityLimits;
  /** Track-driven detection and embedding (schedule.ts); off: every frame detected whole, every face embedded. */
  readonly schedule?: ScheduleOptions;
  /**
   * Best watchlist similarity of an embedding minus the match threshold (the embedded mode, which
   * holds the index). Tells a decided identity (followed by box alone) from an undecided one, and
   * where flip TTA can change a decision. Without it every tracked face is embedded, TTA always on.
   */
  readonly identify?: (embedding: Float32Array) => number;
  /** Flip TTA only for faces whose plain embedding is within this of a decision boundary (needs identify; 0: always). */
  readonly flipBand?: number;
  /** Where a decision changes, as offsets from the threshold (the threshold itself, and the alert rules' strong margin). */
  readonly boundaries?: readonly number[];
  /** Called for every dropped face (e.g. a Prometheus counter labelled by gate). */
  readonly onDrop?: (gate: QualityGateName) => void;
  readonly log: Logger;
}

/** Where the stage's time goes, ms since start (wall time of each step; steps on several workers overlap). */
export interface StageTiming {
  detectMs: number;
  alignMs: number;
  embedMs: number;
  /** crop JPEGs and publishing */
  publishMs: number;
  fullDetections: number;
  regionDetections: number;
  skippedFrames: number;
  embedded: number;
  followed: number;
  flipped: number;
}

/**
 * Frames in, embedded faces out. The bus hands over up to `batchSize` queued frames at once
 * (waiting at most `batchWaitMs` for more). Schedule off: the frames are detected in parallel on the
 * workers and their faces - several frames, several cameras - split over the workers, one model call
 * each. Schedule on: each camera's frames in order (its tracks carry over from frame to frame),
 * cameras side by side, a frame's detection overlapping the previous frame's embedding.
 */
export class InferenceStage {
  readonly name = 'inference';
  readonly #o: InferenceOptions;
  readonly #pool: EnginePool;
  readonly #schedules = new Map<string, CameraSchedule>();
  #unsub: (() => void) | undefined;
  /** The batch being processed: stop() waits for it, so the engines are never closed under a running model. */
  #inflight: Promise<void> = Promise.resolve();
  frames = 0;
  faces = 0;
  /** Faces dropped by each quality gate since start. */
  readonly dropped: GateCounts = emptyGateCounts();
  /** Resolved once, not per frame. */
  readonly #times = stageTimes();
  readonly timing: StageTiming = { detectMs: 0, alignMs: 0, embedMs: 0, publishMs: 0, fullDetections: 0, regionDetections: 0, skippedFrames: 0, embedded: 0, followed: 0, flipped: 0 };

  constructor(o: InferenceOptions) {
    this.#o = o;
    this.#pool = new EnginePool(o.workers?.length ? o.workers : [o.engine]);
  }

  async start(): Promise<void> {
    const { bus, batchSize, batchWaitMs } = this.#o;
    this.#unsub = bus.subscribe('frames', { group: 'inference', maxBatch: batchSize, maxWaitMs: batchWaitMs }, (frames) => {
      const run = this.process(frames);
      this.#inflight = run.catch(() => undefined);
      return run;
    });
  }

  #schedule(camera: string): CameraSchedule | undefined {
    const o = this.#o.schedule;
    if (!o?.enabled) return undefined;
    let s = this.#schedules.get(camera);
    if (!s) this.#schedules.set(camera, (s = new CameraSchedule(o)));
    return s;
  }

  async process(frames: readonly FrameMsg[]): Promise<void> {
    const st = this.#times, endBatch = st.inferenceBatch.startTimer();
    if (this.#o.schedule?.enabled) {
      // Each camera's frames in order, one after another: a frame's plan follows the tracks as the frame
      // before left them, and its embedding decisions the embeddings before it, so a replay gives the same
      // events however its frames were batched (measured: batch-wide plans moved an alert by a frame from
      // run to run). Cameras run side by side; a frame's detection overlaps the previous one's embedding.
      const byCamera = new Map<string, FrameMsg[]>();
      for (const f of frames) {
        const list = byCamera.get(f.camera);
        if (list) list.push(f);
        else byCamera.set(f.camera, [f]);
      }
      await Promise.all([...byCamera.values()].map((fs) => this.#chain(fs, this.#schedule(fs[0]!.camera)!)));
    } else {
      // Nothing carries over between frames: all detected at once over the workers, their faces embedded in one call.
      const full: DetectPlan = { kind: 'full' };
      let t0 = performance.now();
      const dets = await Promise.all(frames.map((f) => this.#pool.use((e) => this.#detect(e, f, full))));
      this.timing.detectMs += performance.now() - t0;
      t0 = performance.now();
      const prepared = frames.map((f, i) => this.#prepare(f, dets[i]!, undefined, 'full'));
      this.timing.alignMs += performance.now() - t0;
      await this.#finish(frames, prepared);
    }
    // The batch is done with its frames' pixels (crops and aligned faces are copies): recycled for the next frames.
    for (const f of frames) framePool.give(f.image.data);
    endBatch(), st.inferenceBatchSize.observe(frames.length);
  }

  /** One camera's frames in order (schedule on): plan, detect, link to tracks; embed and publish while the next frame is detected. */
  async #chain(frames: readonly FrameMsg[], sched: CameraSchedule): Promise<void> {
    const t = this.timing;
    let pending: Promise<void> = Promise.resolve();
    for (const f of frames) {
      const plan = sched.plan(f.image, f.capturedAt);
      let t0 = performance.now();
      // A still frame keeps the tracks' last detections: no engine to wait for.
      const dets = plan.kind === 'still' ? (t.skippedFrames++, plan.detections) : await this.#pool.use((e) => this.#detect(e, f, plan));
      t.detectMs += performance.now() - t0;
      // The previous frame's embeddings decide which of this frame's faces to embed.
      await pending;
      t0 = performance.now();
      const prepared = this.#prepare(f, dets, sched, plan.kind);
      t.alignMs += performance.now() - t0;
      pending = this.#finish([f], [prepared]);
      void pending.catch(() => undefined); // awaited next round or below; a failure surfaces there
    }
    await pending;
  }

  /** A frame's detections linked to its camera's tracks (schedule on) and gated: the faces to send, and those to embed first. */
  #prepare(f: FrameMsg, dets: readonly Detection[], sched: CameraSchedule | undefined, plan: DetectPlan['kind']): Prepared {
    const tasks = sched ? sched.assign(dets, f.seq, f.capturedAt, plan === 'still') : dets.map((d): FaceTask => ({ detection: d, embed: true }));
    const kept: FaceTask[] = [];
    const toEmbed: { task: FaceTask; aligned: RgbImage }[] = [];
    for (const task of tasks) {
      if (!task.embed && CameraSchedule.followed(task)) {
        kept.push(task);
        continue;
      }
      const crop = this.#gate(f.image, task.detection);
      if (!crop) {
        // Identity not decided yet: the full pass may see it within the gates (see CameraSchedule.askFull).
        if (plan === 'rois' && task.track && !task.track.decided) sched?.askFull(task.track);
        continue;
      }
      kept.push(task);
      toEmbed.push({ task, aligned: crop });
    }
    return { kept, toEmbed };
  }

  /** Embeds the prepared frames' faces in one call (split over the workers), then publishes each frame's faces in order. */
  async #finish(frames: readonly FrameMsg[], prepared: readonly Prepared[]): Promise<void> {
    const { engine, bus } = this.#o;
    const t = this.timing;
    const all = prepared.flatMap((p, i) => p.toEmbed.map((x) => ({ ...x, frame: i })));
    let t0 = performance.now();
    const { embeddings, margins } = all.length ? await timed(this.#times.embed, () => this.#embed(all.map((x) => x.aligned))) : { embeddings: [], margins: [] };
    t.embedMs += performance.now() - t0;
    t.embedded += all.length;

    t0 = performance.now();
    const fresh = new Map<FaceTask, FaceRecord>();
    for (let k = 0; k < all.length; k++) {
      const { task, frame } = all[k]!;
      const f = frames[frame]!;
      const d = task.detection;
      const rec: FaceRecord = { box: d.box, score: d.score, landmarks: d.landmarks, embedding: embeddings[k]!, crop: await encodeJpeg(cropRgb(f.image, d.box, 0.25), 85) };
      fresh.set(task, rec);
      if (task.track) this.#schedule(f.camera)?.embedded(task.track, d, f.seq, rec.embedding, rec.crop, margins[k] ?? this.#o.identify?.(rec.embedding));
    }
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const faces: FaceRecord[] = [];
      for (const task of prepared[i]!.kept) {
        const rec = fresh.get(task) ?? CameraSchedule.followed(task);
        if (!rec) continue;
        if (!fresh.has(task)) t.followed++;
        faces.push(rec);
      }
      this.frames++;
      this.faces += faces.length;
      await bus.publish('faces', {
        kind: 'faces',
        v: 1,
        camera: f.camera,
        seq: f.seq,
        capturedAt: f.capturedAt,
        mediaTime: f.mediaTime,
        frame: { width: f.image.width, height: f.image.height },
        profile: engine.profile.name,
        model: engine.model,
        faces,
      });
    }
    t.publishMs += performance.now() - t0;
  }

  async #detect(engine: FaceWorker, f: FrameMsg, plan: Exclude<DetectPlan, { kind: 'still' }>): Promise<Detection[]> {
    const { minFaceSize, log } = this.#o;
    try {
      if (plan.kind === 'rois') this.timing.regionDetections++;
      else this.timing.fullDetections++;
      const dets = await timed(this.#times.detect, () => (plan.kind === 'full' ? engine.detect(f.image) : engine.detectRegions(f.image, plan.rois, plan.moved, this.#o.schedule?.regionSize, plan.settled)));
      return dets.filter((d) => faceSize(d) >= minFaceSize);
    } catch (err) {
      log.error({ camera: f.camera, seq: f.seq, err: (err as Error).message }, 'detection failed; frame skipped');
      return [];
    }
  }

  /**
   * Embeddings of `aligned`, split over the workers. With identify and a flip band, flip TTA is
   * added only where the plain embedding is near the threshold (elsewhere it cannot change a decision).
   * `margins`: identify's answer for each embedding that was identified here and kept as it was (a
   * flipped one changed, so it has none), so the caller does not search the watchlist for it again.
   */
  async #embed(aligned: readonly RgbImage[]): Promise<{ embeddings: Float32Array[]; margins: (number | undefined)[] }> {
    const { identify, flipBand = 0 } = this.#o;
    const n = this.#pool.size;
    const per = Math.ceil(aligned.length / n);
    const chunks = Array.from({ length: n }, (_, i) => aligned.slice(i * per, (i + 1) * per)).filter((c) => c.length > 0);
    const selective = identify !== undefined && flipBand > 0 && this.#o.engine.flip;
    const parts = await Promise.all(
      chunks.map((c) => this.#pool.use(async (e) => {
        if (!selective) return { embeddings: await e.embed(c), margins: [] as (number | undefined)[] };
        const plain = await e.embedPlain(c);
        const bounds = this.#o.boundaries ?? [0];
        const margins: (number | undefined)[] = plain.map((p) => identify(p));
        const near = margins.flatMap((m, j) => (bounds.some((b) => Math.abs(m! - b) < flipBand) ? [j] : []));
        if (near.length > 0) {
          const fused = await e.addFlip(near.map((j) => c[j]!), near.map((j) => plain[j]!));
          near.forEach((j, k) => ((plain[j] = fused[k]!), (margins[j] = undefined)));
          this.timing.flipped += near.length;
        }
        return { embeddings: plain, margins };
      })),
    );
    // a part embedded without identify has no margins: undefined for each of its faces
    return { embeddings: parts.flatMap((p) => p.embeddings), margins: parts.flatMap((p) => p.embeddings.map((_, j) => p.margins[j])) };
  }

  /** The aligned crop of `d` when it passes the quality gates, else undefined (counted as dropped). */
  #gate(image: RgbImage, d: Detection): RgbImage | undefined {
    const { engine, quality } = this.#o;
    // Size, score and pose need only the landmarks: checked before the crop is made.
    const failed = failedDetectionGate(d, quality);
    if (failed) {
      this.#drop(failed);
      return undefined;
    }
    const crop = engine.align(image, d);
    if (quality.enabled && sharpness(crop) < quality.minSharpness) {
      this.#drop('sharpness');
      return undefined;
    }
    return crop;
  }

  #drop(gate: QualityGateName): void {
    this.dropped[gate]++;
    this.#o.onDrop?.(gate);
  }

  async stop(): Promise<void> {
    this.#unsub?.();
    await this.#inflight;
  }
}
