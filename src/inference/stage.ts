import type { Bus } from '../contracts/bus.js';
import type { FaceRecord, FrameMsg, RgbImage } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { stageTimes, timed } from '../metrics.js';
import { cropRgb, encodeJpeg } from './image-io.js';
import { faceSize, type FaceEngine } from './engine.js';
import { emptyGateCounts, failedDetectionGate, sharpness, type GateCounts, type QualityGateName, type QualityLimits } from './quality.js';
import type { Detection } from './types.js';

export interface InferenceOptions {
  readonly bus: Bus;
  readonly engine: FaceEngine;
  readonly batchSize: number;
  readonly batchWaitMs: number;
  readonly minFaceSize: number;
  /** Quality gates (config `quality`): faces failing one are dropped before embedding, counted in `dropped`. */
  readonly quality: QualityLimits;
  /** Called for every dropped face (e.g. a Prometheus counter labelled by gate). */
  readonly onDrop?: (gate: QualityGateName) => void;
  readonly log: Logger;
}

/**
 * Frames in, embedded faces out. The bus hands over up to `batchSize` queued frames at once
 * (waiting at most `batchWaitMs` for more); each is detected and aligned, then the faces of all
 * of them - several frames, several cameras - are embedded in one model call.
 */
export class InferenceStage {
  readonly name = 'inference';
  readonly #o: InferenceOptions;
  #unsub: (() => void) | undefined;
  frames = 0;
  faces = 0;
  /** Faces dropped by each quality gate since start. */
  readonly dropped: GateCounts = emptyGateCounts();

  constructor(o: InferenceOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const { bus, batchSize, batchWaitMs } = this.#o;
    this.#unsub = bus.subscribe('frames', { group: 'inference', maxBatch: batchSize, maxWaitMs: batchWaitMs }, (frames) => this.process(frames));
  }

  async process(frames: readonly FrameMsg[]): Promise<void> {
    const { engine, bus, minFaceSize, log } = this.#o;
    const t = stageTimes(), endBatch = t.inferenceBatch.startTimer();
    const perFrame: Detection[][] = [];
    const aligned: RgbImage[] = [];
    for (const f of frames) {
      let dets: Detection[] = [];
      try {
        dets = (await timed(t.detect, () => engine.detect(f.image))).filter((d) => faceSize(d) >= minFaceSize);
      } catch (err) {
        log.error({ camera: f.camera, seq: f.seq, err: (err as Error).message }, 'detection failed; frame skipped');
      }
      perFrame.push(this.#gate(f.image, dets, aligned));
    }
    const embeddings = aligned.length ? await timed(t.embed, () => engine.embed(aligned)) : [];
    let k = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      const faces: FaceRecord[] = [];
      for (const d of perFrame[i]) {
        faces.push({
          box: d.box,
          score: d.score,
          landmarks: d.landmarks,
          embedding: embeddings[k++],
          crop: await encodeJpeg(cropRgb(f.image, d.box, 0.25), 85),
        });
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
    endBatch(), t.inferenceBatchSize.observe(frames.length);
  }

  /** The detections that pass the quality gates; their aligned crops are appended to `aligned`. */
  #gate(image: RgbImage, dets: readonly Detection[], aligned: RgbImage[]): Detection[] {
    const { engine, quality } = this.#o;
    const kept: Detection[] = [];
    for (const d of dets) {
      // Size, score and pose need only the landmarks: checked before the crop is made.
      const failed = failedDetectionGate(d, quality);
      if (failed) {
        this.#drop(failed);
        continue;
      }
      const crop = engine.align(image, d);
      if (quality.enabled && sharpness(crop) < quality.minSharpness) {
        this.#drop('sharpness');
        continue;
      }
      kept.push(d);
      aligned.push(crop);
    }
    return kept;
  }

  #drop(gate: QualityGateName): void {
    this.dropped[gate]++;
    this.#o.onDrop?.(gate);
  }

  async stop(): Promise<void> {
    this.#unsub?.();
  }
}
