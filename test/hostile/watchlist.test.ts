import { spawn } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../src/errors.js';
import type { FaceEngine } from '../../src/inference/engine.js';
import { enroll } from '../../src/matcher/enroll.js';
import { WatchlistFollower } from '../../src/matcher/follow.js';
import { openIndex } from '../../src/matcher/index.js';
import { WatchlistStore } from '../../src/matcher/watchlist.js';
import { createLogger } from '../../src/log.js';
import { faces, repoRoot, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from '../integration/cli.js';
import { useEngine } from '../unit/matcher/engine.js';

/**
 * Hostile and careless use of the watchlist (issue 12 items 2, 3, 5, 7). Each test reproduces a
 * probe that broke Vigil before the SQLite store, the checksummed index and the live follower.
 */

const log = createLogger('silent');
const fixture = (name: string): string => join(repoRoot, 'test', 'hostile', 'fixtures', name);

function node(script: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const useResearch = useEngine();
let engine: FaceEngine;
beforeAll(() => {
  engine = useResearch();
});

describe('hostile: watchlist', () => {
  it('item 2: four processes writing the watchlist at once lose no subject', async () => {
    const dir = await tempDir();
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((p) => node(fixture('watchlist-writer.ts'), [dir, p, '25'])));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const store = await new WatchlistStore(dir).load();
    expect(store.count()).toBe(100);
    expect(new Set(store.changesSince(0).map((c) => c.subject)).size).toBe(100);
    store.close();
  }, 120_000);

  it('item 3: a few overwritten bytes in index.hnsw make the next start rebuild, not segfault', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    for (let i = 0; i < 50; i++) await store.upsert({ id: `s${i}`, name: `s${i}`, createdAt: 't', updatedAt: 't', images: [], embeddings: [{ model: 'm', image: 'x', vector: [1, i, 0, 1] }] });
    await openIndex(join(dir, 'index', 'm'), store, 'm', 4);
    store.close();
    const file = join(dir, 'index', 'm', 'index.hnsw');
    const bytes = await readFile(file);
    // Four bytes of the header hnswlib trusts (maxlevel, at offset 48): its loader segfaults on them.
    bytes.writeUInt32LE(100_000, 48);
    await writeFile(file, bytes);
    const raw = await node(fixture('raw-hnsw-load.cjs'), [file, '4']);
    expect(raw.signal).toBe('SIGSEGV'); // the probe is real: unchecked, this file kills the process
    const r = await node(fixture('open-index.ts'), [dir]);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ how: 'rebuilt', subjects: 50 });
    expect(JSON.parse(r.stdout).reason).toMatch(/checksum/);
  }, 60_000);

  it('item 5: a removal by another process reaches the running index, and deletes the photo; files are 0600 in 0700 folders', async () => {
    const dir = await tempDir();
    const running = await new WatchlistStore(dir).load();
    const { index, seq } = await openIndex(join(dir, 'index', engine.model), running, engine.model, engine.embedder.size);
    const follower = new WatchlistFollower({ store: running, index, from: seq, log, intervalMs: 100 });
    // Another "process": its own connection to the database.
    const other = await new WatchlistStore(dir).load();
    await enroll(engine, other, { name: 'Barack Obama', files: [faces('face_recognition', 'obama', 'obama.jpg')] });
    expect(follower.poll()).toBe(1);
    expect(index.has('barack_obama')).toBe(true);
    const photo = other.imagePath(other.get('barack_obama')!.images[0]!.sha256, '.jpg');
    expect((await stat(photo)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'index', engine.model, 'index.hnsw'))).mode & 0o777).toBe(0o600);
    await other.remove('barack_obama');
    follower.start();
    await new Promise((r) => setTimeout(r, 300));
    follower.stop();
    expect(index.has('barack_obama')).toBe(false);
    await expect(stat(photo)).rejects.toThrow(/ENOENT/);
    other.close();
    running.close();
  });

  it('item 7: an empty --id is refused before anything is stored', async () => {
    const dataDir = await dataDirWithModels();
    const r = await vigil(['enroll', '--id', '', '--name', 'X', faces('face_recognition', 'obama', 'obama.jpg')], { VIGIL_DATA_DIR: dataDir });
    expect(r.code).toBe(65);
    expect(r.stderr).toContain('VIGIL_ERR_WATCHLIST_INVALID: invalid watchlist id: empty');
    expect(await readdir(dataDir)).not.toContain('watchlist.db');
  });

  it('item 7: a name with terminal escape codes is refused on enroll, and printed escaped when already stored', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    const evil = 'Eve\u001b[2J\u001b]0;pwned\u0007';
    const err = await enroll(engine, store, { name: evil, files: [faces('face_recognition', 'obama', 'obama.jpg')] }).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_WATCHLIST_INVALID')).toBe(true);
    expect((err as Error).message).toContain('control characters');
    expect(store.count()).toBe(0);
    // A name that got in another way (an imported file, an older Vigil) never reaches the terminal raw.
    await store.upsert({ id: 'eve', name: evil, createdAt: 't', updatedAt: 't', images: [], embeddings: [] });
    store.close();
    const r = await vigil(['watchlist', 'list'], { VIGIL_DATA_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toContain('Eve\\u001b[2J');
  });

  it('item 7: a 16000x16000 PNG is refused from its header, quickly, without decoding', async () => {
    const dir = await tempDir();
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
    // Rewrite the IHDR's size (bytes 16..23) and its CRC: a tiny file claiming 256 megapixels.
    png.writeUInt32BE(16000, 16);
    png.writeUInt32BE(16000, 20);
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
    const file = join(dir, 'huge.png');
    await writeFile(file, png);
    const store = await new WatchlistStore(dir).load();
    const t0 = Date.now();
    const err = await enroll(engine, store, { name: 'Huge', files: [file] }).catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_IMAGE_TOO_LARGE'), String(err)).toBe(true);
    expect((err as Error).message).toContain('16000x16000');
    expect(Date.now() - t0).toBeLessThan(2000); // refused from the header (decoding took seconds and 1 GB)
    expect(store.count()).toBe(0);
    store.close();
  });

  it('item 7: a watchlist.json with valid JSON but the wrong shape gives VIGIL_ERR_STORE_CORRUPT naming the field', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'watchlist.json'), JSON.stringify({ version: 1, subjects: [{ id: 'a', name: 'a', createdAt: 't', updatedAt: 't', images: {}, embeddings: [] }] }));
    const r = await vigil(['watchlist', 'list'], { VIGIL_DATA_DIR: dir });
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/VIGIL_ERR_STORE_CORRUPT: .*subjects\.0\.images/);
    expect(r.stderr).not.toMatch(/TypeError/);
  });

  it('item 7: leftover .tmp files of dead writers are cleaned at the next open', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await store.keepImage('a.jpg', new Uint8Array([1]));
    store.close();
    const stale = join(dir, 'enroll', 'deadbeef.jpg.4000000.1700000000000.tmp');
    await writeFile(stale, 'half a photo');
    await writeFile(join(dir, 'watchlist.json.4000001.1700000000000.tmp'), '{');
    (await new WatchlistStore(dir).load()).close();
    expect((await readdir(join(dir, 'enroll'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
