import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { checkCamera, checkCapacity, checkClock, checkDataDir, checkFfmpeg, checkKafka, checkModels, checkPorts, checkSinks, type Finding } from './checks.js';

export type { Finding, Status } from './checks.js';

export interface DoctorOptions {
  /** Per camera: connect and decode one frame within this, ms. */
  readonly cameraTimeoutMs: number;
  /** Kafka brokers must answer within this, ms. */
  readonly brokerTimeoutMs: number;
  /** Seconds spent measuring the engine's rate; 0 skips the capacity check. */
  readonly capacitySeconds: number;
  /** Called as each finding is known (the CLI prints as it goes). */
  readonly onFinding?: (f: Finding) => void;
}

/**
 * `vigil doctor`: checks a deployment from its config and says what to fix. Cameras are probed in
 * parallel; the capacity check runs last and only with valid models (it loads the engine).
 */
export async function runDoctor(cfg: Config, log: Logger, o: DoctorOptions): Promise<Finding[]> {
  const all: Finding[] = [];
  const add = (fs: readonly Finding[]): void => {
    for (const f of fs) {
      all.push(f);
      o.onFinding?.(f);
    }
  };
  add(checkFfmpeg());
  const models = await checkModels(cfg, log);
  add(models.findings);
  add(await checkDataDir(cfg.dataDir));
  add(await Promise.all(cfg.cameras.filter((c) => c.enabled).map((c) => checkCamera(c, o.cameraTimeoutMs))));
  add(await checkKafka(cfg, log, o.brokerTimeoutMs));
  add(await checkSinks(cfg, o.brokerTimeoutMs));
  add(await checkPorts(cfg));
  add(checkClock());
  if (o.capacitySeconds > 0 && models.profile) add(await checkCapacity(cfg, log, o.capacitySeconds));
  return all;
}

const mark = { ok: 'ok     ', warn: 'warn   ', problem: 'PROBLEM' } as const;

/** One finding as the CLI prints it: status, check, detail; the fix indented below. */
export function formatFinding(f: Finding): string {
  return `${mark[f.status]} ${f.check}: ${f.detail}${f.fix && f.status !== 'ok' ? `\n        fix: ${f.fix}` : ''}`;
}
