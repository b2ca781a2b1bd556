import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { sha256File } from '../audit/canonical.js';
import { MemoryBus, embeddedPolicies } from '../bus/memory.js';
import type { Config } from '../config/schema.js';
import type { FaceEngine } from '../inference/engine.js';
import { probe } from '../ingest/ffmpeg.js';
import { cameraSetOf } from '../ingest/cameras.js';
import type { Logger } from '../log.js';
import { defaultTrackerOptions } from '../matcher/tracker.js';
import { inferenceStage } from '../stages.js';
import { AppearanceCollector } from './collect.js';
import type { Appearance, AppearanceIndex, RecordingRow } from './store.js';

export const cameraIdOf = (file: string): string => basename(file, extname(file)).replace(/[^A-Za-z0-9_.-]/g, '_') || 'file';

export interface IndexOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly engine: FaceEngine;
  readonly index: AppearanceIndex;
  readonly file: string;
  readonly camera?: string;
  readonly fps: number;
  /** called with the media time reached and the recording's duration (s) as faces come out */
  readonly onProgress?: (mediaTime: number, duration: number | null) => void;
}

export interface IndexResult {
  readonly recording: RecordingRow;
  /** false: it was indexed before (same content, same model); nothing was decoded */
  readonly decoded: boolean;
  readonly frames: number;
  readonly appearances: number;
  readonly videoSeconds: number;
  readonly wallSeconds: number;
}

/**
 * Indexes one recording unless its content (sha256) is indexed already: decodes it with the ingest
 * source, runs the inference stage on an in-memory bus, links faces into appearances, and stores
 * them in one transaction. A recording that fails to decode is reported and stores nothing, so it
 * is tried again next time rather than counted as indexed.
 */
export async function indexRecording(o: IndexOptions): Promise<IndexResult> {
  const t0 = Date.now();
  const sha256 = await sha256File(o.file);
  const known = o.index.recording(sha256);
  if (known) return { recording: known, decoded: false, frames: 0, appearances: 0, videoSeconds: known.duration ?? 0, wallSeconds: 0 };
  const { cfg, log, engine } = o;
  const camera = o.camera ?? cameraIdOf(o.file);
  const bus = new MemoryBus(embeddedPolicies(cfg.queues, false));
  const inference = inferenceStage(cfg, bus, engine, log);
  const apps: Appearance[] = [];
  const collector = new AppearanceCollector({ ...defaultTrackerOptions, maxGapMs: cfg.alerts.trackGapSeconds * 1000 }, (a) => apps.push(a));
  // The length for the progress bar; the source probes again itself, this is cheap.
  let duration: number | null = o.onProgress ? await probe(o.file).then((p) => p.duration, () => null) : null;
  bus.subscribe('faces', { group: 'search-index' }, (msgs) => {
    for (const m of msgs) {
      collector.add(m);
      if (m.mediaTime !== null) o.onProgress?.(m.mediaTime, duration);
    }
  });
  await inference.start();
  const cameras = cameraSetOf(cfg, bus, log, 'replay');
  try {
    const [r] = await cameras.run([{ id: camera, url: o.file, fps: o.fps, maxWidth: 1280, realtime: false, loop: false, enabled: true, transport: 'tcp' }]);
    // A recording that failed (missing, not video, truncated) stores nothing: it is tried again next time.
    if (!r || r.error) throw r?.error ?? new Error(`indexing ${o.file}: no result`);
    duration = r.duration;
    await bus.idle();
    collector.flush();
    const bytes = (await stat(o.file)).size;
    const rec = { sha256, file: o.file, bytes, camera, duration: r.duration, fps: o.fps, frames: r.frames, status: 'complete' };
    const id = o.index.addRecording(rec, apps);
    return { recording: { id, ...rec }, decoded: true, frames: r.frames, appearances: apps.length, videoSeconds: r.duration ?? 0, wallSeconds: (Date.now() - t0) / 1000 };
  } finally {
    await cameras.stop();
    await inference.stop();
    await bus.close();
  }
}
