import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaClientOf, readAuditTopic, startAuditWriter } from '../../src/audit/kafka.js';
import { KafkaBus } from '../../src/bus/kafka.js';
import { embeddedPolicies, MemoryBus } from '../../src/bus/memory.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { FacesMsg, MatchEvent } from '../../src/contracts/messages.js';
import { FaceEngine, faceSize } from '../../src/inference/engine.js';
import { loadRgb } from '../../src/inference/image-io.js';
import { createLogger } from '../../src/log.js';
import { learnFromDismissal } from '../../src/matcher/api.js';
import { WatchlistFollower } from '../../src/matcher/follow.js';
import { SubjectIndex } from '../../src/matcher/index.js';
import { ListPolicy } from '../../src/matcher/lists.js';
import { WatchlistStore } from '../../src/matcher/watchlist.js';
import { loadManifest, matchThreshold } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { startBroadcast } from '../../src/services/broadcast.js';
import { startMatch } from '../../src/services/match.js';
import type { RunningService } from '../../src/services/service.js';
import { publishWatchlist, watchlistEdits } from '../../src/services/watchlist.js';
import { matcherStage } from '../../src/stages.js';
import { lfw, tempDir, testModelsDir } from '../helpers.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { Monitor, until } from './kafka-procs.js';

/**
 * Per-list operating points, list priorities and negative examples from dismissals: the distributed
 * matcher (`vigil match` on Kafka, lists and negatives from the watchlist topic, the dismissal from
 * the `vigil broadcast` acknowledgement API) gives the embedded matcher's events on the same faces.
 * Real faces (LFW, research profile, embedded once); real broker.
 *
 * Watchlist: Naomi Watts (no list), Aaron Peirsol on list "strict" (threshold 0.9), Carlos Ghosn on
 * list "vip" (priority 7, the default threshold 0.25, deliberately loose so that a look-alike
 * alerts). Alicia Silverstone, not enrolled, is Naomi Watts's look-alike in both her photos
 * (cosine 0.28 and 0.27). Each appearance is three frames of one face on a camera of its own.
 */
const log = createLogger('silent');
const TOKEN = 'kafka-lists-token-0123456789';
const THRESHOLD = 0.25;
const photos = { naomi: 'Naomi_Watts', aaron: 'Aaron_Peirsol', carlos: 'Carlos_Ghosn', alicia: 'Alicia_Silverstone' } as const;
type Who = keyof typeof photos;
const emb = new Map<string, Float32Array>();
const face = (who: Who, n: 1 | 2): Float32Array => emb.get(`${who}${n}`)!;
let model: string;
let dim: number;
let store: WatchlistStore;
let cfg: Config;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const r = await requireProfile(loadManifest(), testModelsDir(), 'research');
  const engine = await FaceEngine.open(r.resolved, r.files, { provider: 'cpu', threads: 1 }, { detectSize: 320 });
  try {
    for (const [who, person] of Object.entries(photos)) {
      for (const n of [1, 2]) {
        const fs = await engine.analyze(await loadRgb(lfw(person, `${person}_000${n}.jpg`)));
        emb.set(`${who}${n}`, fs.sort((a, b) => faceSize(b.detection) - faceSize(a.detection))[0]!.embedding);
      }
    }
    model = engine.model;
    dim = engine.embedder.size;
  } finally {
    await engine.close();
  }
  const brokers = await sharedBrokers();
  cfg = parseConfig(
    {
      dataDir: await tempDir(),
      models: { profile: 'research' },
      matcher: { threshold: THRESHOLD },
      broadcast: { port: 0, token: TOKEN },
      bus: { kafka: { brokers: brokers.split(','), topicPrefix: uniquePrefix('lists'), partitions: 2, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 } },
    },
    {},
  );
  // The one watchlist both modes start from (embedded: watchlist.db; distributed: published from it, as `vigil publish-watchlist` does).
  store = await new WatchlistStore(await tempDir()).load();
  closers.push(() => store.close());
  store.putList({ name: 'strict', priority: 1, colour: null, threshold: 0.9, targetFpir: null });
  store.putList({ name: 'vip', priority: 7, colour: '#d33', threshold: null, targetFpir: null });
  const enroll = (who: Who, lists: string[]): Promise<void> =>
    store.upsert({ id: who, name: photos[who], createdAt: 't', updatedAt: 't', images: [{ sha256: who, name: 'x.jpg' }], embeddings: [{ model, image: who, vector: Array.from(face(who, 1)) }], ...(lists.length ? { lists } : {}) });
  await enroll('naomi', []);
  await enroll('aaron', ['strict']);
  await enroll('carlos', ['vip']);
}, 300_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c();
});

/** One appearance: three frames of one face on `camera`. */
function appearance(camera: string, embedding: Float32Array, t0: number): FacesMsg[] {
  return [0, 1, 2].map((i) => ({
    kind: 'faces', v: 1, camera, seq: i, capturedAt: t0 + i * 200, mediaTime: null, frame: { width: 640, height: 360 }, profile: 'research', model,
    faces: [{ box: [100, 100, 180, 200], score: 0.9, landmarks: [], embedding, crop: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]) }],
  }));
}

const T0 = 1_800_000_000_000;
const before = (): FacesMsg[] => [...appearance('strict', face('aaron', 2), T0), ...appearance('vip', face('carlos', 2), T0), ...appearance('look1', face('alicia', 1), T0)];
const after = (): FacesMsg[] => [...appearance('look2', face('alicia', 2), T0 + 10_000), ...appearance('true', face('naomi', 2), T0 + 10_000)];

/** What must agree between the modes (ids are deterministic: camera, track start, subject). */
const outcome = (events: readonly MatchEvent[]): string[] =>
  events.map((e) => `${e.camera} ${e.type}#${e.revision} ${e.id} ${e.subject.id} sim ${e.similarity} threshold ${e.threshold} list ${e.list ?? '-'} priority ${e.priority ?? '-'}`).sort();

describe('lists and negative examples in the distributed matcher', () => {
  let embedded: MatchEvent[];

  it('embedded: the stricter list does not alert, the list and its priority are on the event, a dismissed look-alike does not alert again', async () => {
    const bus = new MemoryBus(embeddedPolicies(cfg.queues, false));
    const { index, seq } = SubjectIndex.fromStore(store, model, dim);
    const policy = new ListPolicy(THRESHOLD, (targetFpir) => matchThreshold(loadManifest().profiles.research!, { targetFpir }).threshold);
    policy.update(store.lists());
    const matcher = matcherStage(cfg, bus, index, THRESHOLD, undefined, log, undefined, policy);
    const follower = new WatchlistFollower({ store, index, policy, from: seq, log });
    const events: MatchEvent[] = [];
    bus.subscribe('matches', { group: 'test' }, (es) => void events.push(...es));
    await matcher.start();
    for (const m of before()) await bus.publish('faces', m);
    await bus.idle();
    const look = events.find((e) => e.camera === 'look1' && e.type === 'alert')!;
    expect(look.subject.id).toBe('naomi');
    // What the embedded pipeline does on a dismissal (src/pipeline.ts onAck): kept in watchlist.db, followed into the index.
    expect(learnFromDismissal(store, model, matcher, look.id, log)).toBe(true);
    expect(follower.poll()).toBe(1);
    for (const m of after()) await bus.publish('faces', m);
    await bus.idle();
    await matcher.stop();
    await bus.close();
    embedded = events;

    // The probes are real: by the default threshold Aaron's other photo, and Alicia's second photo, would alert.
    const plain = SubjectIndex.build(model, dim, store.list()); // no lists, no negatives
    expect(plain.search(face('aaron', 2), 1)[0]!).toMatchObject({ subject: { id: 'aaron' } });
    expect(plain.search(face('aaron', 2), 1)[0]!.similarity).toBeGreaterThan(THRESHOLD + 0.3);
    expect(plain.search(face('alicia', 2), 1)[0]!).toMatchObject({ subject: { id: 'naomi' } });
    expect(plain.search(face('alicia', 2), 1)[0]!.similarity).toBeGreaterThan(THRESHOLD);
    expect(events.filter((e) => e.camera === 'strict' || e.camera === 'look2')).toEqual([]);

    const alerts = events.filter((e) => e.type === 'alert');
    expect(alerts.map((e) => `${e.camera}:${e.subject.id}:${e.list ?? '-'}:${e.priority ?? '-'}`).sort()).toEqual(['look1:naomi:-:-', 'true:naomi:-:-', 'vip:carlos:vip:7']);
    console.log(`embedded: ${outcome(events).join('\n  ')}`);
  });

  it('distributed: `vigil match` and `vigil broadcast` on Kafka give the same events, the dismissal made on the broadcaster included', async () => {
    await publishWatchlist(cfg, log, watchlistEdits(withoutNegatives()));
    const match: RunningService = await startMatch(cfg, log, { replica: 'lists-1' });
    closers.push(() => match.stop());
    const broadcast: RunningService = await startBroadcast(cfg, log, { port: 0 });
    closers.push(() => broadcast.stop());
    const port = broadcast.info.port as number;
    const monitor = await Monitor.connect(port, TOKEN);
    closers.push(() => monitor.close());
    const producer = new KafkaBus({ kafka: cfg.bus.kafka!, log });
    closers.push(() => producer.close());
    const auditWriter = await startAuditWriter(cfg, log);
    closers.push(() => auditWriter.stop());

    for (const m of before()) await producer.publish('faces', m);
    await until(() => match.health().faces === 9 && monitor.events.filter((e) => e.type === 'alert').length >= 2, 30_000, `phase 1 (${JSON.stringify(match.health())})`);
    await new Promise((r) => setTimeout(r, 500)); // anything late would show now
    const look = monitor.events.find((e) => e.camera === 'look1' && e.type === 'alert')!;
    expect(look).toBeDefined();

    // The operator dismisses the look-alike's alert on the broadcaster (the console's call).
    const res = await fetch(`http://127.0.0.1:${port}/api/events/${look.id}/ack`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'dismissed', note: 'not her' }),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    await until(() => match.health().negativeSubjects === 1, 10_000, 'the negative example to reach the matcher');
    // ... and the dismissal is in the distributed audit log, as the embedded mode puts it in audit.jsonl.
    await until(() => auditWriter.health().written === 1, 10_000, 'the dismissal in the audit topic');
    const client = kafkaClientOf(cfg.bus.kafka!, log);
    const audit = (await readAuditTopic(client, cfg.bus.kafka!)).records.map((l) => JSON.parse(l) as Record<string, unknown>);
    await client.close();
    expect(audit).toMatchObject([{ seq: 0, action: 'alert.dismissed', alert: look.id, subject: 'naomi', camera: 'look1', note: 'not her', actor: expect.any(String) }]);

    for (const m of after()) await producer.publish('faces', m);
    await until(() => match.health().faces === 15 && monitor.events.some((e) => e.camera === 'true'), 30_000, `phase 2 (${JSON.stringify(match.health())})`);
    await new Promise((r) => setTimeout(r, 500));
    console.log(`distributed: ${outcome(monitor.events).join('\n  ')}`);
    expect(outcome(monitor.events)).toEqual(outcome(embedded));

    // A list edited while the matcher runs (`vigil watchlist set-list strict --threshold 0.5` publishes this) applies at once.
    const t0 = Date.now();
    await publishWatchlist(cfg, log, [{ op: 'list', list: { name: 'strict', priority: 1, colour: null, threshold: 0.5, targetFpir: null } }]);
    for (const m of appearance('strict-again', face('aaron', 2), T0 + 20_000)) await producer.publish('faces', m);
    await until(() => monitor.events.some((e) => e.camera === 'strict-again'), 10_000, 'an alert under the edited list');
    expect(monitor.events.find((e) => e.camera === 'strict-again')).toMatchObject({ type: 'alert', subject: { id: 'aaron' }, list: 'strict', priority: 1, threshold: 0.5 });
    console.log(`list edit to alert: ${Date.now() - t0} ms`);
  });
});

/** The watchlist as it was before the embedded test's dismissal (the distributed run must learn it itself). */
function withoutNegatives(): WatchlistStore {
  store.db.prepare('DELETE FROM negatives').run();
  return store;
}
