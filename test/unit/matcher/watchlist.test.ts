import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SubjectRecord } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';
import { WatchlistStore, subjectIdFor } from '../../../src/matcher/watchlist.js';
import { tempDir } from '../../helpers.js';

const s = (id: string, vector = [1, 0]): SubjectRecord => ({ id, name: id, createdAt: 't', updatedAt: 't', images: [{ sha256: `${id}-img`, name: `${id}.jpg` }], embeddings: [{ model: 'm', image: `${id}-img`, vector }] });

describe('WatchlistStore', () => {
  it('persists subjects across instances (a restart), embeddings as Float32 BLOBs', async () => {
    const dir = await tempDir();
    const a = await new WatchlistStore(dir).load();
    await a.upsert(s('jane', [0.25, -0.5]));
    await a.upsert(s('john'));
    await a.remove('john');
    a.close();
    const b = await new WatchlistStore(dir).load();
    expect(b.list().map((x) => x.id)).toEqual(['jane']);
    expect(b.get('jane')!.embeddings[0]!.vector).toEqual([0.25, -0.5]);
    expect(b.models()).toEqual(new Set(['m']));
    const blob = b.db.prepare('SELECT vector FROM embeddings').pluck().get() as Buffer;
    expect(blob).toBeInstanceOf(Buffer);
    expect(blob.byteLength).toBe(8);
    expect(b.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect((await stat(b.file)).mode & 0o777).toBe(0o600);
    b.close();
  });

  it('logs every change with a growing seq (what running pipelines follow)', async () => {
    const store = await new WatchlistStore(await tempDir()).load();
    await store.upsert(s('a'));
    await store.upsert(s('b'));
    await store.remove('a');
    expect(store.changesSince(0).map((c) => [c.op, c.subject])).toEqual([['upsert', 'a'], ['upsert', 'b'], ['remove', 'a']]);
    expect(store.changesSince(2)).toHaveLength(1);
    expect(store.head()).toBe(3);
    store.close();
  });

  it('imports a watchlist.json of an earlier Vigil once, keeping it as .imported', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'watchlist.json'), JSON.stringify({ version: 1, subjects: [s('jane'), s('john')] }));
    const a = await new WatchlistStore(dir).load();
    expect(a.list().map((x) => x.id)).toEqual(['jane', 'john']);
    a.close();
    expect((await readdir(dir)).filter((n) => n.startsWith('watchlist.json'))).toEqual(['watchlist.json.imported']);
    const b = await new WatchlistStore(dir).load();
    expect(b.count()).toBe(2);
    b.close();
  });

  it('refuses a corrupt or wrong-shape watchlist.json with VIGIL_ERR_STORE_CORRUPT naming the field, and never overwrites it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'watchlist.json'), '{"version":1,"subj');
    await expect(new WatchlistStore(dir).load()).rejects.toSatisfy((e) => isVigilError(e, 'VIGIL_ERR_STORE_CORRUPT'));
    expect(await readFile(join(dir, 'watchlist.json'), 'utf8')).toBe('{"version":1,"subj');
    // Valid JSON, wrong shape (this used to be a raw TypeError).
    const shape = JSON.stringify({ version: 1, subjects: [{ id: 'x', name: 'x', createdAt: 't', updatedAt: 't', images: [], embeddings: 'oops' }] });
    await writeFile(join(dir, 'watchlist.json'), shape);
    const err = await new WatchlistStore(dir).load().catch((e: unknown) => e);
    expect(isVigilError(err, 'VIGIL_ERR_STORE_CORRUPT')).toBe(true);
    expect((err as Error).message).toMatch(/subjects\.0\.embeddings/);
    expect(await readFile(join(dir, 'watchlist.json'), 'utf8')).toBe(shape);
  });

  it('keeps what was stored when a write fails inside its transaction', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await store.upsert(s('jane'));
    // An embedding row of a subject that does not exist breaks the foreign key: the whole transaction rolls back.
    expect(() =>
      store.write(() => {
        store.putInTx(s('john'));
        store.db.prepare('INSERT INTO embeddings (subject, image, model, vector) VALUES (?, ?, ?, ?)').run('ghost', 'x', 'm', Buffer.alloc(8));
      }),
    ).toThrow(/FOREIGN KEY/);
    expect(store.list().map((x) => x.id)).toEqual(['jane']);
    expect(store.head()).toBe(1);
    store.close();
  });

  it('removes a subject\'s photos with it, unless another subject uses the same photo', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    const bytes = new Uint8Array([1, 2, 3]);
    const sha = await store.keepImage('photo.jpg', bytes);
    const path = store.imagePath(sha, '.jpg');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(store.imagesDir)).mode & 0o777).toBe(0o700);
    const withPhoto = (id: string): SubjectRecord => ({ ...s(id), images: [{ sha256: sha, name: 'photo.jpg' }], embeddings: [{ model: 'm', image: sha, vector: [1, 0] }] });
    await store.upsert(withPhoto('a'));
    await store.upsert(withPhoto('b'));
    await store.remove('a');
    await stat(path);
    await store.remove('b');
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    expect(store.db.prepare('SELECT count(*) FROM embeddings').pluck().get()).toBe(0);
    store.close();
  });

  it('cleans .tmp files left by a writer that died, keeps a live writer\'s', async () => {
    const dir = await tempDir();
    const dead = join(dir, 'watchlist.json.999999.1700000000000.tmp');
    const live = join(dir, `enroll-x.${process.pid}.1700000000000.tmp`);
    await writeFile(dead, 'x');
    await writeFile(live, 'x');
    const store = await new WatchlistStore(dir).load();
    const names = await readdir(dir);
    expect(names).not.toContain('watchlist.json.999999.1700000000000.tmp');
    expect(names).toContain(`enroll-x.${process.pid}.1700000000000.tmp`);
    store.close();
  });

  it('derives unique ids from names', () => {
    const taken = new Set(['jane_doe']);
    expect(subjectIdFor('Jane Doe', (x) => taken.has(x))).toBe('jane_doe_2');
    expect(subjectIdFor('José  Núñez', () => false)).toBe('jose_nunez');
  });
});

describe('a list created by naming it on a subject', () => {
  it('is a "lists" change in the watchlist change log, so running matchers reload their list policy', async () => {
    const w = await new WatchlistStore(await tempDir()).load();
    try {
      const at = new Date().toISOString();
      const subject = (id: string, lists: string[]) => ({ id, name: id, createdAt: at, updatedAt: at, images: [], embeddings: [], lists });
      await w.upsert(subject('a', ['staff']));
      await w.upsert(subject('b', ['staff'])); // the list exists now: no second lists change
      expect(w.changesSince(0).map((c) => c.op)).toEqual(['lists', 'upsert', 'upsert']);
    } finally {
      w.close();
    }
  });
});
