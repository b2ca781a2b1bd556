import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatchEvent } from '../../src/contracts/messages.js';
import { LocalBroker, uniquePrefix } from '../kafka.js';
import { deployment, drained, enrollLin, eventKey, Monitor, replayReference, ServiceProc, unlikeEmbedded, until, type Deployment } from './kafka-procs.js';

/**
 * The brokers go away for 10 s in the middle of a live stream (a clip paced in real time): every
 * service must ride it out by itself, without a restart, and lose no alert. This test stops a
 * broker, so it runs one of its own rather than the test run's shared one.
 */
let broker: LocalBroker;
let d: Deployment;
let reference: MatchEvent[];
const procs: ServiceProc[] = [];
const TOKEN = 'kafka-test-token-0123456789';

beforeAll(async () => {
  broker = await LocalBroker.create();
  d = await deployment(broker.brokers, uniquePrefix('outage'), ['live_clip'], { realtime: true });
  await enrollLin(d);
  reference = await replayReference(d);
}, 300_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await d?.admin.close();
  await broker?.stop();
  if (broker) await rm(broker.dir, { recursive: true, force: true });
});

describe('distributed mode: the broker stops for 10 s mid-stream', () => {
  it('every service recovers by itself within 30 s of the broker\'s return, and no alert is lost or shown twice', async () => {
    const services = ['match', 'infer', 'broadcast'].map((n) => new ServiceProc(n, [], d.env));
    procs.push(...services);
    await Promise.all(services.map((p) => p.waitReady()));
    const monitor = await Monitor.connect((await services[2]!.ready).port as number, TOKEN);
    const ingest = new ServiceProc('ingest', [], d.env);
    procs.push(ingest);
    await ingest.waitReady();
    const pids = [...services, ingest].map((p) => p.proc.pid);

    await until(() => monitor.events.length >= 1, 60_000, 'the first alert'); // mid-stream
    await broker.stop();
    await new Promise((r) => setTimeout(r, 10_000));
    const back = Date.now(); // counted from the broker's restart, its own start-up time included
    await broker.start();

    expect(await ingest.exited).toBe(0); // the whole clip was published
    // The clip is all on Kafka; every stage has handled all of it once no group lags.
    await until(() => drained(d), 30_000 - (Date.now() - back), `every stage to catch up (${monitor.events.length} events so far)`);
    const recovered = Date.now() - back;
    await new Promise((r) => setTimeout(r, 1000));
    monitor.close();

    expect(recovered).toBeLessThan(30_000);
    expect(unlikeEmbedded(reference, monitor.events, d.cfg.alerts.updateMinGain)).toEqual([]);
    expect(monitor.events.filter((e) => e.type === 'alert').map(eventKey)).toEqual(reference.filter((e) => e.type === 'alert').map(eventKey));
    const ids = monitor.events.map((e: MatchEvent) => `${e.id}/${e.revision}`);
    expect(new Set(ids).size).toBe(ids.length);
    // Nobody restarted: the same processes, still running (ingest ended by itself with its clip).
    for (const p of services) expect(p.running, `${p.name} is running`).toBe(true);
    expect([...services, ingest].map((p) => p.proc.pid)).toEqual(pids);
    // They noticed, and said so.
    expect(ingest.lines.some((l) => l.includes('publish failed; retrying'))).toBe(true);
  });
});
