import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { sha256Hex } from './canonical.js';

/** sha256 and file name of each photo, as the audit log keeps them (never the photo itself). */
export async function photoHashes(files: readonly string[]): Promise<{ file: string; sha256: string }[]> {
  return Promise.all(files.map(async (f) => ({ file: basename(f), sha256: sha256Hex(await readFile(f)) })));
}
