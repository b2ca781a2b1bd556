import { statSync } from 'node:fs';
import type { Bus } from '../contracts/bus.js';
import type { CameraConfig } from '../config/schema.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../log.js';
import { decode, probe, type DecodeHandle, type ProbeInfo } from './ffmpeg.js';
import { redactSecrets, safeUrl } from './redact.js';

/** Output size: the source scaled down to maxWidth, both sides even (yuv->rgb scalers need it). */
export function outputSize(src: { width: number; height: number }, maxWidth: number): { width: number; height: number } {
  const w = Math.min(src.width, maxWidth);
  const even = (v: number) => Math.max(2, Math.round(v / 2) * 2);
  return { width: even(w), height: even((src.height * w) / src.width) };
}

export interface SourceOptions {
  readonly camera: CameraConfig;
  readonly bus: Bus;
  readonly log: Logger;
}

export interface SourceResult {
  readonly camera: string;
  readonly frames: number;
  readonly dropped: number;
  readonly probe: ProbeInfo;
}

/**
 * One camera or file: probe, decode at the configured fps and size, publish FrameMsgs with a
 * per-camera sequence number and capture time. For a file, capture time is its presentation time
 * mapped onto its start (the recording's creation_time tag when present, else the moment it started),
 * so a replayed recording keeps its own timeline.
 */
export class CameraSource {
  readonly #o: SourceOptions;
  #handle: DecodeHandle | undefined;
  #stopped = false;

  constructor(o: SourceOptions) {
    this.#o = o;
  }

  async run(): Promise<SourceResult> {
    const { camera: cam, bus, log } = this.#o;
    const shownUrl = safeUrl(cam.url);
    let info: ProbeInfo;
    try {
      info = await probe(cam.url);
    } catch (err) {
      throw new VigilError('VIGIL_ERR_INGEST_OPEN', { camera: cam.id, url: shownUrl, reason: redactSecrets((err as Error).message, cam.url) }, err);
    }
    const size = outputSize(info, cam.maxWidth);
    const live = info.duration === null;
    // A replayed file keeps its own clock, so the same file gives the same capture times and alert ids
    // on every run: its creation_time tag, else its modification time less its duration.
    const t0 = !live && !cam.realtime ? (info.creationTime ?? fileStart(cam.url, info.duration)) : Date.now();
    log.info({ url: shownUrl, source: `${info.width}x${info.height}`, output: `${size.width}x${size.height}`, fps: cam.fps }, 'camera opened');
    let frames = 0;
    let dropped = 0;
    this.#handle = decode(
      { url: cam.url, fps: cam.fps, sampling: 'exact', size, realtime: cam.realtime, loop: cam.loop, transport: cam.transport },
      { onFrame: async ({ data: rgb, index }) => {
        if (this.#stopped) return;
        const mediaTime = live ? null : index / cam.fps;
        const capturedAt = live ? Date.now() : t0 + (mediaTime ?? 0) * 1000;
        const ok = await bus.publish('frames', {
          kind: 'frame',
          v: 1,
          camera: cam.id,
          seq: index,
          capturedAt,
          mediaTime: cam.loop && info.duration ? mediaTime! % info.duration : mediaTime,
          image: { width: size.width, height: size.height, data: rgb },
        });
        frames++;
        if (!ok) dropped++;
      } },
    );
    try {
      await this.#handle.done;
    } catch (err) {
      if (this.#stopped) return { camera: cam.id, frames, dropped, probe: info };
      throw new VigilError('VIGIL_ERR_INGEST_DECODE', { camera: cam.id, url: shownUrl, reason: redactSecrets((err as Error).message, cam.url) }, err);
    }
    log.info({ frames, dropped }, 'camera ended');
    return { camera: cam.id, frames, dropped, probe: info };
  }

  stop(): void {
    this.#stopped = true;
    this.#handle?.stop();
  }
}

/** Start of a recording without a creation_time tag: when the file was last written, less its length; now for a URL. */
function fileStart(url: string, duration: number | null): number {
  try {
    return Math.round(statSync(url).mtimeMs - (duration ?? 0) * 1000);
  } catch {
    return Date.now();
  }
}
