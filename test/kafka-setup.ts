import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { stopSharedBroker } from './kafka.js';

/**
 * The Kafka broker is started once per test run, lazily: by the first test file that calls
 * sharedBrokers() (test/kafka.ts), so runs without Kafka tests start no JVM. This setup gives the
 * run a folder for it and stops it at the end (the broker also watches this process and stops
 * by itself if the run dies).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runDir = await mkdtemp(join(tmpdir(), 'vigil-kafka-run-'));
  project.provide('kafkaRunDir', runDir);
  project.provide('vitestPid', process.pid);
  return async () => {
    await stopSharedBroker(runDir);
    await rm(runDir, { recursive: true, force: true });
  };
}
