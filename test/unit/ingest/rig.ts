/** Test rig for the cameras (test/unit/ingest and test/integration/rtsp-*.test.ts): not a test file itself. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { MemoryBus, embeddedPolicies } from '../../../src/bus/memory.js';
import type { CameraState, CameraStatus, FrameMsg } from '../../../src/contracts/messages.js';
import { cameraSchema, ingestSchema, type CameraConfig } from '../../../src/config/schema.js';
import { CameraSet } from '../../../src/ingest/cameras.js';
import { Camera } from '../../../src/ingest/camera.js';
import { createLogger } from '../../../src/log.js';
import type { CameraPolicy, CameraTiming } from '../../../src/ingest/camera.js';
import { ingestMetrics } from '../../../src/metrics.js';

/** Short timings so that outages, stalls and recoveries take seconds in tests. */
export const FAST: CameraTiming = { stallTimeoutMs: 3000, openTimeoutMs: 6000, backoffInitialMs: 250, backoffMaxMs: 2000, stableAfterMs: 5000 };

export const camera = (c: { id: string; url: string } & Partial<CameraConfig>): CameraConfig => cameraSchema.parse({ fps: 5, maxWidth: 320, ...c });

/** A CameraSet on a live in-memory bus, recording frames, status events, logs and metrics. */
export class IngestRig {
  readonly bus: MemoryBus;
  readonly registry = new Registry();
  readonly metrics = ingestMetrics(this.registry);
  readonly frames = new Map<string, FrameMsg[]>();
  readonly statuses: CameraStatus[] = [];
  readonly logs: string[] = [];
  readonly set: CameraSet;

  constructor(timing: CameraTiming = FAST, policy: CameraPolicy = 'live') {
    // Replay waits when the frame queue is full; live drops the oldest.
    this.bus = new MemoryBus(embeddedPolicies({ frames: 64, faces: 8, matches: 8 }, policy === 'live'));
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.logs.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });
    const log = pino({ level: 'debug' }, sink);
    this.bus.subscribe('frames', { group: 'test' }, (fs) => {
      for (const f of fs) {
        const list = this.frames.get(f.camera) ?? [];
        // Pixels are not kept: a long test would hold hundreds of MB.
        list.push({ ...f, image: { ...f.image, data: new Uint8Array(0) } });
        this.frames.set(f.camera, list);
      }
    });
    this.bus.subscribe('status', { group: 'test' }, (ss) => void this.statuses.push(...ss));
    this.set = new CameraSet({ bus: this.bus, log, metrics: this.metrics, timing, policy, decoderThreads: 1, random: () => 0.5 });
  }

  count(id: string): number {
    return this.frames.get(id)?.length ?? 0;
  }

  statesOf(id: string): CameraState[] {
    return this.statuses.filter((s) => s.camera === id).map((s) => s.state);
  }

  lastStatus(id: string): CameraStatus | undefined {
    return this.statuses.filter((s) => s.camera === id).at(-1);
  }

  /** Polls `pred` every 50 ms until true; throws with `what` after `ms`. */
  async until(pred: () => boolean, ms: number, what: string): Promise<number> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}; statuses: ${JSON.stringify(this.statuses.slice(-6).map((s) => [s.camera, s.state, s.error?.code]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return Date.now() - t0;
  }

  /** One sample of a metric series from the Prometheus text. */
  async metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
    const m = await this.registry.getSingleMetric(name)?.get();
    const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val));
    return v?.value;
  }

  async close(): Promise<void> {
    await this.set.stop();
    await this.bus.close();
  }
}

/** One camera under the replay policy on a small in-memory bus (frames wait when it is full). */
export async function replay(url: string, extra: Partial<CameraConfig> = {}) {
  const bus = new MemoryBus(embeddedPolicies({ frames: 4, faces: 8, matches: 8 }, false));
  const frames: FrameMsg[] = [];
  bus.subscribe('frames', { group: 't' }, (m) => void frames.push(...m));
  const cam = cameraSchema.parse({ id: 'clip', url, realtime: false, ...extra });
  const log = createLogger('silent');
  const result = await new Camera({ camera: cam, policy: 'replay', bus, log, metrics: ingestMetrics(new Registry()), timing: ingestSchema.parse({ openTimeoutMs: 10_000 }) }).run();
  await bus.idle();
  await bus.close();
  return { result, frames };
}
