import type { Command } from 'commander';

/** The `vigil bench` group: each benchmark module adds its subcommand here (bench lfw, bench alerts, ...). */
export function benchGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'bench') ?? program.command('bench').description('benchmarks: accuracy, alerting, throughput');
}
