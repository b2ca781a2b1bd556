import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/log.js';
import { loadManifest } from '../../../src/models/manifest.js';
import { Visitors, visitorThreshold } from '../../../src/visitors/service.js';
import { VisitorStore, type UnknownFace } from '../../../src/visitors/store.js';
import { tempDir } from '../../helpers.js';

/** Unit-length vector along axis `i` with a little of axis `j`: faces of "person i". */
function vec(i: number, j = (i + 1) % 8, w = 0.1): Float32Array {
  const v = new Float32Array(8);
  v[i] = 1;
  v[j] = w;
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const DAY = 86_400_000;
const T0 = Date.parse('2026-11-20T10:00:00Z');
/** A recognisable crop: the test looks for these bytes in the database file after the purge. */
const crop = (tag: string): Uint8Array => Buffer.from(`JPEG-CROP-${tag}-`.repeat(20));
const face = (e: Float32Array, tag: string, at: number, camera = 'door', quality = 0.9): UnknownFace => ({ embedding: e, crop: crop(tag), quality, camera, at });

let open: VisitorStore[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function store(now: () => number, o: Partial<ConstructorParameters<typeof VisitorStore>[1]> = {}): Promise<{ s: VisitorStore; dir: string }> {
  const dir = await tempDir();
  const s = new VisitorStore(dir, { model: 'm', threshold: 0.5, retentionDays: 7, visitGapMs: 60_000, maxCrops: 3, now, ...o });
  open.push(s);
  return { s, dir };
}

describe('visitor store', () => {
  it('clusters faces: the same person joins their visitor, another person gets the next pseudonym; visits merge within the gap', async () => {
    const now = T0;
    const { s, dir } = await store(() => now);
    const a = s.assign(face(vec(0), 'a1', T0));
    s.visit(a.number, 'door', 't1', T0, T0 + 5000);
    const b = s.assign(face(vec(1), 'b1', T0 + 1000));
    s.visit(b.number, 'door', 't2', T0 + 1000, T0 + 3000);
    const a2 = s.assign(face(vec(0, 2), 'a2', T0 + 30_000));
    s.visit(a2.number, 'door', 't3', T0 + 30_000, T0 + 35_000); // 25 s after the first: same visit
    const a3 = s.assign(face(vec(0, 3), 'a3', T0 + 600_000));
    s.visit(a3.number, 'door', 't4', T0 + 600_000, T0 + 610_000); // 10 min later: a new visit
    expect([a, b].map((x) => [x.number, x.isNew])).toEqual([
      [1, true],
      [2, true],
    ]);
    expect([a2.number, a2.isNew, a3.number]).toEqual([1, false, 1]);
    expect(a2.similarity).toBeGreaterThan(0.5);
    expect(s.visits(1)).toEqual({ visits: 2, visitsToday: 2 });
    expect(s.list().map((v) => [v.pseudonym, v.visits, v.faces, v.lastCamera])).toEqual([
      ['unknown #1', 2, 3, 'door'],
      ['unknown #2', 1, 1, 'door'],
    ]);
    // Only the best maxCrops faces are kept.
    s.assign(face(vec(0), 'a4', T0 + 700_000, 'door', 0.1));
    expect(s.faces(1).map((f) => f.quality)).toEqual([0.9, 0.9, 0.9]);
    // Biometric data: owner-only file.
    expect(statSync(join(dir, 'visitors.db')).mode & 0o777).toBe(0o600);
  });

  it('retention deletes visitors not seen within retentionDays with their crops, embeddings and visits; numbers are never reused', async () => {
    let now = T0;
    const { s, dir } = await store(() => now, { retentionDays: 7 });
    const old = s.assign(face(vec(0), 'old', T0));
    s.visit(old.number, 'door', 't1', T0, T0 + 1000);
    now = T0 + 5 * DAY; // retention counts from when a face was stored (wall clock), not its capture time
    const recent = s.assign(face(vec(1), 'recent', T0 + 5 * DAY));
    s.visit(recent.number, 'hall', 't2', T0 + 5 * DAY, T0 + 5 * DAY + 1000);
    now = T0 + 7 * DAY - 60_000;
    expect(s.purge()).toEqual([]); // not 7 days yet
    // A replayed old recording (capture time years ago) is kept from when it was stored.
    const replayed = s.assign(face(vec(2), 'replayed', T0 - 400 * DAY));
    expect(s.purge()).toEqual([]);
    now = T0 + 8 * DAY;
    expect(s.purge()).toEqual([old.number]);
    expect(s.has(old.number)).toBe(false);
    expect(s.faces(old.number)).toEqual([]);
    expect(s.rows()).toEqual({ visitors: 2, faces: 2, visits: 1 });
    expect(s.has(replayed.number)).toBe(true);
    // secure_delete + a WAL checkpoint: the crop's bytes are gone from the files, not just unlinked.
    const bytes = Buffer.concat(['visitors.db', 'visitors.db-wal'].filter((f) => existsSync(join(dir, f))).map((f) => readFileSync(join(dir, f))));
    expect(bytes.includes(Buffer.from('JPEG-CROP-old-'))).toBe(false);
    expect(bytes.includes(Buffer.from('JPEG-CROP-recent-'))).toBe(true);
    // The purged person comes back: a new pseudonym, not #1 again.
    expect(s.assign(face(vec(0), 'back', now)).number).toBe(4);
    // Reopened: the cache is rebuilt from the file.
    s.close();
    const again = new VisitorStore(dir, { model: 'm', threshold: 0.5, retentionDays: 7, visitGapMs: 60_000, maxCrops: 3, now: () => now });
    open.push(again);
    expect(again.nearest(vec(1))?.number).toBe(recent.number);
    expect(again.nearest(vec(0))?.number).toBe(4);
  });

  it('the service purges at start and reports the numbers for the audit log; the default threshold is the profile\'s at FPIR 0.1%', async () => {
    const dataDir = await tempDir();
    let now = T0;
    const s = new VisitorStore(dataDir, { model: 'm', threshold: 0.5, retentionDays: 3, visitGapMs: 0, maxCrops: 3, now: () => now });
    s.assign(face(vec(0), 'x', T0));
    s.close();
    now = T0 + 4 * DAY;
    const cfg = parseConfig({ dataDir, visitors: { enabled: true, retentionDays: 3 } }, {});
    const research = loadManifest().profiles['research']!;
    const purged: number[][] = [];
    const v = new Visitors(cfg, { model: 'm', profile: research, log: createLogger('silent'), onPurge: (n) => purged.push(n), now: () => now });
    try {
      expect(purged).toEqual([[1]]);
      expect(v.store.count()).toBe(0);
      expect(v.store.threshold).toBe(0.4141);
      expect(visitorThreshold(parseConfig({ dataDir, visitors: { enabled: true, threshold: 0.6 } }, {}), research)).toBe(0.6);
    } finally {
      v.close();
    }
  });

  it('config: opt-in, defaults, and errors naming the key', () => {
    const cfg = parseConfig({}, {});
    expect(cfg.visitors).toMatchObject({ enabled: false, retentionDays: 7, alertCameras: [] });
    expect(cfg.visitors.threshold).toBeUndefined();
    expect(() => parseConfig({ visitors: { alertCameras: ['door'] } }, {})).toThrow(/visitors\.alertCameras: alertCameras needs enabled: true/);
    expect(() => parseConfig({ visitors: { enabled: true, retentionDays: 0 } }, {})).toThrow(/visitors\.retentionDays/);
    expect(() => parseConfig({ visitors: { enabled: true, threshold: 2 } }, {})).toThrow(/visitors\.threshold/);
    expect(() => parseConfig({ visitors: { enabled: true, alertCameras: ['front door'] } }, {})).toThrow(/visitors\.alertCameras\.0/);
    expect(() => parseConfig({ visitors: { enabeld: true } }, {})).toThrow(/visitors.*enabeld/);
  });
});
