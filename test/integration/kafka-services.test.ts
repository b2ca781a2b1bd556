import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/bus/kafka.js';
import { DEAD_LETTER, topicOf } from '../../src/bus/kafka-topics.js';
import type { MatchEvent } from '../../src/contracts/messages.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { vigil } from './cli.js';
import { deployment, drained, enrollLin, eventKey, Monitor, readTopic, replayReference, ServiceProc, unlikeEmbedded, until, type Deployment } from './kafka-procs.js';

/**
 * The distributed mode end to end on a real broker: four service processes (ingest, infer, match,
 * broadcast) against the embedded pipeline on the same clip, then crashes of a stage mid-stream.
 */
let d: Deployment;
/** The embedded pipeline's events, and the distributed mode's undisturbed run (kill tests compare with it). */
let reference: MatchEvent[];
let undisturbed: string[];
let monitor: Monitor;
const procs = new Map<string, ServiceProc>();
const TOKEN = 'kafka-test-token-0123456789';

beforeAll(async () => {
  d = await deployment(await sharedBrokers(), uniquePrefix('services'), ['short_hamilton_clip', 'cam_b', 'cam_c']);
  await enrollLin(d);
  reference = await replayReference(d);
  for (const n of ['match', 'infer', 'broadcast']) procs.set(n, new ServiceProc(n, ['--metrics', '127.0.0.1:0'], d.env));
  await Promise.all([...procs.values()].map((p) => p.waitReady()));
  monitor = await Monitor.connect((await procs.get('broadcast')!.ready).port as number, TOKEN);
}, 300_000);

afterAll(async () => {
  monitor?.close();
  await Promise.all([...procs.values()].map((p) => p.stop()));
  await d?.admin.close();
});

/** No (id, revision) twice: what the monitor must never see. */
const duplicates = (events: readonly MatchEvent[]): string[] => {
  const seen = new Set<string>();
  return events.map((e) => `${e.id}/${e.revision}`).filter((k) => seen.has(k) || !seen.add(k));
};

const health = async (name: string): Promise<Record<string, number>> => (await fetch(`http://${(await procs.get(name)!.ready).metrics as string}/healthz`)).json() as Promise<Record<string, number>>;

async function ingest(camera: string): Promise<void> {
  const r = await vigil(['ingest', '--camera', camera], { ...d.env, VIGIL_LOG_LEVEL: 'info' }, 120_000);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toContain('"frames":50');
}

async function finished(camera: string, expected: number): Promise<void> {
  await until(() => monitor.of(camera).length >= expected, 90_000, `${expected} events for ${camera} (got ${monitor.of(camera).length})`);
  await until(() => drained(d), 30_000, 'every stage to catch up');
  await new Promise((r) => setTimeout(r, 500)); // anything late would show now
}

describe('distributed mode: one service per stage on Kafka', () => {
  it('a video through four service processes yields the events of the embedded pipeline; junk on every topic is dead-lettered and processing goes on', async () => {
    expect(reference.filter((e) => e.type === 'alert').length).toBeGreaterThanOrEqual(1);
    // Malformed messages on each topic before the video: each must land in the dead-letter topic.
    const raw = d.admin.sender();
    for (const t of ['frames', 'faces', 'matches', 'watchlist'] as const) await raw.send(topicOf(d.kafka, t), [{ key: 'junk', value: Buffer.from(`not a ${t} message`) }], 10_000);
    await raw.close();

    await ingest('short_hamilton_clip');
    await finished('short_hamilton_clip', reference.filter((e) => e.type === 'alert').length);
    const got = monitor.of('short_hamilton_clip');
    expect(unlikeEmbedded(reference, got, d.cfg.alerts.updateMinGain)).toEqual([]);
    expect(got.filter((e) => e.type === 'alert').map(eventKey)).toEqual(reference.filter((e) => e.type === 'alert').map(eventKey));
    undisturbed = got.map(eventKey).sort();
    expect(duplicates(got)).toEqual([]);
    expect(new Set(got.map((e) => e.id)).size).toBe(1); // one appearance: one alert id, its updates share it
    expect(got.map((e) => e.seq)).toEqual([...got.map((e) => e.seq)].sort((a, b) => a - b)); // camera order

    const dead = await readTopic(d, topicOf(d.kafka, DEAD_LETTER), 4);
    expect(dead.map((m) => m.headers[DLQ_HEADERS.topic]).sort()).toEqual(['faces', 'frames', 'matches', 'watchlist']);
    for (const m of dead) {
      expect(m.value?.toString()).toBe(`not a ${m.headers[DLQ_HEADERS.topic]} message`);
      expect(m.headers[DLQ_HEADERS.reason]).toMatch(new RegExp(`message on topic ${m.headers[DLQ_HEADERS.topic]} rejected: `));
    }
    for (const p of procs.values()) expect(p.running).toBe(true);
  });

  for (const [stage, camera] of [
    ['infer', 'cam_b'],
    ['match', 'cam_c'],
  ] as const) {
    it(`killing the ${stage} process mid-stream and starting it again loses no event, and the monitor sees none twice`, async () => {
      const run = ingest(camera);
      // Mid-stream: the first alert is out, the rest of the clip is still to be handled.
      await until(() => monitor.of(camera).length >= 1, 60_000, `the first event for ${camera}`);
      await procs.get(stage)!.crash();
      const restarted = new ServiceProc(stage, ['--metrics', '127.0.0.1:0'], d.env);
      procs.set(stage, restarted);
      await restarted.waitReady();
      await run;
      await finished(camera, undisturbed.length);
      const got = monitor.of(camera);
      expect(got.map(eventKey).sort()).toEqual(undisturbed); // exactly the undisturbed distributed run
      expect(duplicates(got)).toEqual([]);
      // The restarted process really took over unfinished work.
      const h = await health(stage);
      if (stage === 'infer') expect(h.frames).toBeGreaterThan(0);
      else expect(restarted.lines.some((l) => l.includes('"msg":"state restored"'))).toBe(true);
    });
  }

  it('recognises redelivered copies (a stage that crashed between publishing and committing): the monitor sees nothing new', async () => {
    const camera = 'short_hamilton_clip';
    const before = monitor.of(camera).length;
    const [m0, b0] = [await health('match'), await health('broadcast')];
    const faces = (await readTopic(d, topicOf(d.kafka, 'faces'), 50)).filter((r) => r.key === camera);
    const matches = (await readTopic(d, topicOf(d.kafka, 'matches'), before)).filter((r) => r.key === camera);
    expect(faces.length).toBe(50);
    const raw = d.admin.sender();
    await raw.send(topicOf(d.kafka, 'faces'), faces.slice(20, 40).map((r) => ({ key: r.key, value: r.value })), 10_000);
    await raw.send(topicOf(d.kafka, 'matches'), matches.map((r) => ({ key: r.key, value: r.value })), 10_000);
    await raw.close();
    await until(() => drained(d), 30_000, 'every stage to catch up');
    await new Promise((r) => setTimeout(r, 500));
    expect(monitor.of(camera).length).toBe(before);
    expect((await health('match')).redeliveredFacesDropped! - m0.redeliveredFacesDropped!).toBe(20);
    expect((await health('broadcast')).duplicatesDropped! - b0.duplicatesDropped!).toBe(matches.length);
  });
});
