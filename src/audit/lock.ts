import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { VigilError } from '../errors.js';
import { alive } from '../util/process.js';

export interface LockOptions {
  /** Give up after this long, ms. */
  readonly timeoutMs?: number;
  /** A lock held longer than this is taken as left behind by a crashed process, ms. */
  readonly staleMs?: number;
}

/**
 * A cross-process lock file (O_EXCL create; content "pid epoch-ms"), so several Vigil processes (the
 * CLI and a running server) append to one file without interleaving. A lock whose process is gone,
 * or older than staleMs, is broken: renamed away first (only one breaker wins the rename), then
 * checked to be the one judged stale, else put back.
 */
export async function withFileLock<T>(path: string, fn: () => T | Promise<T>, o: LockOptions = {}): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const staleMs = o.staleMs ?? 30_000;
  const start = Date.now();
  let holder = '';
  for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid} ${Date.now()}`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    try {
      holder = readFileSync(path, 'utf8');
    } catch {
      continue; // released between our attempt and the read
    }
    const [pid, since] = holder.split(' ').map(Number);
    if ((pid !== undefined && pid > 0 && !alive(pid)) || (since !== undefined && Date.now() - since > staleMs)) breakStale(path, holder);
    else if (Date.now() - start > timeoutMs) {
      throw new VigilError('VIGIL_ERR_AUDIT_LOCKED', { file: path.replace(/\.lock$/, ''), seconds: Math.round(timeoutMs / 1000), pid: pid ?? '?' });
    } else await sleep(wait);
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // already broken by another process as stale; nothing to release
    }
  }
}

function breakStale(path: string, judged: string): void {
  const aside = `${path}.stale.${process.pid}.${Date.now()}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // another process broke it first
  }
  if (readFileSync(aside, 'utf8') !== judged) {
    // We moved a fresh lock taken after our read: put it back (link fails if yet another took the name).
    try {
      linkSync(aside, path);
    } catch {
      // the name is taken again: that holder has the lock; the fresh one we moved is lost to its owner, who releases nothing
    }
  }
  unlinkSync(aside);
}
