import { join } from 'node:path';
import { FaceEngine } from '../src/inference/engine.js';
import sharp from 'sharp';
import type { Provider } from '../src/inference/onnx.js';
import type { RgbImage } from '../src/contracts/messages.js';
import type { ResolvedProfile } from '../src/models/manifest.js';
import { listPeople } from './lfw-data.js';

/**
 * Face engine throughput (detect + align + embed, engine.analyze) for onnxruntime intra-op thread
 * counts and numbers of frames in flight, on CCTV-like 1280x720 frames holding three LFW faces
 * (~90 px wide) each. Frames are made beforehand: the pipeline gets frames decoded by ffmpeg.
 */
export interface SpeedOptions {
  readonly profile: ResolvedProfile;
  readonly files: Readonly<Record<string, string>>;
  readonly provider: Provider;
  readonly lfwDir: string;
  /** Frames to time (three faces each). */
  readonly images: number;
  readonly threads: readonly number[];
  readonly concurrency: readonly number[];
  readonly detectSize: number;
}

export interface SpeedRun {
  readonly threads: number;
  readonly concurrency: number;
  readonly flip: boolean;
  readonly ms_per_frame: number;
  readonly frames_per_s: number;
}

export interface SpeedResult {
  readonly bench: 'speed';
  readonly profile: string;
  readonly frames: number;
  readonly faces_per_frame: number;
  readonly detect_size: number;
  readonly runs: SpeedRun[];
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

const FRAME_W = 1280;
const FRAME_H = 720;
const FACE_PX = 200;

/** A 1280x720 mid-grey frame with three LFW photos (250 px) shrunk to 200 px side by side. */
async function cctvFrame(files: readonly string[]): Promise<RgbImage> {
  const tiles = await Promise.all(files.map((f) => sharp(f).resize(FACE_PX, FACE_PX).raw().toBuffer()));
  const buf = await sharp({ create: { width: FRAME_W, height: FRAME_H, channels: 3, background: { r: 110, g: 110, b: 110 } } })
    .composite(tiles.map((t, i) => ({ input: t, raw: { width: FACE_PX, height: FACE_PX, channels: 3 as const }, left: 160 + i * 380, top: 260 })))
    .raw()
    .toBuffer();
  return { width: FRAME_W, height: FRAME_H, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) };
}

async function timeRun(engine: FaceEngine, imgs: readonly RgbImage[], concurrency: number): Promise<number> {
  await pool(imgs.slice(0, 3), 1, (i) => engine.analyze(i)); // warm-up: first runs allocate
  const t0 = performance.now();
  await pool(imgs, concurrency, (i) => engine.analyze(i));
  return performance.now() - t0;
}

export async function benchSpeed(o: SpeedOptions): Promise<SpeedResult> {
  const people = await listPeople(o.lfwDir);
  // Every 7th image: a spread of people rather than the alphabet's first few.
  const paths = [...people.values()].flat().filter((_, i) => i % 7 === 0).slice(0, 3 * o.images).map((p) => join(o.lfwDir, p));
  const imgs: RgbImage[] = [];
  for (let i = 0; i + 3 <= paths.length; i += 3) imgs.push(await cctvFrame(paths.slice(i, i + 3)));
  const runs: SpeedRun[] = [];
  const record = (threads: number, concurrency: number, flip: boolean, ms: number): void => {
    runs.push({ threads, concurrency, flip, ms_per_frame: Math.round((ms / imgs.length) * 10) / 10, frames_per_s: Math.round((imgs.length / ms) * 1000 * 10) / 10 });
  };
  let faces = 0;
  for (const threads of o.threads) {
    for (const flip of [false, true]) {
      const engine = await FaceEngine.open(o.profile, o.files, { provider: o.provider, threads }, { detectSize: o.detectSize, flip });
      try {
        // Flip TTA only at one image in flight: its cost is what is asked, not its scaling.
        if (faces === 0) for (const f of imgs) faces += (await engine.analyze(f)).length;
        for (const c of flip ? [1] : o.concurrency) record(threads, c, flip, await timeRun(engine, imgs, c));
      } finally {
        await engine.close();
      }
    }
  }
  return { bench: 'speed', profile: o.profile.name, frames: imgs.length, faces_per_frame: Math.round((faces / imgs.length) * 100) / 100, detect_size: o.detectSize, runs };
}
