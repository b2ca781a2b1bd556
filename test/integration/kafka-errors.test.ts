import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { faces as facePhoto, tempDir } from '../helpers.js';
import { freePort } from '../kafka.js';
import { dataDirWithModels, vigil } from './cli.js';

describe('distributed mode: clear errors', () => {
  it('a stage service without a Kafka configuration says what to set', async () => {
    const r = await vigil(['match'], { VIGIL_DATA_DIR: await tempDir(), KAFKA_BROKERS: '', VIGIL_CONFIG: '' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('VIGIL_ERR_KAFKA_NOT_CONFIGURED: `vigil match` runs a stage of the distributed mode');
    expect(r.stderr).toContain('KAFKA_BROKERS=host:port');
  });

  it('enrolling while the brokers are away keeps the subject locally and says how to publish it later', async () => {
    const dataDir = await dataDirWithModels();
    const configFile = join(dataDir, 'vigil.yaml');
    await writeFile(configFile, stringify({ dataDir, models: { profile: 'research' }, bus: { kafka: { brokers: [`127.0.0.1:${await freePort()}`], connectTimeoutSeconds: 2 } } }));
    const env = { VIGIL_CONFIG: configFile, KAFKA_BROKERS: '' };
    const r = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', facePhoto('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    expect(r.code).toBe(69);
    expect(r.stdout).toContain('enrolled Lin-Manuel Miranda [lin_manuel_miranda]');
    expect(r.stderr).toMatch(/VIGIL_ERR_KAFKA_UNAVAILABLE: Kafka at 127\.0\.0\.1:\d+ did not answer within 2 s/);
    expect(r.stderr).toContain('run `vigil publish-watchlist` once the brokers answer');
    expect((await vigil(['watchlist', 'list'], env)).stdout).toContain('lin_manuel_miranda');
  });
});
