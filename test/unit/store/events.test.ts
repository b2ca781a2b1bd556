import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { CameraStatus, MatchEvent, SightingMsg } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';
import { SqliteEventStore } from '../../../src/store/events.js';
import type { OperatorAction, StoredEvent } from '../../../src/store/types.js';
import { tempDir } from '../../helpers.js';
import { matchEvent, sighting } from './fixtures.js';

const status = (camera: string, state: CameraStatus['state'], at: string): CameraStatus => ({
  kind: 'camera-status', v: 1, camera, name: null, state, previous: null, at, url: 'rtsp://x', attempt: 0, retryInMs: null, frames: 0, lastFrameAt: null, error: null,
});

const open = async (o: { now?: () => number; maxCrops?: number; registry?: Registry; dir?: string } = {}) =>
  SqliteEventStore.open(o.dir ?? (await tempDir()), { retentionDays: 1, maxCrops: o.maxCrops ?? 100, purgeIntervalMs: 0, now: o.now, registry: o.registry });

describe('SqliteEventStore', () => {
  it('appends in order with cursors, reads pages after a cursor, and keeps crops as 0600 data', async () => {
    const dir = await tempDir();
    const s = await open({ dir });
    const a = await s.append(matchEvent('a'));
    const b = await s.append(status('door', 'live', '2026-01-01T00:00:01.000Z'));
    const c = await s.append(matchEvent('a', { type: 'update', revision: 1, similarity: 0.8 }));
    expect(s.compare(a.cursor, b.cursor)).toBeLessThan(0);
    expect(s.compare(c.cursor, b.cursor)).toBeGreaterThan(0);
    const all = await s.read(null, 10);
    expect(all.events.map((e) => e.cursor)).toEqual([a.cursor, b.cursor, c.cursor]);
    expect(all.next).toBe(c.cursor);
    expect((all.events[0] as MatchEvent).crop).toBe(matchEvent('a').crop);
    const page = await s.read(a.cursor, 1);
    expect(page.events.map((e) => e.cursor)).toEqual([b.cursor]);
    const lean = await s.read(null, 10, undefined, { crops: false });
    expect('crop' in lean.events[0]!).toBe(false);
    expect(await s.head()).toBe(c.cursor);
    const got = await s.get('a');
    expect(got).toMatchObject({ id: 'a', revision: 1, similarity: 0.8, ack: null });
    expect(statSync(join(dir, 'events.db')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await s.close();
  });

  it('is idempotent on (id, revision): a redelivered event keeps its cursor and is not announced again', async () => {
    const s = await open();
    const seen: StoredEvent[] = [];
    s.subscribe((e) => seen.push(e));
    const first = await s.append(matchEvent('a'));
    const again = await s.append(matchEvent('a'));
    expect(again.cursor).toBe(first.cursor);
    expect(seen).toHaveLength(1);
    expect((await s.read(null, 10)).events).toHaveLength(1);
    await s.close();
  });

  it('filters by camera, subject and type; files an ack under its alert; keeps the latest ack', async () => {
    const s = await open();
    await s.append(matchEvent('a'));
    await s.append(matchEvent('b', { camera: 'yard', subject: { id: 'bob', name: 'Bob' } }));
    await s.append(status('yard', 'live', '2026-01-01T00:00:01.000Z'));
    const ack = (state: OperatorAction['state']): OperatorAction => ({ kind: 'ack', v: 1, eventId: 'b', state, note: null, actor: 'operator:desk', at: new Date().toISOString(), camera: 'yard', subjectId: 'bob' });
    await s.append(ack('acknowledged'));
    await s.append(ack('dismissed'));
    const ids = async (f: Parameters<typeof s.read>[2]) => (await s.read(null, 10, f)).events.map((e) => (e.kind === 'match' ? e.id : e.kind));
    expect(await ids({ cameras: ['yard'] })).toEqual(['b', 'camera-status', 'ack', 'ack']);
    expect(await ids({ subjects: ['bob'], types: ['alert'] })).toEqual(['b']);
    expect(await ids({ types: ['ack'] })).toEqual(['ack', 'ack']);
    expect((await s.get('b'))?.ack).toMatchObject({ state: 'dismissed', actor: 'operator:desk' });
    expect((await s.readBackward(null, 2)).events.map((e) => e.kind)).toEqual(['ack', 'ack']);
    expect((await s.cameras()).map((c) => c.camera)).toEqual(['yard']);
    await s.close();
  });

  it('stores sightings like match events: under their alert, type "sighting", crop kept out of lists, once per id', async () => {
    const s = await open();
    const seen: StoredEvent[] = [];
    s.subscribe((e) => seen.push(e));
    await s.append(matchEvent('a'));
    const g1 = await s.append(sighting('g1', 'a'));
    expect((await s.append(sighting('g1', 'a'))).cursor).toBe(g1.cursor);
    await s.append(sighting('g2', 'b', { camera: 'yard', subject: { id: 'bob', name: 'Bob' } }));
    expect(seen.map((e) => e.kind)).toEqual(['match', 'sighting', 'sighting']);
    const only = (await s.read(null, 10, { types: ['sighting'] })).events as StoredEvent<SightingMsg>[];
    expect(only.map((e) => [e.id, e.alertId])).toEqual([['g1', 'a'], ['g2', 'b']]);
    expect(only[0]!.crop).toBe(sighting('g1', 'a').crop);
    const lean = (await s.read(null, 10, { types: ['sighting'], subjects: ['bob'], cameras: ['yard'] }, { crops: false })).events;
    expect(lean.map((e) => [e.kind, 'crop' in e])).toEqual([['sighting', false]]);
    // The alert itself is still its latest match event, not a sighting filed under its id.
    expect(await s.get('a')).toMatchObject({ kind: 'match', id: 'a' });
    await s.close();
  });

  it('refuses a malformed cursor and one from another store with VIGIL_ERR_EVENTS_CURSOR', async () => {
    const s = await open();
    const other = await open();
    const theirs = await other.append(matchEvent('x'));
    await s.append(matchEvent('a'));
    for (const bad of ['nonsense', '', '!!!', Buffer.from('zz:1').toString('base64url'), theirs.cursor]) {
      const err = await s.read(bad, 10).catch((e: unknown) => e);
      expect(isVigilError(err, 'VIGIL_ERR_EVENTS_CURSOR'), String(bad)).toBe(true);
    }
    await s.close();
    await other.close();
  });

  it('purges rows past retention and crops beyond maxCrops, counting both; cursors stay monotonic', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const registry = new Registry();
    const s = await open({ now: () => now, maxCrops: 2, registry });
    await s.append(matchEvent('old'));
    now += 2 * 86_400_000;
    const kept = [await s.append(matchEvent('n1')), await s.append(matchEvent('n2')), await s.append(matchEvent('n3'))];
    expect(s.purge()).toEqual({ events: 1, crops: 1 });
    const rest = (await s.read(null, 10)).events as StoredEvent<MatchEvent>[];
    expect(rest.map((e) => [e.id, e.crop !== ''])).toEqual([['n1', false], ['n2', true], ['n3', true]]);
    const next = await s.append(matchEvent('n4'));
    expect(s.compare(next.cursor, kept[2]!.cursor)).toBeGreaterThan(0);
    expect(await registry.getSingleMetricAsString('vigil_events_purged_total')).toMatch(/what="events"} 1[\s\S]*what="crops"} 1/);
    await s.close();
  });

  it('purges sightings past retention, and their crops beyond maxCrops, like match events', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const s = await open({ now: () => now, maxCrops: 1 });
    await s.append(sighting('old', 'a'));
    now += 2 * 86_400_000;
    await s.append(sighting('n1', 'a'));
    await s.append(sighting('n2', 'a'));
    expect(s.purge()).toEqual({ events: 1, crops: 1 });
    const rest = (await s.read(null, 10)).events as StoredEvent<SightingMsg>[];
    expect(rest.map((e) => [e.id, e.crop !== ''])).toEqual([['n1', false], ['n2', true]]);
    await s.close();
  });

  it('a corrupt events.db is a clear VIGIL_ERR_EVENTS_STORE, and the file is left as it was', async () => {
    const { writeFileSync, readFileSync } = await import('node:fs');
    const dir = await tempDir();
    const junk = Buffer.from('this is not a SQLite database, just bytes '.repeat(200));
    writeFileSync(join(dir, 'events.db'), junk);
    const err = await open({ dir }).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_EVENTS_STORE'), String(err)).toBe(true);
    expect(readFileSync(join(dir, 'events.db')).equals(junk)).toBe(true);
  });
});
