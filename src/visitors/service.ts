import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { matchThreshold, type Profile } from '../models/manifest.js';
import { VisitorStore } from './store.js';
import { VisitorTracks } from './tracks.js';

/** The false-positive rate the default visitor threshold is calibrated for: stricter than matching (a wrong merge mixes two people). */
export const VISITOR_FPIR = 0.001;

/** visitors.threshold, or the profile's calibrated threshold at VISITOR_FPIR (its match threshold without a calibration table). */
export function visitorThreshold(cfg: Config, profile: Profile): number {
  return cfg.visitors.threshold ?? matchThreshold(profile, { targetFpir: VISITOR_FPIR }).threshold;
}

/**
 * Unknown visitors of the embedded pipeline (config `visitors`; off by default, and then nothing is
 * opened or stored): the store, the matcher's hook and the retention purge (at start and every
 * purgeIntervalMinutes; each purge that deleted someone is reported to `onPurge`, for the audit log).
 */
export class Visitors {
  readonly store: VisitorStore;
  readonly tracks: VisitorTracks;
  readonly #log: Logger;
  readonly #onPurge: ((numbers: number[]) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(cfg: Config, o: { model: string; profile: Profile; log: Logger; onPurge?: (numbers: number[]) => void; now?: () => number }) {
    const v = cfg.visitors;
    this.#log = o.log;
    this.#onPurge = o.onPurge;
    this.store = new VisitorStore(cfg.dataDir, {
      model: o.model,
      threshold: visitorThreshold(cfg, o.profile),
      retentionDays: v.retentionDays,
      visitGapMs: v.visitGapSeconds * 1000,
      maxCrops: v.maxCrops,
      now: o.now,
    });
    const configured = new Set(cfg.cameras.map((c) => c.id));
    const unknownCams = v.alertCameras.filter((c) => !configured.has(c));
    if (cfg.cameras.length && unknownCams.length) o.log.warn({ alertCameras: unknownCams }, 'visitors.alertCameras names cameras that are not configured (a replayed file\'s camera is its file name)');
    this.tracks = new VisitorTracks({ store: this.store, alertCameras: v.alertCameras, k: cfg.alerts.k, n: cfg.alerts.n, log: o.log });
    this.purge();
    this.#timer = setInterval(() => this.purge(), v.purgeIntervalMinutes * 60_000);
    this.#timer.unref();
  }

  /** Deletes visitors not seen within retentionDays; returns their numbers. */
  purge(): number[] {
    try {
      const gone = this.store.purge();
      if (gone.length) {
        this.#log.info({ visitors: gone.length }, 'unknown visitors past retention deleted (crops and embeddings)');
        this.#onPurge?.(gone);
      }
      return gone;
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'visitor retention purge failed');
      return [];
    }
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.store.close();
  }
}
