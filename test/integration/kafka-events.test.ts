import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { vigil } from './cli.js';
import { deployment, drained, enrollLin, ServiceProc, until, type Deployment } from './kafka-procs.js';

/**
 * Issue 9's "done when" in the distributed mode: the broadcast service owns the event store; it is
 * killed (-9) while a camera's events flow and restarted. Nothing sent before the crash is lost,
 * nothing is stored twice (Kafka redelivers what was stored but not committed), and a client
 * resuming from its last cursor gets every later event exactly once.
 */
interface Ev {
  kind: string;
  id?: string;
  revision?: number;
  type?: string;
  camera?: string;
  seq?: number;
  cursor?: string;
}

const TOKEN = 'kafka-test-token-0123456789';
let d: Deployment;
const procs: ServiceProc[] = [];

beforeAll(async () => {
  d = await deployment(await sharedBrokers(), uniquePrefix('events'), ['cam_a', 'cam_b', 'cam_c']);
  await enrollLin(d);
  procs.push(...(await Promise.all(['match', 'infer'].map((n) => ServiceProc.start(n, [], d.env)))));
}, 300_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await d?.admin.close();
});

function feed(port: number, after?: string): { events: Ev[]; ws: WebSocket } {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/?token=${TOKEN}${after ? `&after=${encodeURIComponent(after)}` : ''}`);
  const events: Ev[] = [];
  ws.on('message', (m) => {
    const e = JSON.parse(m.toString()) as Ev;
    if (e.kind === 'match') events.push(e);
  });
  return { events, ws };
}

const ingest = (camera: string) => vigil(['ingest', '--camera', camera], { ...d.env, VIGIL_LOG_LEVEL: 'warn' }, 180_000);
const key = (e: Ev): string => `${e.id}#${e.revision}`;
const dupes = (keys: string[]): string[] => keys.filter((k, i) => keys.indexOf(k) !== i);
const stored = async (port: number, q = ''): Promise<Ev[]> =>
  ((await (await fetch(`http://127.0.0.1:${port}/api/events?type=alert,update&limit=1000${q}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { events: Ev[] }).events;

describe('distributed mode: the broadcast service owns the event store', () => {
  it('survives kill -9 mid-stream: nothing lost, nothing twice, a resumed client gets every later event once', async () => {
    let broadcast = await ServiceProc.start('broadcast', [], d.env);
    procs.push(broadcast);
    let port = (await broadcast.ready).port as number;
    const m1 = feed(port);
    await new Promise((r) => m1.ws.once('open', r));
    expect((await ingest('cam_a')).code).toBe(0);
    await until(() => drained(d), 120_000, 'cam_a through every stage');
    const perCamera = m1.events.filter((e) => e.camera === 'cam_a').length;
    expect(perCamera).toBeGreaterThanOrEqual(1);

    // cam_b streams; the broadcaster is killed as soon as its first event is out.
    const streaming = ingest('cam_b');
    await until(() => m1.events.some((e) => e.camera === 'cam_b'), 120_000, 'the first cam_b event');
    await broadcast.crash();
    const before = [...m1.events];
    const lastCursor = before[before.length - 1]!.cursor!;
    m1.ws.terminate();
    expect((await streaming).code).toBe(0);

    broadcast = await ServiceProc.start('broadcast', [], d.env);
    procs.push(broadcast);
    port = (await broadcast.ready).port as number;
    const m2 = feed(port, lastCursor);
    await until(() => drained(d), 120_000, 'cam_b through every stage');
    expect((await ingest('cam_c')).code).toBe(0);
    await until(() => drained(d), 120_000, 'cam_c through every stage');
    await until(() => m2.events.filter((e) => e.camera === 'cam_c').length >= perCamera, 60_000, 'cam_c on the resumed feed');
    await new Promise((r) => setTimeout(r, 500));

    const all = await stored(port);
    const storedKeys = all.map(key);
    expect(before.map(key).filter((k) => !storedKeys.includes(k)), 'sent before the crash, not stored').toEqual([]);
    expect(dupes(storedKeys), 'stored twice').toEqual([]);
    for (const cam of ['cam_a', 'cam_b', 'cam_c']) expect(all.filter((e) => e.camera === cam).length, cam).toBe(perCamera);
    // The resumed client: exactly the stored events after its cursor, in order, once each.
    const after = await stored(port, `&after=${encodeURIComponent(lastCursor)}`);
    expect(m2.events.map(key)).toEqual(after.map(key));
    expect(dupes([...before, ...m2.events].map(key))).toEqual([]);
    console.log(`broadcast kill -9: ${before.length} events before the crash, ${m2.events.length} after on the resumed feed, ${all.length} stored, no duplicates`);
    m2.ws.close();
  }, 600_000);
});
