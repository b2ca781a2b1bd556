import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { isVigilError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CameraSet } from './cameras.js';

export interface ConfigWatchOptions {
  /** A valid new config (the file's text changed). */
  readonly onConfig: (cfg: Config) => void | Promise<void>;
  /** The file changed but cannot be read or is invalid: the running config stays. */
  readonly onError: (err: unknown) => void;
  /** Editors write in bursts (truncate, write, rename): wait this long for quiet, ms. */
  readonly debounceMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Watches a config file and reports each valid new version. The folder is watched, not the file:
 * editors that save by renaming a new file over the old one would end a watch on the file itself.
 * Returns a function that stops watching.
 */
export function watchConfigFile(file: string, o: ConfigWatchOptions): () => void {
  const path = resolve(file);
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  let closed = false;
  let running = Promise.resolve();

  const check = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      // Mid-save (renamed away) or deleted: the next event will tell.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      return o.onError(err);
    }
    if (text === last || closed) return;
    last = text;
    let cfg: Config;
    try {
      cfg = loadConfig(path, o.env);
    } catch (err) {
      // Already redacted (loadConfig: a YAML error quoting a line with a password).
      return o.onError(err);
    }
    await o.onConfig(cfg);
  };
  // The version running now is the baseline: only later edits are reported.
  try {
    last = readFileSync(path, 'utf8');
  } catch {
    // not there yet: its first version will be reported
  }
  const w: FSWatcher = watch(dirname(path), (_event, f) => {
    if (f !== null && f !== name) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(check).catch(o.onError);
    }, o.debounceMs ?? 250);
  });
  w.on('error', o.onError);
  return () => {
    closed = true;
    clearTimeout(timer);
    w.close();
  };
}

export interface FollowOptions {
  readonly cameras: CameraSet;
  readonly log: Logger;
  /** The config running now (to tell which other sections changed). */
  readonly running: Config;
  /** Cameras to run when the file lists none (the built-in demo). */
  readonly fallback?: readonly CameraConfig[];
  readonly debounceMs?: number;
}

/**
 * `vigil start -c FILE`: applies the file's camera list whenever it changes. Other sections need a
 * restart and are reported as such; an unreadable or invalid version is reported and ignored, the
 * running cameras staying as they were. Returns a function that stops following.
 */
export function followConfigCameras(file: string, o: FollowOptions): () => void {
  let running = o.running;
  const { log } = o;
  return watchConfigFile(file, {
    debounceMs: o.debounceMs,
    onConfig: async (cfg) => {
      const others = (Object.keys(cfg) as (keyof Config)[]).filter((k) => k !== 'cameras' && JSON.stringify(cfg[k]) !== JSON.stringify(running[k]));
      if (others.length) log.warn({ sections: others }, 'config changes outside `cameras` apply at the next start');
      running = cfg;
      const list = cfg.cameras.length ? cfg.cameras : (o.fallback ?? []);
      const ch = await o.cameras.apply(list);
      log.info({ added: ch.added, removed: ch.removed, changed: ch.changed, unchanged: ch.unchanged.length }, 'config reloaded: cameras updated');
    },
    onError: (err) =>
      log.error({ code: isVigilError(err) ? err.code : undefined, err: (err as Error).message }, 'config change ignored; the running cameras stay as they were'),
  });
}
