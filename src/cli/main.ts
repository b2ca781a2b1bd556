#!/usr/bin/env node
import { Command, Option } from 'commander';
import { isVigilError, VigilError } from '../errors.js';
import { register as registerEnroll } from './commands/enroll.js';
import { register as registerModels } from './commands/models.js';
import { register as registerReplay } from './commands/replay.js';
import { register as registerServices } from './commands/services.js';
import { register as registerStart } from './commands/start.js';
import { register as registerValidateConfig } from './commands/validate-config.js';
import { register as registerWatchlist } from './commands/watchlist.js';
import { register as registerSinks } from './commands/sinks.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerAudit } from './commands/audit.js';
import { register as registerSearch } from './commands/search.js';
import { err } from './format.js';

// `vigil replay --json | head -1`: the reader went away; stop quietly, as a Unix filter does.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command('vigil')
  .description('Vigil: live face-watchlist alerts for CCTV cameras')
  .addOption(new Option('-c, --config <file>', 'config file (YAML or JSON)').env('VIGIL_CONFIG'))
  .option('--verbose', 'stack traces on errors, debug logs')
  .showHelpAfterError();

/**
 * The benchmarks (bench/) register their own `vigil bench ...` commands; the product loads them only
 * when `vigil bench` or the help runs, otherwise it lists the group without loading bench code.
 */
async function registerBench(program: Command, argv: string[]): Promise<void> {
  const [first] = program.parseOptions(argv.slice(2)).operands;
  const wanted = first === undefined || first === 'bench' || first === 'help';
  const bench = wanted ? await import('../../bench/cli.js').catch(benchMissing) : undefined;
  if (bench) return bench.registerBenchCommands(program);
  program
    .command('bench')
    .description('benchmarks: accuracy, alerting, throughput')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new VigilError('VIGIL_ERR_BENCH_MISSING');
    });
}

/** An installation without bench/ still runs the product; any other failure to load it is a bug to show. */
function benchMissing(e: NodeJS.ErrnoException): undefined {
  if (e.code === 'ERR_MODULE_NOT_FOUND' && /bench[\\/]cli/.test(e.message)) return undefined;
  throw e;
}

// Every command lives in commands/ (one module a command or group); the order is the help's order.
registerStart(program);
registerReplay(program);
registerEnroll(program);
registerWatchlist(program);
registerModels(program);
registerValidateConfig(program);
registerServices(program);
registerSinks(program);
registerDoctor(program);
registerAudit(program);
registerSearch(program);
await registerBench(program, process.argv);

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const verbose = argv.includes('--verbose');
    if (isVigilError(e)) {
      err(`${e.code}: ${e.message}`);
      err(`  hint: ${e.hint}`);
      if (verbose && e.stack) err(e.stack);
      process.exitCode = e.exitCode;
    } else {
      err(`error: ${(e as Error).message}`);
      if (verbose && (e as Error).stack) err((e as Error).stack!);
      process.exitCode = 1;
    }
    // A command that failed half-way may leave a handle open (an inference worker thread, a socket):
    // the error is said, so end within 2 s rather than hang. Unref'd: a clean exit is not delayed.
    setTimeout(() => process.exit(), 2000).unref();
  }
}

await main(process.argv);
