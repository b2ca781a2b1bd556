import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ApiRequest, ApiRoute, Role } from '../../../src/broadcast/routes.js';
import { isVigilError } from '../../../src/errors.js';
import type { FaceEngine } from '../../../src/inference/engine.js';
import { watchlistRoutes } from '../../../src/matcher/api.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { faces, tempDir } from '../../helpers.js';
import { useEngine } from './engine.js';

const useResearch = useEngine();
let engine: FaceEngine;
beforeAll(() => {
  engine = useResearch();
});

/** Calls a route the way the broadcast server's router does (role checked there; here the route's own). */
function caller(routes: ApiRoute[]) {
  return async (method: ApiRoute['method'], path: string, body?: unknown, query = ''): Promise<{ status: number; body: any }> => {
    for (const r of routes) {
      if (r.method !== method) continue;
      const names: string[] = [];
      const re = new RegExp(`^${r.path.replace(/:(\w+)/g, (_m, n: string) => (names.push(n), '([^/]+)'))}$`);
      const m = re.exec(path);
      if (!m) continue;
      const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      const req: ApiRequest = { method, params, query: new URLSearchParams(query), body, actor: { role: r.role as Role, name: 'admin:test' } };
      const res = await r.handle(req);
      return { status: res.status, body: res.body };
    }
    throw new Error(`no route ${method} ${path}`);
  };
}

const b64 = async (p: string): Promise<string> => (await readFile(p)).toString('base64');

describe('watchlist admin API', () => {
  it('adds (photos base64 in JSON), lists, searches, edits and removes subjects; viewers read, admins write', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const audit: string[] = [];
    const routes = watchlistRoutes({ store, engine, threshold: 0.3, onChange: (c) => audit.push(`${c.op} ${c.subject} by ${c.actor}`) });
    for (const r of routes) expect(r.role).toBe(r.method === 'GET' ? 'viewer' : r.path.endsWith('/dismissals') ? 'operator' : 'admin');
    const call = caller(routes);
    const added = await call('POST', '/api/watchlist/subjects', { name: 'Barack Obama', lists: ['vip'], photos: [{ name: 'obama.jpg', data: await b64(faces('face_recognition', 'obama', 'obama.jpg')) }] });
    expect(added.status).toBe(201);
    expect(added.body.subject).toMatchObject({ id: 'barack_obama', name: 'Barack Obama', lists: ['vip'], expiresAt: null });
    expect(added.body.subject).not.toHaveProperty('embeddings'); // vectors never leave the store
    await call('POST', '/api/watchlist/subjects', { name: 'Joe Biden', photos: [{ name: 'biden.jpg', data: await b64(faces('face_recognition', 'biden', 'biden.jpg')) }] });
    expect((await call('GET', '/api/watchlist/subjects')).body.total).toBe(2);
    expect((await call('GET', '/api/watchlist/subjects', undefined, 'q=bid')).body.subjects.map((s: { id: string }) => s.id)).toEqual(['joe_biden']);
    // paging parameters are checked like every other list's: out of range is refused, naming the parameter
    expect((await call('GET', '/api/watchlist/subjects', undefined, 'limit=1&offset=1')).body.subjects).toHaveLength(1);
    const bad = await call('GET', '/api/watchlist/subjects', undefined, 'limit=5000').catch((e: unknown) => e);
    expect(isVigilError(bad, 'VIGIL_ERR_API_BAD_REQUEST')).toBe(true);
    expect((bad as Error).message).toMatch(/limit must be an integer from 1 to 500/);
    const edited = await call('PATCH', '/api/watchlist/subjects/joe_biden', { name: 'Joseph Biden', lists: ['vip', 'staff'], expiresAt: '2030-01-31' });
    expect(edited.body).toMatchObject({ name: 'Joseph Biden', lists: ['staff', 'vip'], expiresAt: '2030-01-31T00:00:00.000Z' });
    expect(store.get('joe_biden')!.embeddings).toHaveLength(1); // an edit keeps the photos and embeddings
    expect((await call('DELETE', '/api/watchlist/subjects/barack_obama')).status).toBe(200);
    const gone = await call('GET', '/api/watchlist/subjects/barack_obama').catch((e: unknown) => e);
    expect(isVigilError(gone, 'VIGIL_ERR_WATCHLIST_UNKNOWN')).toBe(true);
    expect(audit).toEqual(['enroll barack_obama by admin:test', 'enroll joe_biden by admin:test', 'edit joe_biden by admin:test', 'remove barack_obama by admin:test']);
    // Every write is in the change log a running matcher follows.
    expect(store.changesSince(0).map((c) => `${c.op} ${c.subject}`)).toEqual(['lists null', 'upsert barack_obama', 'upsert joe_biden', 'lists null', 'upsert joe_biden', 'remove barack_obama']); // 'lists': vip, then staff, created by naming them
    store.close();
  });

  it('refuses bad bodies with VIGIL_ERR_WATCHLIST_INVALID naming the field, storing nothing', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    const call = caller(watchlistRoutes({ store, engine, threshold: 0.3 }));
    const cases: [unknown, RegExp][] = [
      [{ name: 'X', photos: [] }, /photos/],
      [{ name: 'X', photos: [{ name: 'a.jpg', data: 'not base64!' }] }, /photos\.0\.data/],
      [{ name: 'X\u001b[31m', photos: [{ name: 'a.jpg', data: await b64(faces('face_recognition', 'obama', 'obama.jpg')) }] }, /name: contains control characters/],
      [{ name: 'X', id: '', photos: [{ name: 'a.jpg', data: 'AAAA' }] }, /id: empty/],
    ];
    for (const [body, msg] of cases) {
      const e = await call('POST', '/api/watchlist/subjects', body).catch((x: unknown) => x);
      expect(isVigilError(e, 'VIGIL_ERR_WATCHLIST_INVALID'), String(e)).toBe(true);
      expect((e as Error).message).toMatch(msg);
    }
    expect(store.count()).toBe(0);
    store.close();
  });

  it('loses nothing when API enrollments and another writer run at once', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    const other = await new WatchlistStore(dir).load(); // a second connection, as `vigil enroll` in another process has
    const call = caller(watchlistRoutes({ store, engine, threshold: 0.3 }));
    const photos = [['obama', 'obama.jpg'], ['obama', 'obama2.jpg'], ['biden', 'biden.jpg'], ['rose_leslie', 'rose_leslie_img1.jpg']];
    await Promise.all([
      ...photos.map(async ([who, f], i) => call('POST', '/api/watchlist/subjects', { name: `${who} ${i}`, photos: [{ name: f!, data: await b64(faces('face_recognition', who!, f!)) }] })),
      ...Array.from({ length: 20 }, (_, i) => other.upsert({ id: `bulk_${i}`, name: `bulk ${i}`, createdAt: 't', updatedAt: 't', images: [], embeddings: [] })),
    ]);
    expect(store.count()).toBe(24);
    other.close();
    store.close();
  });
});
