import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../../src/errors.js';
import { openDatabase } from '../../../src/store/sqlite.js';
import { tempDirs } from '../../support/temp.js';

const tempDir = tempDirs('vigil-sqlite-');

describe('openDatabase', () => {
  it('refuses a database a newer Vigil migrated, with its code, and leaves it as it was', async () => {
    const file = join(await tempDir(), 'x.db');
    const newer = openDatabase(file, { migrations: ['CREATE TABLE a (x)', 'CREATE TABLE b (y)'] });
    newer.prepare('INSERT INTO b VALUES (1)').run();
    newer.close();
    let err: unknown;
    try {
      openDatabase(file, { migrations: ['CREATE TABLE a (x)'] }).close();
    } catch (e) {
      err = e;
    }
    expect(isVigilError(err, 'VIGIL_ERR_STORE_TOO_NEW'), String(err)).toBe(true);
    expect((err as Error).message).toContain('schema version 2, newer than this Vigil knows (1)');
    const again = openDatabase(file, { migrations: ['CREATE TABLE a (x)', 'CREATE TABLE b (y)'] });
    expect(again.prepare('SELECT y FROM b').all()).toEqual([{ y: 1 }]);
    again.close();
  });
});
