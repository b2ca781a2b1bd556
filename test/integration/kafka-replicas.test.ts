import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaBus } from '../../src/bus/kafka.js';
import { parseConfig } from '../../src/config/load.js';
import type { FacesMsg, SubjectRecord } from '../../src/contracts/messages.js';
import { createLogger } from '../../src/log.js';
import { loadManifest, resolveProfile } from '../../src/models/manifest.js';
import { startMatch } from '../../src/services/match.js';
import type { RunningService } from '../../src/services/service.js';
import { publishWatchlist } from '../../src/services/watchlist.js';
import { tempDir } from '../helpers.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { until } from './kafka-procs.js';

/** Matcher replicas are interchangeable: each builds its index from the watchlist topic and follows it live. */
const log = createLogger('silent');
const closers: (() => Promise<void>)[] = [];
let brokers: string;
beforeAll(async () => {
  brokers = await sharedBrokers();
}, 300_000);
afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

// The research profile's embedding model id and size (its faces and enrollments carry that id).
const research = resolveProfile(loadManifest(), 'research');
const MODEL = research.embeddingModel;
const DIM = research.recognizer.embeddingSize;
function unit(seed: number): number[] {
  const v = Array.from({ length: DIM }, (_, i) => Math.sin(seed * 1000 + i * 7.3));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe('matcher replicas on Kafka', () => {
  it('a subject enrolled while two replicas run is matched by the second replica (and the first) within 2 s', async () => {
    const cfg = parseConfig(
      { dataDir: await tempDir(), models: { profile: 'research' }, bus: { kafka: { brokers: brokers.split(','), topicPrefix: uniquePrefix('replicas'), partitions: 4, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 } } },
      {},
    );
    const replicas: RunningService[] = [];
    for (const replica of ['r1', 'r2']) {
      const r = await startMatch(cfg, log, { replica });
      closers.push(() => r.stop());
      replicas.push(r);
    }
    const producer = new KafkaBus({ kafka: cfg.bus.kafka!, log });
    closers.push(() => producer.close());
    const cameras = Array.from({ length: 8 }, (_, i) => `cam${i}`);
    let seq = 0;
    const t = 1_800_000_000_000;
    const frame = async (vector: number[]): Promise<void> => {
      seq++;
      for (const camera of cameras) {
        const m: FacesMsg = {
          kind: 'faces', v: 1, camera, seq, capturedAt: t + seq * 200, mediaTime: null, frame: { width: 640, height: 360 }, profile: 'research', model: MODEL,
          faces: [{ box: [100, 100, 180, 200], score: 0.9, landmarks: [], embedding: Float32Array.from(vector), crop: new Uint8Array([0xff, 0xd8]) }],
        };
        await producer.publish('faces', m);
      }
    };
    // Both replicas own cameras (the group split the partitions between them); nobody is enrolled yet.
    await until(async () => {
      await frame(unit(1));
      return replicas.every((r) => (r.health().faces as number) > 0);
    }, 30_000, `both replicas to get faces (${JSON.stringify(replicas.map((r) => r.health()))})`);
    expect(replicas.every((r) => r.health().alerts === 0)).toBe(true);

    const now = new Date().toISOString();
    const subject: SubjectRecord = { id: 'ada', name: 'Ada', createdAt: now, updatedAt: now, images: [], embeddings: [{ model: MODEL, image: 'x', vector: unit(2) }] };
    await publishWatchlist(cfg, log, [{ op: 'upsert', subject }]); // what `vigil enroll` does with Kafka configured
    const t0 = Date.now();
    const firstAlert: (number | undefined)[] = [undefined, undefined];
    await until(async () => {
      await frame(unit(2));
      replicas.forEach((r, i) => {
        if (firstAlert[i] === undefined && (r.health().alerts as number) > 0) firstAlert[i] = Date.now() - t0;
      });
      return firstAlert.every((x) => x !== undefined);
    }, 10_000, 'an alert from each replica');
    expect(firstAlert[1]).toBeLessThan(2000);
    expect(firstAlert[0]).toBeLessThan(2000);
    expect(replicas.map((r) => r.health().subjects)).toEqual([1, 1]);
  });
});
