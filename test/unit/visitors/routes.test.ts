import { afterEach, describe, expect, it } from 'vitest';
import type { ApiRequest, ApiRoute } from '../../../src/broadcast/routes.js';
import { WatchlistStore } from '../../../src/matcher/watchlist.js';
import { VisitorStore } from '../../../src/visitors/store.js';
import { visitorRoutes } from '../../../src/visitors/routes.js';
import { tempDir } from '../../helpers.js';
import { caught } from '../../support/errors.js';

/** The visitor API's handlers on real stores (the HTTP path, roles and the spec: test/integration/visitors.test.ts). */

const unit = (i: number): Float32Array => {
  const v = new Float32Array(8);
  v[i] = 1;
  return v;
};
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function setup(visitorsOn = true) {
  const dir = await tempDir();
  const watchlist = await new WatchlistStore(dir).load();
  const visitors = visitorsOn ? new VisitorStore(dir, { model: 'old-model', threshold: 0.5, retentionDays: 7, visitGapMs: 0, maxCrops: 3 }) : undefined;
  closers.push(() => watchlist.close(), () => visitors?.close());
  const changes: unknown[] = [];
  const routes = visitorRoutes({ visitors, watchlist, model: 'new-model', onChange: (c) => changes.push(c) });
  const call = (method: ApiRoute['method'], path: string, params: Record<string, string>, body?: unknown) =>
    routes.find((r) => r.method === method && r.path === path)!.handle({ method, params, query: new URLSearchParams(), body, actor: { role: 'admin', name: 'admin:t' } } satisfies ApiRequest);
  return { watchlist, visitors, call, changes };
}

describe('visitor API handlers', () => {
  it('promotes with the visitor\'s own model and crops, then forgets the visitor; audit hook told', async () => {
    const { watchlist, visitors, call, changes } = await setup();
    const n = visitors!.assign({ embedding: unit(0), crop: Buffer.from('jpeg-a'), quality: 0.9, camera: 'door', at: Date.now() }).number;
    visitors!.assign({ embedding: unit(1), crop: Buffer.from('jpeg-b'), quality: 0.8, camera: 'door', at: Date.now() }, n);
    const r = await call('POST', '/api/visitors/:number/promote', { number: String(n) }, { name: 'Ann Example', list: 'staff' });
    expect(r.status).toBe(201);
    const s = watchlist.get('ann_example')!;
    expect(s).toMatchObject({ name: 'Ann Example', lists: ['staff'] });
    expect(s.images).toHaveLength(2);
    expect(s.embeddings.map((e) => e.model)).toEqual(['old-model', 'old-model']); // not mislabelled as the running model
    expect(visitors!.has(n)).toBe(false);
    expect(changes).toEqual([{ op: 'promote', visitor: n, subject: 'ann_example', actor: 'admin:t' }]);
  });

  it('refuses bad input with codes naming the problem, storing nothing', async () => {
    const { watchlist, visitors, call } = await setup();
    const n = visitors!.assign({ embedding: unit(0), crop: Buffer.from('jpeg'), quality: 0.9, camera: 'door', at: Date.now() }).number;
    expect((await caught((async () => call('POST', '/api/visitors/:number/promote', { number: 'abc' }, { name: 'X' }))())).code).toBe('VIGIL_ERR_VISITOR_UNKNOWN');
    expect((await caught((async () => call('POST', '/api/visitors/:number/promote', { number: String(n) }, { name: 'X', list: 'bad list' }))())).code).toBe('VIGIL_ERR_WATCHLIST_INVALID');
    expect((await caught((async () => call('POST', '/api/visitors/:number/promote', { number: String(n) }, { nom: 'X' }))())).code).toBe('VIGIL_ERR_WATCHLIST_INVALID');
    expect((await caught((async () => call('DELETE', '/api/visitors/:number', { number: '999' }))())).code).toBe('VIGIL_ERR_VISITOR_UNKNOWN');
    expect(watchlist.count()).toBe(0);
    expect(visitors!.has(n)).toBe(true);
  });

  it('says visitors are off when they are', async () => {
    const { call } = await setup(false);
    expect((await caught((async () => call('GET', '/api/visitors', {}))())).code).toBe('VIGIL_ERR_VISITOR_DISABLED');
  });
});
