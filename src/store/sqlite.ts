import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { VigilError } from '../errors.js';

export type Db = Database.Database;

/**
 * One migration per schema version, applied in order inside a transaction; PRAGMA user_version
 * records how many ran. Append to a list, never edit a shipped entry.
 */
export type Migration = string | ((db: Db) => void);

export interface OpenOptions {
  /** Migrations of this database file, oldest first. */
  readonly migrations: readonly Migration[];
  /** `FULL` where a committed write must survive a power cut (watchlist, audit); default NORMAL (safe with WAL against crashes). */
  readonly synchronous?: 'NORMAL' | 'FULL';
  readonly readonly?: boolean;
}

/**
 * Opens (creating) a SQLite database for Vigil: WAL (readers never block the one writer), a busy
 * timeout so several processes can share the file, 0600 file modes in a 0700 folder (biometric
 * data), and the schema migrated to the newest version.
 */
export function openDatabase(path: string, o: OpenOptions): Db {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fresh = !existsSync(path);
  const db = new Database(path, { readonly: o.readonly ?? false, fileMustExist: o.readonly ?? false });
  if (fresh) chmodSync(path, 0o600);
  db.pragma('busy_timeout = 5000');
  if (!o.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${o.synchronous ?? 'NORMAL'}`);
    migrate(db, o.migrations);
    for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
  }
  db.pragma('foreign_keys = ON');
  return db;
}

function migrate(db: Db, migrations: readonly Migration[]): void {
  // BEGIN IMMEDIATE: two processes starting at once do not both run the same migration.
  const run = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length) {
      throw new VigilError('VIGIL_ERR_STORE_TOO_NEW', { file: db.name, version, known: migrations.length });
    }
    for (let v = version; v < migrations.length; v++) {
      const m = migrations[v]!;
      if (typeof m === 'string') db.exec(m);
      else m(db);
    }
    if (version !== migrations.length) db.pragma(`user_version = ${migrations.length}`);
  });
  run.immediate();
}
