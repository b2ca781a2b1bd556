import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { KafkaBus } from '../../src/bus/kafka.js';
import { parseConfig } from '../../src/config/load.js';
import type { KafkaConfig } from '../../src/config/schema.js';
import type { FacesMsg } from '../../src/contracts/messages.js';
import { VigilError } from '../../src/errors.js';
import { LocalBroker, uniquePrefix } from '../kafka.js';
import { dataDirWithModels, vigil } from './cli.js';
import { ServiceProc } from './kafka-procs.js';

/**
 * Kafka security against a real broker whose SASL_SSL listener needs TLS (a throwaway CA), a client
 * certificate (ssl.client.auth=required) and a SCRAM login (scripts/kafka.sh start --sasl-ssl-port).
 */
const USER = 'vigil-svc';
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}`;
const WRONG = `wrong-${randomBytes(12).toString('base64url')}`;
let broker: LocalBroker;
const buses: KafkaBus[] = [];

beforeAll(async () => {
  broker = await LocalBroker.create({ saslSsl: { user: USER, password: PASSWORD, clientAuth: 'required' } });
}, 240_000);
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await broker?.stop();
});

/** The bus.kafka section as a user writes it: the password as a placeholder. */
function rawKafka(o: { mechanism?: string; ssl?: boolean | 'no-ca' | 'no-cert'; sasl?: boolean; plaintextPort?: boolean } = {}): Record<string, unknown> {
  const tls = broker.tlsDir;
  const ssl = o.ssl === false ? undefined : {
    ...(o.ssl === 'no-ca' ? {} : { ca: join(tls, 'ca.pem') }),
    ...(o.ssl === 'no-cert' ? {} : { cert: join(tls, 'client.pem'), key: join(tls, 'client.key') }),
  };
  return {
    brokers: [o.plaintextPort ? broker.brokers : broker.saslSslBrokers],
    topicPrefix: uniquePrefix('sec'),
    partitions: 1,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 1000,
    connectTimeoutSeconds: 5,
    ...(ssl ? { ssl } : {}),
    ...(o.sasl === false ? {} : { sasl: { mechanism: o.mechanism ?? 'scram-sha-256', username: USER, password: '{VIGIL_KAFKA_PASSWORD}' } }),
  };
}

function kafkaConfig(raw: Record<string, unknown>, password = PASSWORD): KafkaConfig {
  return parseConfig({ bus: { kafka: raw } }, { VIGIL_KAFKA_PASSWORD: password }).bus.kafka!;
}

/** A bus whose log lines (debug and up, kafkajs's included) are kept, to look for the password. */
function bus(k: KafkaConfig): { bus: KafkaBus; logs: string[] } {
  const logs: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (logs.push(chunk.toString()), cb()) });
  const b = new KafkaBus({ kafka: k, log: pino({ level: 'debug' }, sink) });
  buses.push(b);
  return { bus: b, logs };
}

const faces = (seq: number): FacesMsg => ({
  kind: 'faces', v: 1, camera: 'cam-sec', seq, capturedAt: 1_700_000_000_000 + seq, mediaTime: null, frame: { width: 64, height: 48 }, profile: 'p', model: 'm',
  faces: [{ box: [1, 2, 30, 40], score: 0.9, landmarks: [[5, 5]], embedding: new Float32Array([0.6, 0.8]), crop: new Uint8Array([255, 216, 1]) }],
});

async function startError(k: KafkaConfig): Promise<{ err: VigilError; logs: string[] }> {
  const { bus: b, logs } = bus(k);
  const err = await b.start().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(VigilError);
  return { err: err as VigilError, logs };
}

describe('Kafka over TLS with SCRAM', () => {
  it.each(['scram-sha-256', 'scram-sha-512'])('with the right settings (%s) messages are published and consumed; the password is in no log line', async (mechanism) => {
    const k = kafkaConfig(rawKafka({ mechanism }));
    expect(k.sasl?.password).toBe(PASSWORD);
    const { bus: b, logs } = bus(k);
    const got: FacesMsg[] = [];
    b.subscribe('faces', { group: 'sec' }, async (msgs) => void got.push(...msgs));
    await b.start();
    await b.ready();
    for (let i = 0; i < 3; i++) expect(await b.publish('faces', faces(i))).toBe(true);
    const t0 = Date.now();
    while (got.length < 3 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    expect(got.map((m) => m.seq)).toEqual([0, 1, 2]);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join('')).not.toContain(PASSWORD);
  });

  it('a wrong password stops the start with VIGIL_ERR_KAFKA_AUTH naming the user and mechanism, without the password', async () => {
    const { err, logs } = await startError(kafkaConfig(rawKafka(), WRONG));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_AUTH');
    expect(err.message).toContain(`refused the SASL login of user "${USER}" (scram-sha-256)`);
    expect(err.message + err.hint + logs.join('')).not.toContain(WRONG);
  });

  it('a plaintext client at the TLS listener fails with VIGIL_ERR_KAFKA_TLS saying the listener needs TLS', async () => {
    const { err } = await startError(kafkaConfig(rawKafka({ ssl: false, sasl: false })));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_TLS');
    expect(err.message).toMatch(/closed the connection without an answer \d+ times in a row: the listener likely needs TLS \(bus\.kafka\.ssl\)/);
  });

  it('TLS without SASL at the SASL_SSL listener says a SASL login is needed', async () => {
    const { err } = await startError(kafkaConfig(rawKafka({ sasl: false })));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_TLS');
    expect(err.message).toContain('the listener likely needs a SASL login (bus.kafka.sasl)');
  });

  it("a broker certificate from an unknown CA is named", async () => {
    const { err } = await startError(kafkaConfig(rawKafka({ ssl: 'no-ca' })));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_TLS');
    expect(err.message).toContain("does not verify against the system's CAs (set bus.kafka.ssl.ca)");
  });

  it('a missing client certificate is named', async () => {
    const { err } = await startError(kafkaConfig(rawKafka({ ssl: 'no-cert' })));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_TLS');
    expect(err.message).toContain('the brokers refused the TLS handshake: they require a client certificate their CA signed (bus.kafka.ssl.cert and key)');
  });

  it('TLS to a plaintext listener, and an unreadable CA file, are named', async () => {
    const { err } = await startError(kafkaConfig(rawKafka({ plaintextPort: true, sasl: false })));
    expect(err.code).toBe('VIGIL_ERR_KAFKA_TLS');
    expect(err.message).toContain('this listener takes no TLS');

    const missing = join(broker.tlsDir, 'nope.pem');
    expect(() => bus(kafkaConfig({ ...rawKafka(), ssl: { ca: missing } }))).toThrow(`cannot read bus.kafka.ssl.ca (${missing}): ENOENT`);
  });

  it('a password written in the config file itself is refused, without echoing it', () => {
    const raw = { ...rawKafka(), sasl: { mechanism: 'scram-sha-256', username: USER, password: PASSWORD } };
    expect(() => parseConfig({ bus: { kafka: raw } }, {})).toThrow(/bus\.kafka\.sasl\.password: write it as a \{VIGIL_\*\} placeholder/);
    try {
      parseConfig({ bus: { kafka: raw } }, {});
    } catch (err) {
      expect((err as Error).message).not.toContain(PASSWORD);
    }
  });

  it('`vigil match` runs on the secured listener; with a wrong password it exits 77 with VIGIL_ERR_KAFKA_AUTH and no password', async () => {
    const dataDir = await dataDirWithModels();
    const configFile = join(dataDir, 'vigil.yaml');
    await writeFile(configFile, stringify({ dataDir, models: { profile: 'research' }, bus: { kafka: rawKafka() } }));
    const env = { VIGIL_CONFIG: configFile, KAFKA_BROKERS: '' };
    const svc = new ServiceProc('match', ['--replica', 'sec'], { ...env, VIGIL_KAFKA_PASSWORD: PASSWORD });
    try {
      await svc.waitReady();
    } finally {
      expect(await svc.stop()).toBe(0);
    }
    expect(svc.lines.join('\n')).not.toContain(PASSWORD);

    const r = await vigil(['match'], { ...env, VIGIL_KAFKA_PASSWORD: WRONG, VIGIL_LOG_LEVEL: 'debug' });
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`VIGIL_ERR_KAFKA_AUTH: Kafka at ${broker.saslSslBrokers} refused the SASL login of user "${USER}" (scram-sha-256)`);
    expect(r.stdout + r.stderr).not.toContain(WRONG);
  });
});
