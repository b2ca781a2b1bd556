import type { Command } from 'commander';
import { formatFinding, runDoctor } from '../../doctor/index.js';
import { VigilError } from '../../errors.js';
import { setup } from '../setup.js';

/** `vigil doctor`: checks the deployment the config describes; exits non-zero when a check found a problem. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('check this deployment (ffmpeg, models, data dir, cameras, Kafka, sinks, ports, clock, capacity) and say what to fix')
    .option('--timeout <s>', 'seconds each camera and the brokers get to answer', (v) => Number(v), 10)
    .option('--capacity-seconds <s>', 'seconds spent measuring this machine\'s inference rate (0: skip)', (v) => Number(v), 3)
    .option('--json', 'print the findings as JSON')
    .action(async (o: { timeout: number; capacitySeconds: number; json?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'error');
      const out = (l: string): void => void process.stdout.write(`${l}\n`);
      const findings = await runDoctor(cfg, log, {
        cameraTimeoutMs: o.timeout * 1000,
        brokerTimeoutMs: o.timeout * 1000,
        capacitySeconds: o.capacitySeconds,
        onFinding: o.json ? undefined : (f) => out(formatFinding(f)),
      });
      if (o.json) out(JSON.stringify({ findings }, null, 2));
      const problems = findings.filter((f) => f.status === 'problem').length;
      if (problems > 0) throw new VigilError('VIGIL_ERR_DOCTOR_PROBLEMS', { count: problems });
      if (!o.json) out(`no problems found (${findings.filter((f) => f.status === 'warn').length} warning(s))`);
    });
}
