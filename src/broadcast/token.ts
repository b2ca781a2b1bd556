import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../matcher/atomic.js';
import { roles, type Actor, type Role } from './routes.js';

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

/** One accepted token: its role and a label naming who holds it (written as the actor, never the token). */
export interface TokenEntry {
  readonly token: string;
  readonly role: Role;
  readonly label: string;
}

export type TokensConfig = Partial<Record<Role, string>> | readonly TokenEntry[];

/** The tokens a broadcast server accepts; `actorOf` compares in constant time against each. */
export class Tokens {
  readonly entries: readonly TokenEntry[];

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries;
  }

  actorOf(presented: string | undefined): Actor | undefined {
    if (!presented) return undefined;
    const p = Buffer.from(presented);
    let found: TokenEntry | undefined;
    // Every entry is compared (no early exit), so timing says nothing about which one matched.
    for (const e of this.entries) {
      const t = Buffer.from(e.token);
      if (t.length === p.length && timingSafeEqual(t, p) && !found) found = e;
    }
    return found && { role: found.role, name: `${found.role}:${found.label}` };
  }

  /** The first token of a role (what the start banner puts in the console URL). */
  of(role: Role): string | undefined {
    return this.entries.find((e) => e.role === role)?.token;
  }
}

/**
 * Tokens per role. Configured ones (`broadcast.tokens`, and `broadcast.token` as an admin token)
 * come first; `<dataDir>/broadcast-token` (the single token of earlier releases) stays the admin
 * token; a role still without a token gets one generated into `<dataDir>/broadcast-tokens.json`
 * (0600) at first start. `generated` names the roles whose token is new.
 */
export async function ensureTokens(dataDir: string, b: { readonly token?: string; readonly tokens?: TokensConfig }): Promise<{ tokens: Tokens; generated: Role[]; file: string }> {
  const entries: TokenEntry[] = [];
  if (Array.isArray(b.tokens)) entries.push(...(b.tokens as readonly TokenEntry[]));
  else if (b.tokens) for (const r of roles) if ((b.tokens as Partial<Record<Role, string>>)[r]) entries.push({ token: (b.tokens as Partial<Record<Role, string>>)[r]!, role: r, label: r });
  if (b.token) entries.push({ token: b.token, role: 'admin', label: 'admin' });
  else if (!entries.some((e) => e.role === 'admin')) {
    const legacy = join(dataDir, 'broadcast-token');
    const t = await readFile(legacy, 'utf8').then((s) => s.trim(), () => '');
    if (t.length >= 16) entries.push({ token: t, role: 'admin', label: 'admin' });
  }
  const file = join(dataDir, 'broadcast-tokens.json');
  const missing = roles.filter((r) => !entries.some((e) => e.role === r));
  const generated: Role[] = [];
  if (missing.length) {
    let kept: Partial<Record<Role, string>> = {};
    try {
      kept = JSON.parse(await readFile(file, 'utf8')) as Partial<Record<Role, string>>;
    } catch {
      // first start (or an unreadable file: new tokens are written below)
    }
    for (const r of missing) {
      if (typeof kept[r] === 'string' && kept[r].length >= 16) continue;
      kept = { ...kept, [r]: randomBytes(24).toString('base64url') };
      generated.push(r);
    }
    if (generated.length) await writeFileAtomic(file, `${JSON.stringify(kept, null, 1)}\n`);
    for (const r of missing) entries.push({ token: kept[r]!, role: r, label: r });
  }
  return { tokens: new Tokens(entries), generated, file };
}
