import type { CameraStatus } from '../contracts/messages.js';
import type { CameraConfig } from '../config/schema.js';
import { safeUrl } from './redact.js';
import { CameraSupervisor, type SupervisorOptions } from './supervisor.js';

/** What every camera's supervisor gets (all but the camera itself). */
export type CameraSetOptions = Omit<SupervisorOptions, 'camera'>;

export interface CameraChanges {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
  readonly unchanged: string[];
}

/**
 * The running cameras, one supervisor each. apply() moves to a new camera list (a config reload):
 * new ids start, missing ids stop, changed ones reconnect with their new settings, and every other
 * camera is left alone (its ffmpeg keeps running).
 */
function sameBut(a: CameraConfig, b: CameraConfig, key: keyof CameraConfig): boolean {
  return JSON.stringify({ ...a, [key]: undefined }) === JSON.stringify({ ...b, [key]: undefined });
}

export class CameraSet {
  readonly #o: CameraSetOptions;
  readonly #sups = new Map<string, CameraSupervisor>();

  constructor(o: CameraSetOptions) {
    this.#o = o;
  }

  async apply(cameras: readonly CameraConfig[]): Promise<CameraChanges> {
    const next = new Map(cameras.map((c) => [c.id, c]));
    const changes: CameraChanges = { added: [], removed: [], changed: [], unchanged: [] };
    const stopping: Promise<void>[] = [];
    for (const [id, sup] of this.#sups) {
      if (next.has(id)) continue;
      this.#sups.delete(id);
      changes.removed.push(id);
      stopping.push(sup.stop());
    }
    for (const cam of cameras) {
      const sup = this.#sups.get(cam.id);
      if (!sup) {
        const s = new CameraSupervisor({
          ...this.#o,
          camera: cam,
          log: this.#o.log.child({ camera: cam.id, url: safeUrl(cam.url) }),
        });
        this.#sups.set(cam.id, s);
        s.start();
        changes.added.push(cam.id);
      } else if (JSON.stringify(sup.config) === JSON.stringify(cam)) {
        changes.unchanged.push(cam.id);
      } else {
        // A new display name needs no reconnect; anything else does.
        if (sameBut(sup.config, cam, 'name')) sup.rename(cam);
        else sup.reconfigure(cam);
        changes.changed.push(cam.id);
      }
    }
    await Promise.all(stopping);
    return changes;
  }

  get(id: string): CameraSupervisor | undefined {
    return this.#sups.get(id);
  }

  statuses(): CameraStatus[] {
    return [...this.#sups.values()].map((s) => s.status());
  }

  async stop(): Promise<void> {
    const all = [...this.#sups.values()];
    this.#sups.clear();
    await Promise.all(all.map((s) => s.stop()));
  }
}
