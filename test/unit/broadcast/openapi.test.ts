import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventRoutes } from '../../../src/broadcast/api.js';
import { repoRoot } from '../../helpers.js';
import { matchEvent } from '../store/fixtures.js';
import { startServer, TOK, until } from './feed-helpers.js';

/**
 * The server against docs/openapi.yaml: real responses of every documented route and status are
 * validated with the spec's own JSON Schemas (converted by zod's fromJSONSchema), and the spec and
 * the router list the same routes.
 */
interface Spec {
  paths: Record<string, Record<string, { responses: Record<string, { $ref?: string; content?: { 'application/json': { schema: unknown } } }> }>>;
  components: { schemas: Record<string, unknown>; responses: Record<string, { content: { 'application/json': { schema: unknown } } }> };
}
const spec = parse(readFileSync(join(repoRoot, 'docs', 'openapi.yaml'), 'utf8')) as Spec & { openapi: string };
const localRefs = (s: unknown): unknown => JSON.parse(JSON.stringify(s).replaceAll('#/components/schemas/', '#/$defs/'));
const defs = localRefs(spec.components.schemas) as Record<string, unknown>;

function responseSchema(path: string, method: string, status: number): z.ZodType {
  const r = spec.paths[path]?.[method]?.responses[String(status)];
  if (!r) throw new Error(`docs/openapi.yaml documents no ${status} for ${method.toUpperCase()} ${path}`);
  const resolved = r.$ref ? spec.components.responses[r.$ref.split('/').pop()!]! : r;
  const schema = resolved.content!['application/json'].schema;
  return z.fromJSONSchema({ $defs: defs, ...(localRefs(schema) as object) } as Parameters<typeof z.fromJSONSchema>[0]);
}

type Server = Awaited<ReturnType<typeof startServer>>;
let s: Server;
beforeAll(async () => {
  s = await startServer();
  await s.bus.publish('matches', matchEvent('a1'));
  await s.bus.publish('matches', matchEvent('a1', { type: 'update', revision: 1, related: { id: 'x', camera: 'yard' } }));
  await s.bus.publish('status', { kind: 'camera-status', v: 1, camera: 'door', name: 'Door', state: 'backoff', previous: 'live', at: new Date().toISOString(), url: 'rtsp://u:***@h/x', attempt: 1, retryInMs: 1000, frames: 3, lastFrameAt: null, error: { code: 'VIGIL_ERR_INGEST_STALLED', message: 'm' } });
  await until(() => s.server.sent === 2);
  await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => {
  await s.stop();
});

describe('docs/openapi.yaml', () => {
  it('is OpenAPI 3.1 and lists exactly the routes the server mounts', () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    const mounted = eventRoutes({ store: s.store, operatingPoint: () => ({ profile: null, threshold: null, fpir: null, identities: null }), status: () => ({ clients: 0 }) }).map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual(mounted.sort());
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
      ['/api/status', 'get', '/api/status', {}, TOK.viewer, 200],
      ['/api/status', 'get', '/api/status', {}, null, 401],
    ];
    expect(ack.status).toBe(201);
    const covered = new Set<string>();
    for (const [path, method, url, init, token, status] of calls) {
      const r = await s.api(url, token, init);
      expect(r.status, `${method} ${url}`).toBe(status);
      const v = responseSchema(path, method, status).safeParse(r.body);
      expect(v.success, `${method} ${url} ${status}: ${v.success ? '' : JSON.stringify(v.error.issues.slice(0, 3))}`).toBe(true);
      covered.add(`${method} ${path} ${status}`);
    }
    // Every documented response was produced at least once.
    const documented = Object.entries(spec.paths).flatMap(([p, ops]) => Object.entries(ops).flatMap(([m, op]) => Object.keys(op.responses).map((st) => `${m} ${p} ${st}`)));
    expect(documented.filter((d) => !covered.has(d))).toEqual([]);
  });
});
