import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokens } from '../../src/broadcast/token.js';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema, type Config } from '../../src/config/schema.js';
import type { MatchEvent } from '../../src/contracts/messages.js';
import { createLogger } from '../../src/log.js';
import { readAudit } from '../../src/audit/log.js';
import { enrollmentFace } from '../../src/matcher/enroll.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { dot } from '../../src/util/boxes.js';
import { VisitorStore, type VisitorView } from '../../src/visitors/store.js';
import { faces, hamiltonClipNow, tempDir } from '../helpers.js';
import { dataDirWithModels } from './cli.js';
import { documentedRoutes, responseSchema, spec } from '../support/openapi.js';
import { visitorRoutes } from '../../src/visitors/routes.js';

/**
 * Unknown visitors on the real models and the Hamilton clip, nobody enrolled: faces that match
 * nobody become stable pseudonymous visitors (one per person across tracks and replays), the opt-in
 * rule alerts on them only at the chosen camera and once per track, and a visitor promoted through
 * the API is then alerted on by name. One runtime and pipeline for the file; each replay ~10 s.
 */

const ADMIN = 'admin-token-0123456789abcdef';
const VIEWER = 'viewer-token-0123456789abcdef';
const log = createLogger('silent');
let cfg: Config;
let runtime: Runtime;
let pipeline: Pipeline;
let base = '';
let clip = '';
const events: MatchEvent[] = [];
/** The stills' embeddings: who a visitor is (ground truth for the test only). */
const stills: Record<string, Float32Array> = {};

async function replay(camera: string): Promise<MatchEvent[]> {
  const from = events.length;
  await pipeline.cameras.apply([]); // a replayed camera is run again from the start
  const [r] = await pipeline.cameras.run([cameraSchema.parse({ id: camera, url: clip, realtime: false })]);
  expect(r).toMatchObject({ frames: 50, error: null });
  await pipeline.drain();
  await pipeline.matcher.flush(); // the clip's last tracks end with it
  return events.slice(from);
}

/** Calls the API; every response is checked against its docs/openapi.yaml schema (`documented`: the spec's path). */
const api = async (method: string, path: string, token = ADMIN, body?: unknown): Promise<{ status: number; body: any }> => {
  const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const res = { status: r.status, body: await r.json() };
  const documented = path.replace(/\?.*$/, '').replace(/^\/api\/visitors\/\d+/, '/api/visitors/{number}');
  const v = responseSchema(documented, method.toLowerCase(), res.status).safeParse(res.body);
  expect(v.success, `${method} ${path} ${res.status} against docs/openapi.yaml: ${v.success ? '' : JSON.stringify(v.error.issues.slice(0, 3))}`).toBe(true);
  return res;
};

/** Which still a visitor's best face is (at the match threshold), or undefined. */
function whoIs(v: VisitorView): string | undefined {
  const f = pipeline.visitors!.store.faces(v.number)[0]!;
  const best = Object.entries(stills)
    .map(([k, e]) => [k, dot(e, f.embedding)] as const)
    .sort((a, b) => b[1] - a[1])[0]!;
  return best[1] >= runtime.threshold ? best[0] : undefined;
}

beforeAll(async () => {
  clip = await hamiltonClipNow();
  cfg = parseConfig({ dataDir: await dataDirWithModels(), models: { profile: 'research' }, broadcast: { host: '127.0.0.1', port: 0 }, visitors: { enabled: true, alertCameras: ['door'] } }, {});
  runtime = await openRuntime(cfg, log, { fetch: false });
  for (const [k, f] of Object.entries({ lin: ['lin_manuel_miranda', 'lin-manuel-miranda.png'], obama: ['obama', 'obama.jpg'] })) {
    const file = faces('face_recognition', ...f);
    stills[k] = (await enrollmentFace(runtime.engine, file, await readFile(file))).face.embedding;
  }
  const tokens = new Tokens([
    { token: ADMIN, role: 'admin', label: 'admin' },
    { token: VIEWER, role: 'viewer', label: 'wall' },
  ]);
  pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastTokens: tokens });
  pipeline.onMatch('test', (e) => void events.push(e));
  await pipeline.start();
  base = `http://127.0.0.1:${pipeline.broadcast!.port}`;
}, 120_000);

afterAll(async () => {
  await pipeline?.stop();
  await runtime?.close();
});

describe('unknown visitors (real models, Hamilton clip, nobody enrolled)', () => {
  let first: VisitorView[];

  it('clusters the clip\'s unknown faces into stable visitors: one per person across tracks, different people apart', async () => {
    expect(await replay('stage')).toEqual([]); // not an alert camera: no alert
    first = pipeline.visitors!.store.list();
    const labels = first.map(whoIs);
    const tracks = pipeline.visitors!.store.rows();
    console.log('visitors after one replay:', first.map((v, i) => `${v.pseudonym}=${labels[i] ?? '?'} (${v.faces} faces kept)`).join(', '), `| tracks stored as visits: ${JSON.stringify(tracks)}`);
    // Lin-Manuel Miranda and Barack Obama are each exactly one visitor, not the same one.
    expect(labels.filter((l) => l === 'lin')).toHaveLength(1);
    expect(labels.filter((l) => l === 'obama')).toHaveLength(1);
    expect(first.length).toBeGreaterThanOrEqual(3);
    // Lin-Manuel Miranda's several tracks went into his one visitor (one merged visit: the tracks are seconds apart).
    const lin = first[labels.indexOf('lin')]!;
    expect(lin.faces).toBeGreaterThanOrEqual(2);
    expect(lin).toMatchObject({ visits: 1, visitsToday: 1, lastCamera: 'stage' });
  }, 120_000);

  it('a second replay assigns the same visitors again: no new pseudonym for the same people', async () => {
    await replay('stage');
    const again = pipeline.visitors!.store.list();
    expect(again.map((v) => v.number).sort()).toEqual(first.map((v) => v.number).sort());
    console.log('visitors after two replays:', again.map((v) => `${v.pseudonym} ${v.faces} faces, ${v.visits} visit(s)`).join(', '));
  }, 120_000);

  let linNumber = 0;
  it('the opt-in rule alerts on unknown faces at the chosen camera only, once per track, naming the visitor', async () => {
    const got = await replay('door');
    const alerts = got.filter((e) => e.visitor);
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.every((e) => e.camera === 'door' && e.type === 'alert' && e.revision === 0)).toBe(true);
    expect(new Set(alerts.map((e) => e.trackId)).size).toBe(alerts.length); // once per track
    // The people are known visitors by now: the alerts name them, no new pseudonym.
    const known = new Set(first.map((v) => v.number));
    expect(alerts.every((e) => known.has(e.visitor!.number) && !e.visitor!.isNew)).toBe(true);
    const lin = first.find((v) => whoIs(v) === 'lin')!;
    linNumber = lin.number;
    const linAlert = alerts.find((e) => e.visitor!.number === lin.number)!;
    expect(linAlert).toMatchObject({ subject: { id: `visitor:${lin.number}`, name: `unknown #${lin.number}` }, visitor: { visitsToday: 2, visits: 2 } });
    console.log('visitor alerts at door:', alerts.map((e) => `${e.subject.name} at ${e.camera}, ${e.visitor!.visitsToday} visits today (similarity ${e.similarity})`).join('; '));
    // Written to the event store like any alert, once each.
    const stored = (await pipeline.events!.read(null, 1000, { cameras: ['door'] })).events;
    expect(stored.filter((e) => e.kind === 'match').map((e) => (e as MatchEvent).id).sort()).toEqual(alerts.map((e) => e.id).sort());
  }, 120_000);

  it('promoting a visitor through the API enrolls them; a replay then alerts on them by the promoted name', async () => {
    // Every route is documented, with its role in the summary.
    for (const r of visitorRoutes({ visitors: undefined, watchlist: runtime.store, model: '' })) {
      expect(documentedRoutes()).toContain(`${r.method} ${r.path}`);
      expect((spec.paths[r.path.replace(/:(\w+)/g, '{$1}')]![r.method.toLowerCase()] as unknown as { summary: string }).summary).toContain(`(${r.role})`);
    }
    // A viewer may list and see crops, not promote.
    const list = await api('GET', '/api/visitors', VIEWER);
    expect(list.status).toBe(200);
    expect(list.body.visitors.find((v: VisitorView) => v.number === linNumber)).toMatchObject({ pseudonym: `unknown #${linNumber}`, thumbnail: expect.any(String) });
    const crops = await api('GET', `/api/visitors/${linNumber}/crops`, VIEWER);
    expect(crops.body.crops.length).toBeGreaterThanOrEqual(2);
    expect((await api('POST', `/api/visitors/${linNumber}/promote`, VIEWER, { name: 'Lin-Manuel Miranda' })).status).toBe(403);
    expect((await api('POST', '/api/visitors/9999/promote', ADMIN, { name: 'X' })).body.error.code).toBe('VIGIL_ERR_VISITOR_UNKNOWN');
    expect((await api('POST', `/api/visitors/${linNumber}/promote`, ADMIN, { name: '' })).body.error.code).toBe('VIGIL_ERR_WATCHLIST_INVALID');

    const r = await api('POST', `/api/visitors/${linNumber}/promote`, ADMIN, { name: 'Lin-Manuel Miranda', list: 'staff' });
    expect(r.status).toBe(201);
    expect(r.body.subject).toMatchObject({ id: 'lin_manuel_miranda', name: 'Lin-Manuel Miranda', lists: ['staff'] });
    expect(pipeline.visitors!.store.has(linNumber)).toBe(false); // moved to the watchlist, not kept twice
    // The running matcher picks the enrollment up from the change log, like any other.
    await expect.poll(() => runtime.index.subjects, { timeout: 5000 }).toBe(1);
    const got = await replay('door');
    const named = got.filter((e) => e.subject.name === 'Lin-Manuel Miranda' && e.type === 'alert');
    expect(named.length).toBeGreaterThan(0);
    // The list named at promotion did not exist: running matchers learn it too, so the events carry it.
    expect(named.every((e) => e.visitor === undefined && e.list === 'staff')).toBe(true);
    expect(runtime.store.get('lin_manuel_miranda')).toMatchObject({ lists: ['staff'], images: expect.arrayContaining([expect.objectContaining({ name: expect.stringMatching(/^visitor-\d+-\d+\.jpg$/) })]) });
    console.log('after promotion:', got.filter((e) => e.type === 'alert').map((e) => `${e.subject.name} (${e.visitor ? 'visitor' : `watchlist, similarity ${e.similarity}`})`).join('; '));
    expect(got.some((e) => e.visitor?.number === linNumber)).toBe(false);
    // Audit: who promoted which visitor into which subject.
    await expect.poll(() => readAudit(cfg.dataDir, { action: 'visitor.promote' }).length).toBe(1);
    expect(readAudit(cfg.dataDir, { action: 'visitor.promote' })[0]).toMatchObject({ actor: 'admin:admin', visitor: linNumber, subject: 'lin_manuel_miranda' });
    // Forget: admin only; gone with the faces.
    const other = pipeline.visitors!.store.list()[0]!.number;
    expect((await api('DELETE', `/api/visitors/${other}`, VIEWER)).status).toBe(403);
    expect((await api('DELETE', `/api/visitors/${other}`, ADMIN)).body).toEqual({ forgotten: other });
    expect((await api('DELETE', `/api/visitors/${other}`, ADMIN)).status).toBe(404);
    expect((await api('GET', `/api/visitors/${other}/crops`, VIEWER)).status).toBe(404);
    expect((await api('GET', '/api/visitors', 'not-a-token-0123456789')).status).toBe(401);
    expect(pipeline.visitors!.store.faces(other)).toEqual([]);
  }, 120_000);

  it('retention at start deletes visitors stored more than retentionDays ago and writes the purge to the audit log', async () => {
    const dataDir = await tempDir();
    const longAgo = Date.now() - 10 * 86_400_000;
    const old = new VisitorStore(dataDir, { model: runtime.engine.model, threshold: 0.4, retentionDays: 7, visitGapMs: 0, maxCrops: 5, now: () => longAgo });
    const still = pipeline.visitors!.store.faces(pipeline.visitors!.store.list()[0]!.number)[0]!;
    old.assign({ embedding: still.embedding, crop: still.crop, quality: still.quality, camera: 'door', at: longAgo });
    old.close();
    const p = new Pipeline({ cfg: parseConfig({ dataDir, models: { profile: 'research' }, visitors: { enabled: true, retentionDays: 7 } }, {}), log, runtime, live: false });
    try {
      expect(p.visitors!.store.rows()).toEqual({ visitors: 0, faces: 0, visits: 0 });
      await expect.poll(() => readAudit(dataDir, { action: 'visitor.purge' }).length).toBe(1);
      expect(readAudit(dataDir, { action: 'visitor.purge' })[0]).toMatchObject({ actor: 'system', visitors: [1], reason: 'not seen for 7 days' });
    } finally {
      await p.stop();
    }
  });

  it('disabled (the default) stores nothing about unknown faces', async () => {
    const off = parseConfig({ dataDir: await tempDir(), models: { profile: 'research' }, broadcast: { host: '127.0.0.1', port: 0 } }, {});
    const p = new Pipeline({ cfg: off, log, runtime, live: false, broadcastTokens: new Tokens([{ token: ADMIN, role: 'admin', label: 'admin' }]) });
    await p.start();
    try {
      expect(p.visitors).toBeUndefined();
      const [r] = await p.cameras.run([cameraSchema.parse({ id: 'door', url: clip, realtime: false })]);
      expect(r).toMatchObject({ frames: 50, error: null });
      await p.drain();
      await p.matcher.flush();
      expect(existsSync(join(off.dataDir, 'visitors.db'))).toBe(false);
      const res = await fetch(`http://127.0.0.1:${p.broadcast!.port}/api/visitors`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VIGIL_ERR_VISITOR_DISABLED');
    } finally {
      await p.stop();
    }
  }, 120_000);
});
