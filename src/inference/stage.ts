import type { Bus } from '../contracts/bus.js';
import type { FaceRecord, FrameMsg } from '../contracts/messages.js';
import type { Logger } from '../log.js';
import { cropRgb, encodeJpeg } from './image-io.js';
import { faceSize, type FaceEngine } from './engine.js';
import type { Detection, RgbImage } from './types.js';

export interface InferenceOptions {
  readonly bus: Bus;
  readonly engine: FaceEngine;
  readonly batchSize: number;
  readonly batchWaitMs: number;
  readonly minFaceSize: number;
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

  constructor(o: InferenceOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const { bus, batchSize, batchWaitMs } = this.#o;
    this.#unsub = bus.subscribe('frames', { group: 'inference', maxBatch: batchSize, maxWaitMs: batchWaitMs }, (frames) => this.process(frames));
  }

  async process(frames: readonly FrameMsg[]): Promise<void> {
    const { engine, bus, minFaceSize, log } = this.#o;
    const perFrame: Detection[][] = [];
    const aligned: RgbImage[] = [];
    for (const f of frames) {
      let dets: Detection[] = [];
      try {
        dets = (await engine.detect(f.image)).filter((d) => faceSize(d) >= minFaceSize);
      } catch (err) {
        log.error({ camera: f.camera, seq: f.seq, err: (err as Error).message }, 'detection failed; frame skipped');
      }
      perFrame.push(dets);
      for (const d of dets) aligned.push(engine.align(f.image, d));
    }
    const embeddings = await engine.embedder.embed(aligned);
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
  }

  async stop(): Promise<void> {
    this.#unsub?.();
  }
}
