import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../matcher/atomic.js';

/**
 * The token WebSocket clients must present: the configured one, else the one generated at first
 * start and kept in <dataDir>/broadcast-token (mode 0600). `generated` says whether it is new, so the
 * CLI prints it once rather than on every start (or into every log).
 */
export async function ensureToken(dataDir: string, configured: string | undefined): Promise<{ token: string; generated: boolean; file?: string }> {
  if (configured) return { token: configured, generated: false };
  const file = join(dataDir, 'broadcast-token');
  try {
    const t = (await readFile(file, 'utf8')).trim();
    if (t.length >= 16) return { token: t, generated: false, file };
  } catch {
    // first start: generate below
  }
  const token = randomBytes(24).toString('base64url');
  await writeFileAtomic(file, `${token}\n`);
  return { token, generated: true, file };
}
