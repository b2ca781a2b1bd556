import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createLogger, setRootLogger, type Logger } from '../log.js';

/**
 * What every command starts with: the validated config (from -c/--config or VIGIL_CONFIG) and the
 * root logger at the configured level (--verbose: debug; VIGIL_LOG_LEVEL overrides the file).
 */
export function setup(cmd: Command, defaultLevel?: string): { cfg: Config; log: Logger } {
  const g = cmd.optsWithGlobals<{ config?: string; verbose?: boolean }>();
  const cfg = loadConfig(g.config);
  const log = createLogger(g.verbose ? 'debug' : (process.env.VIGIL_LOG_LEVEL ?? defaultLevel ?? cfg.log.level));
  setRootLogger(log);
  return { cfg, log };
}
