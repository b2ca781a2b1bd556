import { readFileSync } from 'node:fs';
import { documentedRoutes, responseSchema, spec } from '../../support/openapi.js';
import { freePort } from '../../support/net.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRoutes } from '../../../src/broadcast/api.js';
import { watchlistRoutes } from '../../../src/matcher/api.js';
import { Tokens } from '../../../src/broadcast/token.js';
import { parseConfig } from '../../../src/config/load.js';
import { cameraSchema } from '../../../src/config/schema.js';
import { enroll } from '../../../src/matcher/enroll.js';
import { createLogger } from '../../../src/log.js';
import { Pipeline } from '../../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../../src/runtime.js';
import { faces, hamiltonClip } from '../../helpers.js';
import { dataDirWithModels } from '../../integration/cli.js';
import { matchEvent, sighting } from '../store/fixtures.js';
import { startServer, TOK, until } from './feed-helpers.js';

/**
 * The server against docs/openapi.yaml: real responses of every documented route and status are
 * validated with the spec's own JSON Schemas (converted by zod's fromJSONSchema), and the spec and
 * the router list the same routes.
 */
type Server = Awaited<ReturnType<typeof startServer>>;
let s: Server;
beforeAll(async () => {
  s = await startServer();
  await s.bus.publish('matches', matchEvent('a1'));
  await s.bus.publish('matches', matchEvent('a1', { type: 'update', revision: 1, related: { id: 'x', camera: 'yard' } }));
  await s.bus.publish('status', { kind: 'camera-status', v: 1, camera: 'door', name: 'Door', state: 'backoff', previous: 'live', at: new Date().toISOString(), url: 'rtsp://u:***@h/x', attempt: 1, retryInMs: 1000, frames: 3, lastFrameAt: null, error: { code: 'VIGIL_ERR_INGEST_STALLED', message: 'm' } });
  await s.bus.publish('sightings', sighting('g1', 'a1'));
  await until(() => s.server.sent === 2);
  await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  await s.stop();
});

/** Calls every listed route, validates each real response against the spec, and returns what was covered. */
async function validateCalls(api: Server['api'], calls: readonly (readonly [string, string, string, RequestInit, string | null, number])[]): Promise<Set<string>> {
  const covered = new Set<string>();
  for (const [path, method, url, init, token, status] of calls) {
    const r = await api(url, token, init);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.body).slice(0, 300)}`).toBe(status);
    const v = responseSchema(path, method, status).safeParse(r.body);
    expect(v.success, `${method} ${url} ${status}: ${v.success ? '' : JSON.stringify(v.error.issues.slice(0, 3))}`).toBe(true);
    covered.add(`${method} ${path} ${status}`);
  }
  return covered;
}

/** Documented responses of these paths that no call produced. */
function uncovered(paths: Iterable<string>, covered: Set<string>): string[] {
  const ours = new Set(paths);
  return Object.entries(spec.paths)
    .filter(([p]) => ours.has(p))
    .flatMap(([p, ops]) => Object.entries(ops).flatMap(([m, op]) => Object.keys(op.responses).map((st) => `${m} ${p} ${st}`)))
    .filter((d) => !covered.has(d));
}

describe('docs/openapi.yaml', () => {
  it('is OpenAPI 3.1 and documents every event route the server mounts (other features add theirs)', () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    const documented = documentedRoutes();
    const mounted = eventRoutes({ store: s.store, operatingPoint: () => ({ profile: null, threshold: null, fpir: null, identities: null }), status: () => ({ clients: 0 }) }).map((r) => `${r.method} ${r.path}`);
    expect(documented).toEqual(expect.arrayContaining(mounted));
  });

  it('the validator rejects what the spec forbids (so a pass below means something)', () => {
    expect(responseSchema('/api/events', 'get', 200).safeParse({ events: [{ kind: 'match' }], next: null }).success).toBe(false);
    expect(responseSchema('/api/events', 'get', 400).safeParse({ error: { code: 'nope', message: '', hint: '' } }).success).toBe(false);
  });

  it('real responses match the spec for every documented route and status', async () => {
    const ack = await s.api('/api/events/a1/ack', TOK.operator, { method: 'POST', body: JSON.stringify({ state: 'acknowledged', note: null }) });
    const calls: [string, string, string, RequestInit, string | null, number][] = [
      ['/api/events', 'get', '/api/events', {}, TOK.viewer, 200],
      ['/api/events', 'get', '/api/events?crops=true&limit=2', {}, TOK.viewer, 200],
      ['/api/events', 'get', '/api/events?newest=true&type=ack', {}, TOK.viewer, 200],
      ['/api/events', 'get', '/api/events?type=sighting&crops=true', {}, TOK.viewer, 200],
      ['/api/events', 'get', '/api/events?after=bad', {}, TOK.viewer, 400],
      ['/api/events', 'get', '/api/events', {}, null, 401],
      ['/api/events/{id}', 'get', '/api/events/a1', {}, TOK.viewer, 200],
      ['/api/events/{id}', 'get', '/api/events/zz', {}, TOK.viewer, 404],
      ['/api/events/{id}', 'get', '/api/events/a1', {}, 'not-a-token-at-all-xx', 401],
      ['/api/events/{id}/ack', 'post', '/api/events/a1/ack', { method: 'POST', body: JSON.stringify({ state: 'dismissed', note: 'look-alike' }) }, TOK.admin, 201],
      ['/api/events/{id}/ack', 'post', '/api/events/a1/ack', { method: 'POST', body: JSON.stringify({ state: 'x' }) }, TOK.operator, 400],
      ['/api/events/{id}/ack', 'post', '/api/events/a1/ack', { method: 'POST', body: '{}' }, null, 401],
      ['/api/events/{id}/ack', 'post', '/api/events/a1/ack', { method: 'POST', body: JSON.stringify({ state: 'confirmed' }) }, TOK.viewer, 403],
      ['/api/events/{id}/ack', 'post', '/api/events/zz/ack', { method: 'POST', body: JSON.stringify({ state: 'confirmed' }) }, TOK.operator, 404],
      ['/api/cameras', 'get', '/api/cameras', {}, TOK.viewer, 200],
      ['/api/cameras', 'get', '/api/cameras', {}, null, 401],
      ['/api/subjects', 'get', '/api/subjects', {}, TOK.viewer, 200],
      ['/api/subjects', 'get', '/api/subjects', {}, null, 401],
      ['/api/subjects', 'get', '/api/subjects?limit=0', {}, TOK.viewer, 400],
      ['/api/status', 'get', '/api/status', {}, TOK.viewer, 200],
      ['/api/status', 'get', '/api/status', {}, null, 401],
    ];
    expect(ack.status).toBe(201);
    const covered = await validateCalls(s.api, calls);
    // Every documented response of these routes was produced at least once.
    expect(uncovered(calls.map(([path]) => path), covered)).toEqual([]);
  });
});

describe('docs/openapi.yaml: the watchlist admin API and the sinks API of a real pipeline', () => {
  const T = { viewer: 'viewer-token-0123456789abcdef', operator: 'operator-token-0123456789abcdef', admin: 'admin-token-0123456789abcdef' } as const;
  let runtime: Runtime;
  let pipeline: Pipeline;
  let api: Server['api'];
  beforeAll(async () => {
    const dataDir = await dataDirWithModels();
    const raw = {
      dataDir,
      models: { profile: 'research' },
      broadcast: { host: '127.0.0.1', port: 0 },
      sinks: [{ type: 'webhook', id: 'vms', url: `http://127.0.0.1:${await freePort()}/hook`, secret: '{VIGIL_TEST_HOOK_SECRET}', retry: { maxAttempts: 1, initialBackoffMs: 10, maxBackoffMs: 10 } }],
    };
    const cfg = parseConfig(raw, { VIGIL_TEST_HOOK_SECRET: 'hook-secret-0123456789' });
    const log = createLogger('silent');
    runtime = await openRuntime(cfg, log, { fetch: false });
    const tokens = new Tokens([
      { token: T.viewer, role: 'viewer', label: 'wall' },
      { token: T.operator, role: 'operator', label: 'desk' },
      { token: T.admin, role: 'admin', label: 'admin' },
    ]);
    pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastTokens: tokens });
    await pipeline.start();
    const base = `http://127.0.0.1:${pipeline.broadcast!.port}`;
    api = async (path, token, init = {}) => {
      const r = await fetch(base + path, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' } });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
  }, 120_000);
  afterAll(async () => {
    await pipeline?.stop();
  });

  it('documents every route the pipeline mounts, with its role', () => {
    const documented = documentedRoutes();
    const mounted = [...watchlistRoutesOf(runtime), ...pipeline.sinks!.routes].map((r) => `${r.method} ${r.path}`);
    expect(mounted.length).toBeGreaterThan(10);
    expect(documented).toEqual(expect.arrayContaining(mounted));
    // The role each route needs is said in its summary.
    for (const r of [...watchlistRoutesOf(runtime), ...pipeline.sinks!.routes]) {
      const op = spec.paths[r.path.replace(/:(\w+)/g, '{$1}')]![r.method.toLowerCase()] as unknown as { summary: string };
      expect(op.summary, `${r.method} ${r.path}`).toContain(`(${r.role})`);
    }
  });

  it('real responses match the spec for every documented route and status', async () => {
    const photo = (who: string, file: string) => readFileSync(faces('face_recognition', who, file)).toString('base64');
    const obama = JSON.stringify({ name: 'Barack Obama', lists: ['vip'], photos: [{ name: 'obama.jpg', data: photo('obama', 'obama.jpg') }] });
    // An event for the dead sink: one failed try and it is a dead letter.
    await pipeline.events!.append(matchEvent('dl1'));
    await until(() => pipeline.sinks!.dispatchers[0]!.status().deadLetters === 1, 15_000, 'a dead letter');
    // A real alert for the dismissal: Lin-Manuel Miranda enrolled from his still, the Hamilton clip replayed.
    runtime.index.upsert(await enroll(runtime.engine, runtime.store, { name: 'Lin-Manuel Miranda', files: [faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')] }));
    const [played] = await pipeline.cameras.run([cameraSchema.parse({ id: 'stage', url: hamiltonClip(), realtime: false })]);
    expect('frames' in played! && played.frames).toBe(50);
    await pipeline.drain();
    const alerts = (await api('/api/events?type=alert', T.viewer)).body as { events: { id: string; subject: { id: string } }[] };
    const linAlert = alerts.events.find((e) => e.subject.id === 'lin_manuel_miranda')!.id;
    const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body) });
    const calls: [string, string, string, RequestInit, string | null, number][] = [
      ['/api/watchlist/subjects', 'post', '/api/watchlist/subjects', { method: 'POST', body: obama }, T.admin, 201],
      ['/api/watchlist/subjects', 'post', '/api/watchlist/subjects', post({ name: 'X', photos: [] }), T.admin, 400],
      ['/api/watchlist/subjects', 'post', '/api/watchlist/subjects', post({ name: 'Nobody', photos: [{ name: 'blank.png', data: BLANK_PNG }] }), T.admin, 422],
      ['/api/watchlist/subjects', 'post', '/api/watchlist/subjects', { method: 'POST', body: obama }, T.operator, 403],
      ['/api/watchlist/subjects', 'post', '/api/watchlist/subjects', { method: 'POST', body: obama }, null, 401],
      ['/api/watchlist/subjects', 'get', '/api/watchlist/subjects?q=obam&limit=10', {}, T.viewer, 200],
      ['/api/watchlist/subjects', 'get', '/api/watchlist/subjects?limit=0', {}, T.viewer, 400],
      ['/api/watchlist/subjects', 'get', '/api/watchlist/subjects', {}, null, 401],
      ['/api/watchlist/subjects/{id}', 'get', '/api/watchlist/subjects/barack_obama', {}, T.viewer, 200],
      ['/api/watchlist/subjects/{id}', 'get', '/api/watchlist/subjects/nobody', {}, T.viewer, 404],
      ['/api/watchlist/subjects/{id}', 'get', '/api/watchlist/subjects/barack_obama', {}, null, 401],
      ['/api/watchlist/subjects/{id}', 'patch', '/api/watchlist/subjects/barack_obama', { method: 'PATCH', body: JSON.stringify({ name: 'Barack H. Obama', expiresAt: '2030-01-31' }) }, T.admin, 200],
      ['/api/watchlist/subjects/{id}', 'patch', '/api/watchlist/subjects/barack_obama', { method: 'PATCH', body: JSON.stringify({ colour: 'red' }) }, T.admin, 400],
      ['/api/watchlist/subjects/{id}', 'patch', '/api/watchlist/subjects/nobody', { method: 'PATCH', body: '{}' }, T.admin, 404],
      ['/api/watchlist/subjects/{id}', 'patch', '/api/watchlist/subjects/barack_obama', { method: 'PATCH', body: '{}' }, T.viewer, 403],
      ['/api/watchlist/subjects/{id}', 'patch', '/api/watchlist/subjects/barack_obama', { method: 'PATCH', body: '{}' }, null, 401],
      ['/api/watchlist/lists/{name}', 'put', '/api/watchlist/lists/vip', { method: 'PUT', body: JSON.stringify({ priority: 10, colour: '#d33', targetFpir: 0.001 }) }, T.admin, 200],
      ['/api/watchlist/lists/{name}', 'put', '/api/watchlist/lists/vip', { method: 'PUT', body: JSON.stringify({ priority: 'high' }) }, T.admin, 400],
      ['/api/watchlist/lists/{name}', 'put', '/api/watchlist/lists/vip', { method: 'PUT', body: '{}' }, T.operator, 403],
      ['/api/watchlist/lists/{name}', 'put', '/api/watchlist/lists/vip', { method: 'PUT', body: '{}' }, null, 401],
      ['/api/watchlist/lists', 'get', '/api/watchlist/lists', {}, T.viewer, 200],
      ['/api/watchlist/lists', 'get', '/api/watchlist/lists', {}, null, 401],
      ['/api/watchlist/dismissals', 'post', '/api/watchlist/dismissals', post({ alertId: linAlert }), T.operator, 201],
      ['/api/watchlist/dismissals', 'post', '/api/watchlist/dismissals', post({ alertId: 'never-raised' }), T.operator, 400],
      ['/api/watchlist/dismissals', 'post', '/api/watchlist/dismissals', post({ alertId: 'x' }), T.viewer, 403],
      ['/api/watchlist/dismissals', 'post', '/api/watchlist/dismissals', post({ alertId: 'x' }), null, 401],
      ['/api/sinks', 'get', '/api/sinks', {}, T.admin, 200],
      ['/api/sinks', 'get', '/api/sinks', {}, T.operator, 403],
      ['/api/sinks', 'get', '/api/sinks', {}, null, 401],
      ['/api/sinks/{id}/dead-letters', 'get', '/api/sinks/vms/dead-letters?limit=5', {}, T.admin, 200],
      ['/api/sinks/{id}/dead-letters', 'get', '/api/sinks/nope/dead-letters', {}, T.admin, 404],
      ['/api/sinks/{id}/dead-letters', 'get', '/api/sinks/vms/dead-letters', {}, T.viewer, 403],
      ['/api/sinks/{id}/dead-letters', 'get', '/api/sinks/vms/dead-letters', {}, null, 401],
      ['/api/sinks/{id}/dead-letters/retry', 'post', '/api/sinks/vms/dead-letters/retry', { method: 'POST' }, T.admin, 202],
      ['/api/sinks/{id}/dead-letters/retry', 'post', '/api/sinks/nope/dead-letters/retry', { method: 'POST' }, T.admin, 404],
      ['/api/sinks/{id}/dead-letters/retry', 'post', '/api/sinks/vms/dead-letters/retry', { method: 'POST' }, T.operator, 403],
      ['/api/sinks/{id}/dead-letters/retry', 'post', '/api/sinks/vms/dead-letters/retry', { method: 'POST' }, null, 401],
      ['/api/watchlist/subjects/{id}', 'delete', '/api/watchlist/subjects/barack_obama', { method: 'DELETE' }, T.operator, 403],
      ['/api/watchlist/subjects/{id}', 'delete', '/api/watchlist/subjects/barack_obama', { method: 'DELETE' }, null, 401],
      ['/api/watchlist/subjects/{id}', 'delete', '/api/watchlist/subjects/barack_obama', { method: 'DELETE' }, T.admin, 200],
      ['/api/watchlist/subjects/{id}', 'delete', '/api/watchlist/subjects/barack_obama', { method: 'DELETE' }, T.admin, 404],
    ];
    const covered = await validateCalls(api, calls);
    // The sink's state and dead letter are real: the webhook's receiver refused the connection.
    const dead = (await api('/api/sinks/vms/dead-letters?limit=500', T.admin)).body as { deadLetters: { eventId: string; lastError: string }[] };
    expect(dead.deadLetters.find((d) => d.eventId === 'dl1')?.lastError).toMatch(/ECONNREFUSED/);
    // The dismissed face is now a negative example of the subject.
    expect(runtime.store.negatives('lin_manuel_miranda', runtime.engine.model)).toHaveLength(1);
    // Every documented response of these routes was produced at least once.
    expect(uncovered(calls.map(([path]) => path), covered)).toEqual([]);
  });
});

/** A 64x64 grey PNG: decodes, holds no face. */
const BLANK_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAAAAACPAi4CAAAAKUlEQVR4nO3MQREAAAwCIKMb3RD77SAA6VEEAoFAIBAIBAKBQCAQfA8G320AeUC9G5AAAAAASUVORK5CYII=';

/** The watchlist routes the pipeline mounted (the same builder, on its store and engine). */
function watchlistRoutesOf(r: Runtime) {
  return watchlistRoutes({ store: r.store, engine: r.engine, threshold: r.threshold });
}
