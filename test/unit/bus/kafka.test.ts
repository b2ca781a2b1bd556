import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaClient, type InMessage, type KafkaClient } from '../../../src/bus/kafka-client.js';
import { DLQ_HEADERS, KafkaBus } from '../../../src/bus/kafka.js';
import { DEAD_LETTER, groupOf, topicOf } from '../../../src/bus/kafka-topics.js';
import { kafkaSchema, type KafkaConfig } from '../../../src/config/schema.js';
import { codecs } from '../../../src/contracts/codecs.js';
import type { FacesMsg, FrameMsg, MatchEvent, SubjectRecord, TopicName, WatchlistChange } from '../../../src/contracts/messages.js';
import { createLogger } from '../../../src/log.js';
import { registry } from '../../../src/metrics.js';
import { readRecords, sharedBrokers, uniquePrefix } from '../../kafka.js';

const log = createLogger('silent');
let brokers: string;
let admin: KafkaClient;
const buses: KafkaBus[] = [];

beforeAll(async () => {
  brokers = await sharedBrokers(); // the first test file to ask starts the run's broker (and may fetch it once)
  admin = createKafkaClient({ brokers: brokers.split(','), clientId: 'test-admin', log });
}, 300_000);
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  await admin?.close();
});

function config(name: string, extra: Partial<KafkaConfig> = {}): KafkaConfig {
  return kafkaSchema.parse({ brokers: brokers.split(','), topicPrefix: uniquePrefix(name), partitions: 3, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000, lagIntervalSeconds: 0.5, ...extra });
}

function bus(k: KafkaConfig, restoreMs?: Partial<Record<TopicName, number>>, policies?: ConstructorParameters<typeof KafkaBus>[0]['policies']): KafkaBus {
  const b = new KafkaBus({ kafka: k, log, restoreMs, policies });
  buses.push(b);
  return b;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const faces = (camera: string, seq: number): FacesMsg => ({
  kind: 'faces', v: 1, camera, seq, capturedAt: 1_700_000_000_000 + seq * 200, mediaTime: seq / 5, frame: { width: 64, height: 48 }, profile: 'p', model: 'm',
  faces: [{ box: [1, 2, 30, 40], score: 0.9, landmarks: [[5, 5]], embedding: new Float32Array([0.6, 0.8]), crop: new Uint8Array([255, 216, 1]) }],
});

const frame = (camera: string, seq: number, width = 32, height = 16): FrameMsg => ({
  kind: 'frame', v: 1, camera, seq, capturedAt: 1_700_000_000_000 + seq, mediaTime: null, image: { width, height, data: new Uint8Array(width * height * 3).fill(seq % 256) },
});

/** A match event in its v1 wire form, decoded as the current version (independent of the event's evolution). */
async function match(camera: string, seq: number): Promise<MatchEvent> {
  const v1 = {
    kind: 'match', v: 1, id: `m-${camera}-${seq}`, subject: { id: 's', name: 'S' }, similarity: 0.7, threshold: 0.4, candidates: [{ subject: { id: 's', name: 'S' }, similarity: 0.7 }],
    camera, seq, capturedAt: '2026-01-01T00:00:00.000Z', mediaTime: 1, box: [1, 2, 3, 4], frame: { width: 10, height: 10 }, detectorScore: 0.9, crop: 'AAAA', profile: 'p', model: 'm',
  };
  return codecs.matches.decode(Buffer.from(JSON.stringify(v1)));
}

const subject = (id: string, vector: number[] = [1, 0]): SubjectRecord => ({
  id, name: id.toUpperCase(), createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', images: [], embeddings: [{ model: 'm', image: 'x', vector }],
});

/** Reads a whole topic with a throwaway group (what landed there). */
function readAll(k: KafkaConfig, topic: string, expected: number): Promise<InMessage[]> {
  return readRecords(admin, topic, expected, k.topicPrefix, 20_000);
}

describe('KafkaBus on a real broker', () => {
  it('creates every topic with its stated partitions, retention and compaction', async () => {
    const k = config('topics', { retention: { framesMinutes: 5, facesMinutes: 30, matchesDays: 90, deadLetterDays: 3 } });
    await bus(k).start();
    const frames = await admin.describeTopic(topicOf(k, 'frames'));
    expect(frames.partitions).toBe(3);
    expect(frames.config['retention.ms']).toBe(String(5 * 60_000));
    expect(Number(frames.config['max.message.bytes'])).toBeGreaterThanOrEqual(10 * 1024 * 1024); // a 1080p JPEG fits
    expect((await admin.describeTopic(topicOf(k, 'faces'))).config['retention.ms']).toBe(String(30 * 60_000));
    expect((await admin.describeTopic(topicOf(k, 'matches'))).config['retention.ms']).toBe(String(90 * 86_400_000));
    const wl = await admin.describeTopic(topicOf(k, 'watchlist'));
    expect(wl.partitions).toBe(1);
    expect(wl.config['cleanup.policy']).toBe('compact');
    expect((await admin.describeTopic(topicOf(k, DEAD_LETTER))).config['retention.ms']).toBe(String(3 * 86_400_000));
    // A second service starting against the same topics leaves them as they are.
    await bus(k).start();
  });

  it('carries every topic between two buses, keyed by camera, in order per camera', async () => {
    const k = config('roundtrip');
    const a = bus(k);
    const b = bus(k);
    const got = { frames: [] as FrameMsg[], faces: [] as FacesMsg[], matches: [] as MatchEvent[], watchlist: [] as WatchlistChange[] };
    b.subscribe('frames', { group: 'g', maxBatch: 4 }, (ms) => void got.frames.push(...ms));
    b.subscribe('faces', { group: 'g' }, (ms) => void got.faces.push(...ms));
    b.subscribe('matches', { group: 'g' }, (ms) => void got.matches.push(...ms));
    b.subscribe('watchlist', { group: 'g' }, (ms) => void got.watchlist.push(...ms));
    await b.ready();
    for (let seq = 0; seq < 10; seq++) {
      for (const cam of ['c1', 'c2', 'c3']) await a.publish('faces', faces(cam, seq));
    }
    for (let seq = 0; seq < 3; seq++) await a.publish('frames', frame('c1', seq));
    expect(await a.publish('matches', await match('c1', 7))).toBe(true);
    expect(await a.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: subject('ann') })).toBe(true);
    await until(() => got.faces.length === 30 && got.frames.length === 3 && got.matches.length === 1 && got.watchlist.length === 1, 20_000, 'all messages');
    for (const cam of ['c1', 'c2', 'c3']) {
      expect(got.faces.filter((f) => f.camera === cam).map((f) => f.seq)).toEqual([...Array(10).keys()]);
    }
    expect(Array.from(got.faces[0]!.faces[0]!.embedding)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(got.frames.map((f) => [f.seq, f.image.width, f.image.height])).toEqual([[0, 32, 16], [1, 32, 16], [2, 32, 16]]);
    expect(got.matches[0]).toEqual(await match('c1', 7));
    expect(got.watchlist[0]).toMatchObject({ op: 'upsert', subject: { id: 'ann' } });
    // One camera's messages are on one partition: keyed by camera.
    const onTopic = await readAll(k, topicOf(k, 'faces'), 30);
    expect(new Set(onTopic.filter((m) => m.key === 'c1').map((m) => m.offset)).size).toBe(10);
    expect(a.stats().faces.published).toBe(30);
  });

  it('sends a malformed message on each topic to the dead-letter topic with the reason, and goes on', async () => {
    const k = config('dlq');
    const b = bus(k);
    const got: string[] = [];
    for (const t of ['frames', 'faces', 'matches', 'watchlist'] as const) b.subscribe(t, { group: 'g' }, (ms) => void got.push(...ms.map(() => t)));
    await b.ready();
    const raw = admin.sender();
    for (const t of ['frames', 'faces', 'matches', 'watchlist'] as const) await raw.send(topicOf(k, t), [{ key: 'junk', value: Buffer.from(`{"v":1,"kind":"${t}"`) }], 10_000);
    await raw.send(topicOf(k, 'faces'), [{ key: 'c', value: Buffer.from(JSON.stringify({ kind: 'faces', v: 9 })) }], 10_000);
    await raw.close();
    // Processing goes on: a good message after the junk is handled.
    await b.publish('faces', faces('c', 1));
    await b.publish('watchlist', { kind: 'watchlist', v: 1, op: 'remove', id: 'x' });
    await until(() => got.includes('faces') && got.includes('watchlist'), 20_000, 'the good messages');
    const dead = await readAll(k, topicOf(k, DEAD_LETTER), 5);
    const byTopic = new Map(dead.map((m) => [`${m.headers[DLQ_HEADERS.topic]}:${m.value?.toString().slice(0, 12)}`, m]));
    expect(dead.map((m) => m.headers[DLQ_HEADERS.topic]).sort()).toEqual(['faces', 'faces', 'frames', 'matches', 'watchlist']);
    for (const m of dead) {
      expect(m.headers[DLQ_HEADERS.reason]).toMatch(/rejected: /);
      expect(m.headers[DLQ_HEADERS.code]).toBe('VIGIL_ERR_BUS_DECODE');
      // A table reader has a group of its own per subscriber.
      const t = m.headers[DLQ_HEADERS.topic] as TopicName;
      if (t === 'watchlist') expect(m.headers[DLQ_HEADERS.group]).toMatch(new RegExp(`^${k.topicPrefix.replace(/\./g, '\\.')}g\\.[0-9a-f]{8}\\.watchlist$`));
      else expect(m.headers[DLQ_HEADERS.group]).toBe(groupOf(k, 'g', t));
      expect(m.headers[DLQ_HEADERS.offset]).toMatch(/^\d+$/);
    }
    expect([...byTopic.values()].find((m) => m.value?.toString().includes('"v":9'))?.headers[DLQ_HEADERS.reason]).toMatch(/unsupported version 9/);
    expect(dead.find((m) => m.headers[DLQ_HEADERS.topic] === 'frames')?.headers[DLQ_HEADERS.reason]).toMatch(/topic frames/);
    expect(b.stats().faces.failed).toBe(2);
  });

  it('retries a failing handler, then dead-letters what keeps failing, and handles the next message', async () => {
    const k = config('poison');
    const b = bus(k);
    let tries = 0;
    const handled: number[] = [];
    b.subscribe('faces', { group: 'g' }, (ms) => {
      for (const m of ms) {
        if (m.seq === 1 && ++tries <= 1) throw new Error('transient');
        if (m.seq === 2) throw new Error('poison pill');
        handled.push(m.seq);
      }
    });
    await b.ready();
    for (const seq of [1, 2, 3]) await b.publish('faces', faces('c', seq));
    await until(() => handled.includes(3), 20_000, 'seq 3');
    expect(handled).toEqual([1, 3]);
    const dead = await readAll(k, topicOf(k, DEAD_LETTER), 1);
    expect(dead[0]!.headers[DLQ_HEADERS.reason]).toBe('handler failed: poison pill');
  });

  it('commits only after the handler resolved: a consumer stopped mid-handler leaves the message to the next one', async () => {
    const k = config('alo');
    const first = bus(k);
    let release!: () => void;
    const started = new Promise<void>((r) => {
      first.subscribe('faces', { group: 'g' }, async () => {
        r();
        await new Promise<void>((x) => (release = x));
      });
    });
    await first.ready();
    await first.publish('faces', faces('c', 42));
    await started;
    await Promise.race([first.close(), new Promise((r) => setTimeout(r, 500))]);
    release();
    await first.close();
    const second = bus(k);
    const seen: number[] = [];
    second.subscribe('faces', { group: 'g' }, (ms) => void seen.push(...ms.map((m) => m.seq)));
    await until(() => seen.includes(42), 30_000, 'redelivery');
    await until(async () => (await second.lag()).every((l) => l.lag === 0), 10_000, 'lag 0');
  });

  it('loads a table whole before any stream message is handled, and follows it live', async () => {
    const k = config('table');
    const writer = bus(k);
    for (const id of ['a', 'b', 'c']) await writer.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: subject(id) });
    await writer.publish('watchlist', { kind: 'watchlist', v: 1, op: 'remove', id: 'b' });
    for (let seq = 0; seq < 5; seq++) await writer.publish('faces', faces('cam', seq));
    const index = new Set<string>();
    const atFace: number[] = [];
    const replica = bus(k);
    replica.subscribe('faces', { group: 'matcher' }, (ms) => void ms.forEach(() => atFace.push(index.size)));
    replica.subscribe('watchlist', { group: 'matcher-r1' }, (cs) => {
      for (const c of cs) c.op === 'upsert' ? index.add(c.subject.id) : c.op === 'remove' && index.delete(c.id);
    });
    await replica.ready();
    expect([...index].sort()).toEqual(['a', 'c']);
    await until(() => atFace.length === 5, 20_000, 'faces');
    expect(atFace).toEqual([2, 2, 2, 2, 2]); // no face was handled before the table was loaded
    const t0 = Date.now();
    await writer.publish('watchlist', { kind: 'watchlist', v: 1, op: 'upsert', subject: subject('d') });
    await until(() => index.has('d'), 5000, 'live change');
    expect(Date.now() - t0).toBeLessThan(2000);
    // A second replica (its own reader group) builds the same table.
    const other = new Set<string>();
    const r2 = bus(k);
    r2.subscribe('watchlist', { group: 'matcher-r2' }, (cs) => void cs.forEach((c) => (c.op === 'upsert' ? other.add(c.subject.id) : c.op === 'remove' && other.delete(c.id))));
    await r2.ready();
    expect([...other].sort()).toEqual(['a', 'c', 'd']);
  });

  it('measures consumer lag per group (metric and lag())', async () => {
    const k = config('lag');
    const p = bus(k);
    for (let seq = 0; seq < 6; seq++) await p.publish('faces', faces('c', seq));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = bus(k);
    c.subscribe('faces', { group: 'slow' }, async () => {
      await gate;
    });
    await c.ready();
    await until(async () => (await c.lag())[0]?.lag === 6, 10_000, 'lag 6');
    await until(async () => (await registry.getSingleMetricAsString('vigil_kafka_consumer_lag')).includes(`group="${groupOf(k, 'slow', 'faces')}",topic="faces"} 6`), 10_000, 'the gauge');
    release();
    await until(async () => (await c.lag())[0]?.lag === 0, 20_000, 'lag 0');
  });

  it('a member taking over a partition rebuilds state from recent history with publishing off', async () => {
    const k = config('restore');
    const first = bus(k);
    first.subscribe('faces', { group: 'matcher' }, async (ms) => {
      for (const m of ms) await first.publish('matches', await match(m.camera, m.seq));
    });
    await first.ready();
    for (let seq = 0; seq < 4; seq++) await first.publish('faces', faces('c', seq));
    await until(async () => (await first.lag())[0]?.lag === 0, 20_000, 'first member done');
    await first.close();
    for (let seq = 4; seq < 6; seq++) await bus(k).publish('faces', faces('c', seq));

    const second = bus(k, { faces: 60_000 });
    const seen: number[] = [];
    second.subscribe('faces', { group: 'matcher' }, async (ms) => {
      for (const m of ms) {
        seen.push(m.seq);
        await second.publish('matches', await match(m.camera, m.seq));
      }
    });
    await until(() => seen.includes(5), 30_000, 'new work');
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]); // history first (state), then the new messages
    // What the history produced was published the first time only: 6 match events in all.
    const out = await readAll(k, topicOf(k, 'matches'), 6);
    expect(out.map((m) => JSON.parse(m.value!.toString()).seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('keeps a camera\'s order when publishes are not awaited (a live camera), and bounds a drop-oldest lane', async () => {
    const k = config('lanes');
    const live = bus(k, undefined, { frames: { capacity: 2, overflow: 'drop-oldest' } });
    const got: FrameMsg[] = [];
    const reader = bus(k);
    reader.subscribe('frames', { group: 'g', maxBatch: 8 }, (ms) => void got.push(...ms));
    await reader.ready();
    // Big and small frames alternate, so their JPEG encodings take different times.
    const sent = await Promise.all(Array.from({ length: 20 }, (_, seq) => live.publish('frames', seq % 2 ? frame('cam', seq, 32, 16) : frame('cam', seq, 1280, 720))));
    const kept = sent.flatMap((ok, seq) => (ok ? [seq] : []));
    expect(kept.length).toBeLessThan(20); // the lane holds 2 waiting frames: the rest were dropped, oldest first
    expect(kept).toContain(19); // the newest frame is never the one dropped
    expect(live.stats().frames.dropped).toBe(20 - kept.length);
    await until(() => got.length === kept.length, 20_000, 'the kept frames');
    expect(got.map((f) => f.seq)).toEqual(kept); // in camera order
    // Unbounded topics never drop, and keep order too.
    const faceSeqs = Array.from({ length: 30 }, (_, i) => i);
    expect(await Promise.all(faceSeqs.map((seq) => live.publish('faces', faces('cam', seq))))).toEqual(faceSeqs.map(() => true));
    const seen = await readAll(k, topicOf(k, 'faces'), 30);
    expect(seen.map((m) => JSON.parse(m.value!.toString()).seq)).toEqual(faceSeqs);
  });
});
