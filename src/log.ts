import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

/**
 * The one root logger. Logs go to stderr so that stdout stays clean for machine-readable output
 * (`vigil replay --json` prints one event per line there). Credentials in URLs are redacted by the
 * callers through `redactUrl` before they reach a log line.
 */
export function createLogger(level: string = process.env.VIGIL_LOG_LEVEL ?? 'info'): Logger {
  // A person at a terminal reads lines (pino-pretty); pipes, files and log shippers get JSON lines.
  const human = process.stderr.isTTY && process.env.VIGIL_LOG_FORMAT !== 'json';
  const dest = human ? pinoPretty({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' }) : pino.destination({ fd: 2, sync: false });
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

let root: Logger | undefined;
export function rootLogger(): Logger {
  root ??= createLogger();
  return root;
}
export function setRootLogger(l: Logger): void {
  root = l;
}

/** rtsp://user:pass@host/x -> rtsp://user:***@host/x; also hides `password=`/`token=` query values. */
export function redactUrl(url: string): string {
  return url
    .replace(/([a-z][a-z0-9+.-]*:\/\/)([^/@:\s]+):([^/@\s]*)@/gi, '$1$2:***@')
    .replace(/([?&](?:password|passwd|pwd|token|auth|key)=)[^&#\s]*/gi, '$1***');
}

export type { Logger };
