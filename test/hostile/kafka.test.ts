import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createKafkaClient, type KafkaClient } from '../../src/bus/kafka-client.js';
import { DLQ_HEADERS, KafkaBus } from '../../src/bus/kafka.js';
import { DEAD_LETTER, topicOf } from '../../src/bus/kafka-topics.js';
import { kafkaSchema, type KafkaConfig } from '../../src/config/schema.js';
import type { FacesMsg, FrameMsg } from '../../src/contracts/messages.js';
import { createLogger } from '../../src/log.js';
import { loadManifest, resolveProfile } from '../../src/models/manifest.js';
import { dataDirWithModels } from '../integration/cli.js';
import { ServiceProc, until } from '../integration/kafka-procs.js';
import { freePort, readRecords, sharedBrokers, uniquePrefix } from '../kafka.js';

/** Hostile probes of the distributed mode on a real broker (issue 12 item 8). */
const log = createLogger('silent');
let brokers: string;
let client: KafkaClient;
const buses: KafkaBus[] = [];

beforeAll(async () => {
  brokers = await sharedBrokers();
  client = createKafkaClient({ brokers: brokers.split(','), clientId: 'hostile', log });
}, 300_000);
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await client?.close();
});

/**
 * A valid baseline JPEG of one grey colour, any size, made in microseconds: every 8x8 block is "DC
 * unchanged, end of block", two bits with one-code Huffman tables. 16000x16000 is 1 MB on the wire
 * and 768 MB decoded: a decompression bomb.
 */
function greyJpeg(width: number, height: number): Buffer {
  const seg = (marker: number, body: number[]): Buffer => Buffer.from([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body]);
  const oneCode = (tableClassAndId: number): Buffer => seg(0xc4, [tableClassAndId, 1, ...new Array<number>(15).fill(0), 0x00]);
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    seg(0xdb, [0x00, ...new Array<number>(64).fill(1)]),
    seg(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
    oneCode(0x00),
    oneCode(0x10),
    seg(0xda, [1, 1, 0x00, 0, 63, 0]),
    Buffer.alloc(Math.ceil((blocks * 2) / 8)),
    Buffer.from([0xff, 0xd9]),
  ]);
}

/** A frames-topic record as the wire codec writes it: [u32 header length][JSON header][JPEG]. */
function frameRecord(camera: string, seq: number, header: { width: number; height: number }, jpeg: Buffer): Buffer {
  const h = Buffer.from(JSON.stringify({ kind: 'frame', v: 1, camera, seq, capturedAt: 1_700_000_000_000 + seq, mediaTime: null, ...header }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([len, h, jpeg]);
}

describe('a frame small on the wire but huge decoded', () => {
  it('goes to the dead-letter topic with the reason, before decoding, and the consumer goes on', async () => {
    const k: KafkaConfig = kafkaSchema.parse({ brokers: brokers.split(','), topicPrefix: uniquePrefix('bomb'), partitions: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 });
    expect(k.maxFramePixels).toBe(7680 * 4320);
    const bus = new KafkaBus({ kafka: k, log });
    buses.push(bus);
    const handled: FrameMsg[] = [];
    bus.subscribe('frames', { group: 'inference' }, async (msgs) => void handled.push(...msgs));
    await bus.start();
    await bus.ready();

    const bomb = greyJpeg(16000, 16000);
    expect(bomb.length).toBeLessThan(1_100_000);
    const sender = client.sender();
    await sender.send(topicOf(k, 'frames'), [
      // Honest about its size, and lying about it (the JPEG's own header is what counts).
      { key: 'cam', value: frameRecord('cam', 1, { width: 16000, height: 16000 }, bomb) },
      { key: 'cam', value: frameRecord('cam', 2, { width: 64, height: 48 }, bomb) },
      { key: 'cam', value: frameRecord('cam', 3, { width: 64, height: 48 }, greyJpeg(64, 48)) },
    ], 30_000);
    await sender.close();

    const t0 = Date.now();
    while (!handled.some((f) => f.seq === 3) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    expect(handled.map((f) => f.seq)).toEqual([3]);

    const dead = await readRecords(client, topicOf(k, DEAD_LETTER), 2, k.topicPrefix);
    expect(dead.map((m) => m.headers[DLQ_HEADERS.code])).toEqual(['VIGIL_ERR_BUS_DECODE', 'VIGIL_ERR_BUS_DECODE']);
    for (const m of dead) expect(m.headers[DLQ_HEADERS.reason]).toContain('frame of 16000x16000 (256000000 px) is above the limit of 33177600 px (bus.kafka.maxFramePixels); not decoded');
  });
});

describe('infer and match on different profiles', () => {
  it('`vigil match` logs an error naming both profiles and counts vigil_profile_mismatch_total instead of staying silent', async () => {
    const manifest = loadManifest();
    const research = resolveProfile(manifest, 'research').embeddingModel;
    const permissive = resolveProfile(manifest, 'permissive').embeddingModel;
    expect(research).not.toBe(permissive);
    const dataDir = await dataDirWithModels();
    const configFile = join(dataDir, 'vigil.yaml');
    const kafka = { brokers: brokers.split(','), topicPrefix: uniquePrefix('profiles'), partitions: 1, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 };
    await writeFile(configFile, stringify({ dataDir, models: { profile: 'research' }, bus: { kafka } }));
    const port = await freePort();
    const svc = await ServiceProc.start('match', ['--replica', 'r1', '--metrics', `127.0.0.1:${port}`], { VIGIL_CONFIG: configFile, KAFKA_BROKERS: '' });
    try {
      // What a `vigil infer --profile permissive` publishes.
      const bus = new KafkaBus({ kafka: kafkaSchema.parse(kafka), log });
      buses.push(bus);
      const msg = (seq: number): FacesMsg => ({
        kind: 'faces', v: 1, camera: 'cam', seq, capturedAt: 1_700_000_000_000 + seq * 200, mediaTime: null, frame: { width: 64, height: 48 }, profile: 'permissive', model: permissive,
        faces: [{ box: [1, 2, 30, 40], score: 0.9, landmarks: [], embedding: new Float32Array(128).fill(0.088), crop: new Uint8Array([0xff, 0xd8]) }],
      });
      for (let i = 0; i < 3; i++) expect(await bus.publish('faces', msg(i))).toBe(true);
      await until(() => svc.lines.some((l) => l.includes('profile mismatch')), 30_000, 'the profile mismatch error');
      const line = JSON.parse(svc.lines.find((l) => l.includes('profile mismatch'))!) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 50, faceProfile: 'permissive', faceModel: permissive, indexProfile: 'research', indexModel: research, mismatched: 1 });
      await until(async () => (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json() as { profileMismatches: number }).profileMismatches === 3, 30_000, '3 mismatches counted');
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain(`vigil_profile_mismatch_total{face_model="${permissive}",index_model="${research}"} 3`);
    } finally {
      await svc.stop();
    }
  });
});
