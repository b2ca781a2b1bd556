import type { CameraStatus } from '../contracts/messages.js';
import type { Bus } from '../contracts/bus.js';
import type { CameraConfig, Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ingestMetrics } from '../metrics.js';
import { safeUrl } from '../util/redact.js';
import { Camera, type CameraOptions, type CameraPolicy, type CameraResult } from './camera.js';

/** What every camera gets (all but the camera itself); `policy` may depend on the camera. */
export type CameraSetOptions = Omit<CameraOptions, 'camera' | 'policy'> & {
  readonly policy: CameraPolicy | ((camera: CameraConfig) => CameraPolicy);
};

export interface CameraChanges {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly unchanged: string[];
}

function sameBut(a: CameraConfig, b: CameraConfig, key: keyof CameraConfig): boolean {
  return JSON.stringify({ ...a, [key]: undefined }) === JSON.stringify({ ...b, [key]: undefined });
}

/**
 * The running cameras, one Camera each: the one way every mode runs cameras (`start`, `replay`,
 * `vigil ingest`). apply() moves to a new camera list (a config reload): new ids start, missing ids
 * stop, changed ones reconnect with their new settings, and every other camera is left alone (its
 * ffmpeg keeps running). run() also waits for the cameras to end (replay) or be stopped (live).
 */
export class CameraSet {
  readonly #o: CameraSetOptions;
  readonly #cams = new Map<string, Camera>();
  readonly #runs = new Map<string, Promise<CameraResult>>();

  constructor(o: CameraSetOptions) {
    this.#o = o;
  }

  async apply(cameras: readonly CameraConfig[]): Promise<CameraChanges> {
    const next = new Map(cameras.map((c) => [c.id, c]));
    const changes: CameraChanges = { added: [], removed: [], changed: [], unchanged: [] };
    const stopping: Promise<void>[] = [];
    for (const [id, cam] of this.#cams) {
      if (next.has(id)) continue;
      this.#cams.delete(id);
      changes.removed.push(id);
      stopping.push(cam.stop());
    }
    for (const cfg of cameras) {
      const cam = this.#cams.get(cfg.id);
      if (!cam) {
        const { policy, ...rest } = this.#o;
        const c = new Camera({
          ...rest,
          camera: cfg,
          policy: typeof policy === 'function' ? policy(cfg) : policy,
          log: this.#o.log.child({ camera: cfg.id, url: safeUrl(cfg.url) }),
        });
        this.#cams.set(cfg.id, c);
        this.#runs.set(cfg.id, c.run());
        changes.added.push(cfg.id);
      } else if (JSON.stringify(cam.config) === JSON.stringify(cfg)) {
        changes.unchanged.push(cfg.id);
      } else {
        // A new display name needs no reconnect; anything else does.
        if (sameBut(cam.config, cfg, 'name')) cam.rename(cfg);
        else cam.reconfigure(cfg);
        changes.changed.push(cfg.id);
      }
    }
    await Promise.all(stopping);
    return changes;
  }

  get(id: string): Camera | undefined {
    return this.#cams.get(id);
  }

  /** The running ffmpeg decoders' process ids (CPU accounting in benchmarks). */
  pids(): number[] {
    return [...this.#cams.values()].map((c) => c.pid).filter((p): p is number => p !== undefined);
  }

  statuses(): CameraStatus[] {
    return [...this.#cams.values()].map((s) => s.status());
  }

  /** apply(cameras), then each one's result once it finishes (replay: at its end; live: when stopped). */
  async run(cameras: readonly CameraConfig[]): Promise<CameraResult[]> {
    await this.apply(cameras);
    return Promise.all(cameras.map((c) => this.#runs.get(c.id)!));
  }

  async stop(): Promise<void> {
    const all = [...this.#cams.values()];
    this.#cams.clear();
    await Promise.all(all.map((s) => s.stop()));
  }
}

/** The cameras of a config on `bus` under `policy`, as every mode runs them (the `ingest` section's timings and protocols). */
export function cameraSetOf(cfg: Config, bus: Bus, log: Logger, policy: CameraSetOptions['policy']): CameraSet {
  const { decoderThreads, protocols } = cfg.ingest;
  return new CameraSet({ bus, log: log.child({ stage: 'ingest' }), metrics: ingestMetrics(), timing: cfg.ingest, decoderThreads, protocols, policy });
}
