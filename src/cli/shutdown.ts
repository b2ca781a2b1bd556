import type { Logger } from '../log.js';

/**
 * One shutdown path for every long-running command (`start` and the distributed services): the
 * first SIGINT/SIGTERM starts a clean stop, a second one exits at once, and a stop that hangs past
 * its deadline exits anyway.
 */

/** Resolves at the first SIGINT/SIGTERM; any later one exits the process at once (130). */
export function firstSignal(): Promise<string> {
  return new Promise((resolve) => {
    const force = (): never => process.exit(130);
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Exits with code 1 unless the returned function is called within `ms` (a stop that hangs). */
export function exitAfter(ms: number): () => void {
  const timer = setTimeout(() => process.exit(1), ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** `start`: stop on the first signal, within 10 s, then exit 0. */
export function installShutdown(log: Logger, stop: () => Promise<void>): void {
  void firstSignal().then(async (signal) => {
    log.info({ signal }, 'shutting down');
    exitAfter(10_000);
    await stop();
    process.exit(0);
  });
}
