import type { Command } from 'commander';
import { out } from '../format.js';
import { setup } from '../setup.js';

/** `vigil validate-config`. */
export function register(program: Command): void {
  program
    .command('validate-config')
    .description('check the config file and print every problem')
    .action((_o: unknown, cmd: Command) => {
      const { cfg } = setup(cmd);
      out(`config OK: ${cfg.cameras.length} camera(s), data in ${cfg.dataDir}`);
    });
}
