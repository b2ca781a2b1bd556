import type { Command } from 'commander';
import { register as registerAlerts } from './commands/alerts.js';
import { register as registerFace } from './commands/face.js';
import { register as registerIngest } from './commands/ingest.js';
import { register as registerFeed } from './commands/feed.js';
import { register as registerKafka } from './commands/kafka.js';
import { register as registerIndex } from './commands/index.js';
import { register as registerSearch } from './commands/search.js';
import { register as registerThroughput } from './commands/throughput.js';

/**
 * `vigil bench ...`: the benchmarks live outside the product (bench/) and add their own commands
 * onto the product's CLI; src/cli/main.ts loads this module only when `vigil bench` runs.
 */
export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('benchmarks: accuracy, alerting, throughput');
  registerAlerts(bench);
  registerFace(bench);
  registerIngest(bench);
  registerKafka(bench);
  registerFeed(bench);
  registerIndex(bench);
  registerSearch(bench);
  registerThroughput(bench);
}
