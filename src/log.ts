import { pino, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

/**
 * The one root logger. Logs go to stderr so that stdout stays clean for machine-readable output
 * (`vigil replay --json` prints one event per line there). Credentials in URLs are redacted by the
 * callers through the one redactor (src/ingest/redact.ts) before they reach a log line.
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

export type { Logger };
