import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SubjectRecord } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';
import { WatchlistStore, subjectIdFor } from '../../../src/matcher/watchlist.js';
import { tempDir } from '../../helpers.js';

const s = (id: string): SubjectRecord => ({ id, name: id, createdAt: 't', updatedAt: 't', images: [], embeddings: [{ model: 'm', image: 'x', vector: [1, 0] }] });

describe('WatchlistStore', () => {
  it('persists subjects across instances (a restart)', async () => {
    const dir = await tempDir();
    const a = await new WatchlistStore(dir).load();
    await a.upsert(s('jane'));
    await a.upsert(s('john'));
    await a.remove('john');
    const b = await new WatchlistStore(dir).load();
    expect(b.list().map((x) => x.id)).toEqual(['jane']);
    expect(b.models()).toEqual(new Set(['m']));
  });

  it('refuses to load a corrupt store and never overwrites it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'watchlist.json'), '{"version":1,"subj');
    await expect(new WatchlistStore(dir).load()).rejects.toSatisfy((e) => isVigilError(e, 'VIGIL_ERR_STORE_CORRUPT'));
    expect(await readFile(join(dir, 'watchlist.json'), 'utf8')).toBe('{"version":1,"subj');
  });

  it('keeps what was stored, on disk and in memory, when a write fails', async () => {
    const dir = await tempDir();
    const store = await new WatchlistStore(dir).load();
    await store.upsert(s('jane'));
    const before = await readFile(join(dir, 'watchlist.json'), 'utf8');
    // A value JSON cannot serialise makes the write fail before anything reaches the disk.
    const bad = { ...s('x'), name: 10n } as unknown as SubjectRecord;
    await expect(store.upsert(bad)).rejects.toThrow(/BigInt/);
    expect(store.list().map((x) => x.id)).toEqual(['jane']);
    expect(await readFile(join(dir, 'watchlist.json'), 'utf8')).toBe(before);
  });

  it('derives unique ids from names', () => {
    const taken = new Set(['jane_doe']);
    expect(subjectIdFor('Jane Doe', (x) => taken.has(x))).toBe('jane_doe_2');
    expect(subjectIdFor('José  Núñez', () => false)).toBe('jose_nunez');
  });
});
