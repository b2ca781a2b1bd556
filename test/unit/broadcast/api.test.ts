import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatchEvent } from '../../../src/contracts/messages.js';
import { matchEvent } from '../store/fixtures.js';
import { connect, startServer, TOK, until } from './feed-helpers.js';

type Server = Awaited<ReturnType<typeof startServer>>;
let s: Server;
beforeAll(async () => {
  s = await startServer();
});
afterAll(async () => {
  await s.stop();
});

const ids = (events: Record<string, unknown>[]) => events.filter((e) => e['kind'] === 'match').map((e) => `${String(e['id'])}#${String(e['revision'])}`);

describe('HTTP API', () => {
  it('refuses a missing or unknown token (401) and a too-weak role (403) with a JSON reason; every role reads', async () => {
    const none = await s.api('/api/events', null);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 'VIGIL_ERR_API_UNAUTHORIZED' } });
    expect((await s.api('/api/events', 'x'.repeat(24))).status).toBe(401);
    const viaQuery = await fetch(`${s.base}/api/status?token=${TOK.viewer}`);
    expect(viaQuery.status).toBe(200);
    expect(await viaQuery.json()).toMatchObject({ server: 'vigil', role: 'viewer', operatingPoint: { threshold: 0.35, fpir: 0.01 } });
    await s.bus.publish('matches', matchEvent('e-role'));
    await until(() => s.server.sent > 0);
    const forbidden = await s.api('/api/events/e-role/ack', TOK.viewer, { method: 'POST', body: JSON.stringify({ state: 'acknowledged' }) });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'VIGIL_ERR_API_FORBIDDEN', message: expect.stringContaining('needs the operator role') } });
    expect((await s.api('/api/nope', TOK.viewer)).status).toBe(404);
  });

  it('lists stored events by cursor without crops, gets one with its crop, and pages with next', async () => {
    for (let i = 0; i < 5; i++) await s.bus.publish('matches', matchEvent(`p${i}`, { camera: i % 2 ? 'yard' : 'door' }));
    await until(() => s.server.sent >= 6);
    const first = await s.api('/api/events?limit=3&type=alert', TOK.viewer);
    expect(first.status).toBe(200);
    expect(first.body.events).toHaveLength(3);
    expect(first.body.events!.every((e) => !('crop' in e) && typeof e['cursor'] === 'string')).toBe(true);
    const rest = await s.api(`/api/events?after=${first.body.next}&type=alert`, TOK.viewer);
    expect(ids([...first.body.events!, ...rest.body.events!])).toEqual(['e-role#0', 'p0#0', 'p1#0', 'p2#0', 'p3#0', 'p4#0']);
    const yard = await s.api('/api/events?camera=yard', TOK.viewer);
    expect(ids(yard.body.events!)).toEqual(['p1#0', 'p3#0']);
    const newest = await s.api('/api/events?newest=true&limit=2&type=alert', TOK.viewer);
    expect(ids(newest.body.events!)).toEqual(['p4#0', 'p3#0']);
    const one = await s.api('/api/events/p2', TOK.viewer);
    expect(one.body).toMatchObject({ id: 'p2', crop: matchEvent('x').crop, ack: null });
  });

  it('an operator acknowledges: the ack is stored with the actor and reaches every open feed', async () => {
    const a = await connect(`${s.ws}?token=${TOK.viewer}`);
    const b = await connect(`${s.ws}?token=${TOK.admin}&types=ack`);
    const r = await s.api('/api/events/p1/ack', TOK.operator, { method: 'POST', body: JSON.stringify({ state: 'confirmed', note: 'seen on camera' }) });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ kind: 'ack', eventId: 'p1', state: 'confirmed', actor: 'operator:desk', camera: 'yard', subjectId: 'ann' });
    for (const c of [a, b]) await until(() => c.messages.some((m) => m['kind'] === 'ack' && m['eventId'] === 'p1'), 15_000, 'ack on the feed');
    expect((await s.api('/api/events/p1', TOK.viewer)).body).toMatchObject({ ack: { state: 'confirmed', note: 'seen on camera', actor: 'operator:desk' } });
    a.ws.close();
    b.ws.close();
  });

  it('answers bad input with a clear 400/404 and keeps serving: bad cursor, bad filter, bad body, unknown event', async () => {
    const cases: [string, string, RequestInit, number, RegExp][] = [
      ['malformed cursor', '/api/events?after=%%%', {}, 400, /cursor .* is malformed/],
      ['unknown cursor', `/api/events?after=${Buffer.from('abcdefabcdef:1').toString('base64url')}`, {}, 400, /unknown to this event store/],
      ['bad type', '/api/events?type=bogus', {}, 400, /type "bogus" is not one of/],
      ['bad camera', '/api/events?camera=%3Cscript%3E', {}, 400, /camera "<script>" is not an id/],
      ['bad limit', '/api/events?limit=-1', {}, 400, /limit must be an integer/],
      ['bad ack state', '/api/events/p1/ack', { method: 'POST', body: JSON.stringify({ state: 'lol' }) }, 400, /ack body: state/],
      ['not JSON', '/api/events/p1/ack', { method: 'POST', body: '{' }, 400, /body is not JSON/],
      ['unknown event', '/api/events/nope/ack', { method: 'POST', body: JSON.stringify({ state: 'dismissed' }) }, 404, /event "nope" not found/],
    ];
    for (const [what, path, init, status, msg] of cases) {
      const r = await s.api(path, TOK.operator, init);
      expect(r.status, what).toBe(status);
      expect((r.body['error'] as { message: string }).message, what).toMatch(msg);
    }
    expect(ids((await s.api('/api/events?type=alert', TOK.viewer)).body.events!)).toHaveLength(6);
  });

  it('cameras come from the stored statuses; subjects list is empty without a watchlist', async () => {
    await s.bus.publish('status', { kind: 'camera-status', v: 1, camera: 'door', name: null, state: 'live', previous: 'connecting', at: new Date().toISOString(), url: 'rtsp://x', attempt: 0, retryInMs: null, frames: 1, lastFrameAt: null, error: null });
    await new Promise((r) => setTimeout(r, 100));
    expect((await s.api('/api/cameras', TOK.viewer)).body).toMatchObject({ cameras: [{ camera: 'door', state: 'live' }] });
    expect((await s.api('/api/subjects', TOK.viewer)).body).toEqual({ subjects: [], total: 0 });
  });
});

describe('WebSocket feed', () => {
  it('resumes from a cursor: every later stored event once, in order, then live ones, no gap or duplicate at the seam', async () => {
    const page = await s.api('/api/events?type=alert&limit=2', TOK.viewer);
    const from = page.body.next as string;
    const expected = ids((await s.api(`/api/events?after=${from}&limit=1000`, TOK.viewer)).body.events!);
    // Events keep arriving while the client catches up.
    const live = (async () => {
      for (let i = 0; i < 30; i++) await s.bus.publish('matches', matchEvent(`live${i}`));
    })();
    const c = await connect(`${s.ws}?token=${TOK.viewer}&after=${from}`);
    await live;
    await until(() => c.messages.some((m) => m['id'] === 'live29'), 15_000, 'live29');
    await new Promise((r) => setTimeout(r, 100));
    expect(c.messages[0]).toMatchObject({ kind: 'hello', cursor: expect.any(String), operatingPoint: { threshold: 0.35 } });
    const got = ids(c.messages);
    expect(got).toEqual([...expected, ...Array.from({ length: 30 }, (_, i) => `live${i}#0`)]);
    const cursors = c.messages.slice(1).map((m) => m['cursor'] as string);
    for (let i = 1; i < cursors.length; i++) expect(s.store.compare(cursors[i - 1]!, cursors[i]!)).toBeLessThan(0);
    c.ws.close();
  });

  it('filters by query and by a subscribe message; answers bad messages with an error and stays open', async () => {
    const c = await connect(`${s.ws}?token=${TOK.viewer}&camera=yard`);
    await s.bus.publish('matches', matchEvent('f-door', { camera: 'door' }));
    await s.bus.publish('matches', matchEvent('f-yard', { camera: 'yard' }));
    await until(() => c.messages.some((m) => m['id'] === 'f-yard'));
    expect(c.messages.some((m) => m['id'] === 'f-door')).toBe(false);
    c.ws.send(JSON.stringify({ type: 'subscribe', cameras: ['door'] }));
    await until(() => c.messages.some((m) => m['kind'] === 'subscribed'));
    c.ws.send('{not json');
    c.ws.send(JSON.stringify({ type: 'subscribe', types: ['bogus'] }));
    c.ws.send(JSON.stringify({ type: 'dance' }));
    await until(() => c.messages.filter((m) => m['kind'] === 'error').length === 3);
    expect(c.messages.filter((m) => m['kind'] === 'error').map((m) => m['message'])).toEqual([
      'bad request: message is not JSON',
      expect.stringContaining('type "bogus" is not one of'),
      expect.stringContaining('unknown message type "dance"'),
    ]);
    await s.bus.publish('matches', matchEvent('f-door2', { camera: 'door' }));
    await until(() => c.messages.some((m) => m['id'] === 'f-door2'));
    c.ws.close();
  });

  it('a malformed or unknown cursor, or a bad filter, gets an error message and close 4400; others are unaffected', async () => {
    for (const q of ['after=garbage', `after=${Buffer.from('abcdefabcdef:9').toString('base64url')}`, 'types=nope']) {
      const c = await connect(`${s.ws}?token=${TOK.viewer}&${q}`);
      const { code } = await c.closed;
      expect(code, q).toBe(4400);
      expect(c.messages[0], q).toMatchObject({ kind: 'error', code: expect.stringMatching(/VIGIL_ERR_(EVENTS_CURSOR|API_BAD_REQUEST)/) });
    }
    const ok = await connect(`${s.ws}?token=${TOK.viewer}`);
    await until(() => ok.messages.length > 0);
    ok.ws.close();
  });

  it('a catch-up longer than the per-client message cap is paced, not cut off', async () => {
    const from = (await s.store.append(matchEvent('bulk-start', { crop: '' }))).cursor;
    for (let i = 0; i < 6000; i++) await s.store.append(matchEvent(`bulk${i}`, { crop: '' }));
    const c = await connect(`${s.ws}?token=${TOK.viewer}&after=${from}&types=alert`);
    await until(() => c.messages.some((m) => m['id'] === 'bulk5999'), 60_000, 'the whole catch-up');
    expect(c.messages.filter((m) => m['kind'] === 'match')).toHaveLength(6000);
    expect(s.server.clients).toBeGreaterThan(0);
    c.ws.close();
  }, 90_000);

  it('refuses an unknown token at the upgrade (401)', async () => {
    await expect(connect(`${s.ws}?token=nope-nope-nope-nope`)).rejects.toThrow('HTTP 401');
  });
});
