import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/config/load.js';
import { isVigilError } from '../../../src/errors.js';
import { tempDir } from '../../helpers.js';

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isVigilError(e, 'VIGIL_ERR_CONFIG_INVALID')) return e.message;
    throw e;
  }
  throw new Error('expected VIGIL_ERR_CONFIG_INVALID');
}

describe('config', () => {
  it('fills defaults and freezes the result', () => {
    const cfg = parseConfig({ cameras: [{ id: 'door', url: 'a.mp4' }] }, {});
    expect(cfg.cameras[0]).toMatchObject({ fps: 5, maxWidth: 1280, realtime: true, enabled: true });
    expect(cfg.inference.provider).toBe('cpu');
    expect(Object.isFrozen(cfg.cameras[0])).toBe(true);
  });

  it('names every bad key: unknown, out of range, wrong pattern, duplicate camera id', () => {
    const msg = problems(() => parseConfig({ bogus: 1, inference: { threads: 0 }, cameras: [{ id: 'a b', url: 'x' }] }, {}));
    expect(msg).toMatch(/bogus/);
    expect(msg).toMatch(/inference\.threads/);
    expect(msg).toMatch(/cameras\.0\.id/);
    expect(problems(() => parseConfig({ cameras: [{ id: 'a', url: 'x' }, { id: 'a', url: 'y' }] }, {}))).toMatch(/cameras\[1\]\.id: duplicate/);
  });

  it('substitutes only {VIGIL_*} placeholders, and names a missing variable', () => {
    const cfg = parseConfig({ cameras: [{ id: 'a', url: 'rtsp://u:{VIGIL_PW}@h/s' }] }, { VIGIL_PW: 's3cret' });
    expect(cfg.cameras[0]!.url).toBe('rtsp://u:s3cret@h/s');
    expect(problems(() => parseConfig({ cameras: [{ id: 'a', url: 'rtsp://u:{VIGIL_NOPE}@h/s' }] }, {}))).toMatch(/cameras\[0\]\.url: environment variable VIGIL_NOPE/);
  });

  it('reads YAML files and reports a missing file by name', async () => {
    const dir = await tempDir();
    const f = join(dir, 'vigil.yaml');
    await writeFile(f, 'cameras:\n  - id: door\n    url: rtsp://cam/1\n    fps: 2\n');
    expect(loadConfig(f, {}).cameras[0]!.fps).toBe(2);
    expect(() => loadConfig(join(dir, 'nope.yaml'), {})).toThrow(/cannot read config file .*nope\.yaml/);
  });

  it('takes Kafka TLS and SASL settings, the SASL password only as a placeholder (never echoed)', () => {
    const kafka = (password: string, ssl: Record<string, unknown> = { ca: 'ca.pem' }) => ({ bus: { kafka: { ssl, sasl: { mechanism: 'scram-sha-512', username: 'vigil', password } } } });
    const cfg = parseConfig(kafka('{VIGIL_KAFKA_PASSWORD}'), { VIGIL_KAFKA_PASSWORD: 'hunter2-xyz' });
    expect(cfg.bus.kafka).toMatchObject({ ssl: { ca: 'ca.pem', rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: 'vigil', password: 'hunter2-xyz' }, maxFramePixels: 7680 * 4320 });
    const literal = problems(() => parseConfig(kafka('hunter2-xyz'), {}));
    expect(literal).toMatch(/bus\.kafka\.sasl\.password: write it as a \{VIGIL_\*\} placeholder/);
    expect(literal).not.toContain('hunter2-xyz');
    expect(problems(() => parseConfig(kafka('{VIGIL_KAFKA_PASSWORD}', { cert: 'c.pem' }), { VIGIL_KAFKA_PASSWORD: 'x' }))).toMatch(/bus\.kafka\.ssl: cert and key go together/);
  });
});
