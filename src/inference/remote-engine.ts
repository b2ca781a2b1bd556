import { Worker } from 'node:worker_threads';
import type { Box, RgbImage } from '../contracts/messages.js';
import type { ResolvedProfile } from '../models/manifest.js';
import { cropRegions, type EngineOptions, type FaceEngine, type RegionCrop } from './engine.js';
import type { SessionOptions } from './onnx.js';
import type { Detection } from './types.js';

/** The part of a face engine the inference stage spreads over its workers. */
export type FaceWorker = Pick<FaceEngine, 'flip' | 'detect' | 'detectRegions' | 'embed' | 'embedPlain' | 'addFlip' | 'close'>;

export interface WorkerSetup {
  readonly profile: ResolvedProfile;
  readonly files: Readonly<Record<string, string>>;
  readonly session: SessionOptions;
  readonly options: EngineOptions;
}

export type WorkerRequest = { readonly id: number } & (
  | { readonly op: 'detect'; readonly image: RgbImage }
  | { readonly op: 'detectCrops'; readonly crops: readonly RegionCrop[] }
  | { readonly op: 'embed' | 'embedPlain'; readonly aligned: readonly RgbImage[] }
  | { readonly op: 'addFlip'; readonly aligned: readonly RgbImage[]; readonly plain: readonly Float32Array[] }
  | { readonly op: 'close' }
);

export interface WorkerResponse {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

type Op = WorkerRequest extends infer R ? (R extends { op: infer O } ? O : never) : never;

/**
 * A face engine in a worker thread (engine-worker.ts). Frames are copied to the thread (structured
 * clone, ~1 ms for 720p; a decoded frame is not shared memory), embeddings come back transferred.
 */
export class RemoteEngine implements FaceWorker {
  readonly flip: boolean;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #next = 1;

  private constructor(worker: Worker, flip: boolean) {
    this.#worker = worker;
    this.flip = flip;
    worker.on('message', (m: WorkerResponse) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
    worker.on('error', (err: unknown) => this.#failAll(err instanceof Error ? err : new Error(String(err))));
    worker.on('exit', () => this.#failAll(new Error('inference worker exited')));
  }

  /** Starts a worker thread and opens its engine; resolves once the engine is open. */
  static async open(profile: ResolvedProfile, files: Readonly<Record<string, string>>, session: SessionOptions, options: EngineOptions, flip: boolean): Promise<RemoteEngine> {
    const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./engine-worker.ts', import.meta.url).href, profile, files, session, options } satisfies WorkerSetup & { entry: string },
    });
    const engine = new RemoteEngine(worker, flip);
    await new Promise<void>((resolve, reject) => {
      engine.#pending.set(0, { resolve: () => resolve(), reject });
    });
    return engine;
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #call<T>(op: Op, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#worker.postMessage({ id, op, ...args });
    });
  }

  detect(image: RgbImage): Promise<Detection[]> {
    return this.#call('detect', { image });
  }

  /** Only the regions' pixels cross to the thread, not the frame. */
  detectRegions(image: RgbImage, regions: readonly Box[], native: readonly Box[] = [], size?: number, settled: readonly boolean[] = []): Promise<Detection[]> {
    return this.#call('detectCrops', { crops: cropRegions(image, regions, native, size, settled) });
  }

  embed(aligned: readonly RgbImage[]): Promise<Float32Array[]> {
    return this.#call('embed', { aligned });
  }

  embedPlain(aligned: readonly RgbImage[]): Promise<Float32Array[]> {
    return this.#call('embedPlain', { aligned });
  }

  addFlip(aligned: readonly RgbImage[], plain: readonly Float32Array[]): Promise<Float32Array[]> {
    return this.#call('addFlip', { aligned, plain });
  }

  async close(): Promise<void> {
    await this.#call('close').catch(() => undefined);
    await this.#worker.terminate();
  }
}
