import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { appendFileSync, chmodSync, closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { VigilError } from '../errors.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import { withFileLock } from './lock.js';

/** What a caller records: who, what, and any details (photo hashes, reason, query, ...). */
export interface AuditEntry {
  /** Who: "cli:<user>", "operator:<token label>", "system". */
  readonly actor: string;
  /** What, dotted: "subject.enroll", "subject.remove", "search.face", "report.export", ... */
  readonly action: string;
  readonly [detail: string]: unknown;
}

/** One line of audit.jsonl. `hash` = sha256 of the canonical JSON of every other field (prev included). */
export interface AuditRecord extends AuditEntry {
  /** 0, 1, 2, ... */
  readonly seq: number;
  /** ISO 8601 time of writing. */
  readonly at: string;
  /** hash of the record before (GENESIS for the first) */
  readonly prev: string;
  readonly hash: string;
}

/** A signed statement "the log had `size` records and its last hash was `head` at `at`". */
export interface Checkpoint {
  readonly size: number;
  readonly head: string;
  readonly at: string;
  /** sha256 of the public key (DER), first 16 hex digits: which key signed. */
  readonly key: string;
  /** Ed25519 signature (base64) over the canonical JSON of {size, head, at, key}. */
  readonly sig: string;
}

export const GENESIS = '0'.repeat(64);
const RESERVED = new Set(['seq', 'at', 'prev', 'hash']);

/** `e` without the fields the log sets itself (a request from elsewhere may carry them). */
export function withoutReserved(e: AuditEntry): AuditEntry {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!RESERVED.has(k)) out[k] = v;
  return out as AuditEntry;
}

export interface AuditOptions {
  /** A checkpoint after this many records since the last one. */
  readonly checkpointEvery?: number;
  /** ... or when the last one is older than this, minutes. */
  readonly checkpointMinutes?: number;
  readonly now?: () => number;
}

export const auditFiles = (dataDir: string) => ({
  log: join(dataDir, 'audit.jsonl'),
  checkpoints: join(dataDir, 'audit.checkpoints.jsonl'),
  key: join(dataDir, 'audit.key'),
  lock: join(dataDir, 'audit.jsonl.lock'),
});

/** The CLI's actor name: the OS user running the command. */
export const cliActor = (): string => `cli:${userInfo().username}`;

/** The data dir's audit log with the configured checkpoint cadence. */
export const auditLogOf = (cfg: Config): AuditLog => new AuditLog(cfg.dataDir, { checkpointEvery: cfg.audit.checkpointEvery, checkpointMinutes: cfg.audit.checkpointMinutes });

export const recordHash = (r: Omit<AuditRecord, 'hash'>): string => sha256Hex(canonicalJson(r));

/**
 * The tamper-evident audit log: append-only JSON lines, each carrying the previous record's hash and
 * its own, plus Ed25519-signed checkpoints every N records or T minutes so that truncating the log
 * or rolling it back to an earlier, self-consistent state is detectable, not only edits. Several
 * processes may write: each append takes a lock file and re-reads the tail, so the chain never forks.
 */
export class AuditLog {
  readonly files: ReturnType<typeof auditFiles>;
  readonly #every: number;
  readonly #minutes: number;
  readonly #now: () => number;

  constructor(dataDir: string, o: AuditOptions = {}) {
    this.files = auditFiles(dataDir);
    this.#every = o.checkpointEvery ?? 100;
    this.#minutes = o.checkpointMinutes ?? 10;
    this.#now = o.now ?? Date.now;
    if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  }

  /** Appends one record (and a checkpoint when one is due); returns it as written. */
  record(e: AuditEntry): Promise<AuditRecord> {
    checkEntry(e);
    return withFileLock(this.files.lock, () => {
      const last = lastJsonLine<AuditRecord>(this.files.log, 'audit log');
      const cp = lastJsonLine<Checkpoint>(this.files.checkpoints, 'audit checkpoints');
      // A lost key is refused before anything is appended: records nobody can ever sign are no evidence.
      if (cp && !existsSync(this.files.key)) throw new VigilError('VIGIL_ERR_AUDIT_KEY_MISSING', { file: this.files.key, checkpoints: countLines(this.files.checkpoints) });
      const rec = chainRecord(e, last, new Date(this.#now()).toISOString());
      appendDurable(this.files.log, `${canonicalJson(rec)}\n`);
      const due = !cp || rec.seq + 1 - cp.size >= this.#every || this.#now() - Date.parse(cp.at) >= this.#minutes * 60_000;
      if (due) this.#sign(rec.seq + 1, rec.hash);
      return rec;
    });
  }

  /** Signs a checkpoint of the log as it is now (e.g. before an export), if it grew since the last one. */
  checkpoint(): Promise<{ size: number; head: string }> {
    return withFileLock(this.files.lock, () => {
      const last = lastJsonLine<AuditRecord>(this.files.log, 'audit log');
      const size = last ? last.seq + 1 : 0;
      const head = last ? last.hash : GENESIS;
      const cp = lastJsonLine<Checkpoint>(this.files.checkpoints, 'audit checkpoints');
      if (size > 0 && (!cp || cp.size !== size)) this.#sign(size, head);
      return { size, head };
    });
  }

  #sign(size: number, head: string): void {
    const cp = signCheckpoint(signingKey(this.files.key, () => countLines(this.files.checkpoints)), size, head, new Date(this.#now()).toISOString());
    appendDurable(this.files.checkpoints, `${canonicalJson(cp)}\n`);
  }
}

/** Refuses the fields the log sets itself. */
export function checkEntry(e: AuditEntry): void {
  for (const k of Object.keys(e)) if (RESERVED.has(k)) throw new Error(`audit record: "${k}" is set by the log, not the caller`);
}

/** The record that follows `last` (undefined: the first), chained to it. The file log and the Kafka audit writer both chain with this. */
export function chainRecord(e: AuditEntry, last: Pick<AuditRecord, 'seq' | 'hash'> | undefined, at: string): AuditRecord {
  const base = { ...e, seq: last ? last.seq + 1 : 0, at, prev: last ? last.hash : GENESIS };
  return { ...base, hash: recordHash(base) };
}

/** A checkpoint of a log of `size` records whose last hash is `head`, signed with `key`. */
export function signCheckpoint(key: KeyObject, size: number, head: string, at: string): Checkpoint {
  const body = { size, head, at, key: keyId(createPublicKey(key)) };
  return { ...body, sig: sign(null, Buffer.from(canonicalJson(body)), key).toString('base64') };
}

function keyId(pub: KeyObject): string {
  return sha256Hex(pub.export({ type: 'spki', format: 'der' })).slice(0, 16);
}

/** The signing key in `file`; made on first use, refused when checkpoints exist without it (that would hide a rollback). */
export function signingKey(file: string, checkpoints: () => number): KeyObject {
  if (existsSync(file)) return createPrivateKey(readFileSync(file));
  const cps = checkpoints();
  if (cps > 0) throw new VigilError('VIGIL_ERR_AUDIT_KEY_MISSING', { file, checkpoints: cps });
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  return privateKey;
}

function appendDurable(file: string, text: string): void {
  const fresh = !existsSync(file);
  appendFileSync(file, text, { mode: 0o600 });
  if (fresh) chmodSync(file, 0o600);
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function countLines(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
}

/** The last line of a JSON-lines file, read from the end (the log may be large). */
function lastJsonLine<T>(file: string, what: string): T | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    for (let chunk = 4096; ; chunk *= 4) {
      const len = Math.min(chunk, size);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      if (buf[len - 1] !== 0x0a) {
        throw new VigilError('VIGIL_ERR_AUDIT_TAMPERED', { file, record: 'last', reason: `the ${what} does not end with a complete line (torn write or truncation); nothing was appended` });
      }
      const nl = buf.lastIndexOf(0x0a, len - 2);
      if (nl >= 0 || len === size) {
        const line = buf.subarray(nl + 1, len - 1).toString('utf8');
        try {
          return JSON.parse(line) as T;
        } catch {
          throw new VigilError('VIGIL_ERR_AUDIT_TAMPERED', { file, record: 'last', reason: `the last line of the ${what} is not JSON; nothing was appended` });
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly head: string; readonly checkpoints: number; readonly signedUpTo: number; readonly lastCheckpointAt: string | null }
  | { readonly ok: false; readonly records: number; readonly record: number; readonly line: number; readonly reason: string };

/**
 * Recomputes the chain (every record's hash, its link to the one before, its sequence number) and
 * checks every checkpoint's signature and that the log still holds the records it signed, with
 * the same head. Returns the first problem, naming the record.
 */
export function verifyAudit(dataDir: string): VerifyResult {
  const f = auditFiles(dataDir);
  const lines = existsSync(f.log) ? readFileSync(f.log, 'utf8').split('\n') : [''];
  const torn = lines.at(-1) !== '';
  const cpLines = existsSync(f.checkpoints) ? readFileSync(f.checkpoints, 'utf8').split('\n').filter(Boolean) : [];
  return verifyChain(torn ? lines : lines.slice(0, -1), torn, cpLines, f.key);
}

/**
 * verifyAudit's checks on the lines of a log (`torn`: the last one is incomplete) and of its
 * checkpoints, with the signing key in `keyFile`: the file log and the Kafka audit topic.
 */
export function verifyChain(body: readonly string[], torn: boolean, cpLines: readonly string[], keyFile: string): VerifyResult {
  const hashes: string[] = [];
  const bad = (i: number, reason: string): VerifyResult => ({ ok: false, records: body.length, record: i, line: i + 1, reason });
  let prev = GENESIS;
  for (let i = 0; i < body.length; i++) {
    let r: AuditRecord;
    try {
      r = JSON.parse(body[i]!) as AuditRecord;
    } catch {
      return bad(i, 'not valid JSON (edited or torn)');
    }
    if (typeof r !== 'object' || r === null) return bad(i, 'not a record');
    if (r.seq !== i) return bad(i, `sequence number ${String(r.seq)} where ${i} belongs (records deleted, inserted or reordered)`);
    if (r.prev !== prev) return bad(i, 'does not link to the record before it (a record before it was deleted, edited or reordered)');
    const { hash, ...rest } = r;
    let expect: string;
    try {
      expect = recordHash(rest);
    } catch (e) {
      return bad(i, (e as Error).message);
    }
    if (hash !== expect) return bad(i, 'its content does not match its hash (edited)');
    if (torn && i === body.length - 1) return bad(i, 'the last line is incomplete (torn write or truncation)');
    hashes.push(hash);
    prev = hash;
  }
  let pub: KeyObject | undefined;
  if (cpLines.length) {
    if (!existsSync(keyFile)) throw new VigilError('VIGIL_ERR_AUDIT_KEY_MISSING', { file: keyFile, checkpoints: cpLines.length });
    pub = createPublicKey(createPrivateKey(readFileSync(keyFile)));
  }
  let signedUpTo = 0;
  let lastAt: string | null = null;
  for (const [j, l] of cpLines.entries()) {
    let cp: Checkpoint;
    try {
      cp = JSON.parse(l) as Checkpoint;
    } catch {
      return bad(hashes.length, `checkpoint ${j + 1} is not valid JSON (the checkpoint file was edited)`);
    }
    const { sig, ...signed } = cp;
    const okSig = cp.key === keyId(pub!) && typeof sig === 'string' && verify(null, Buffer.from(canonicalJson(signed)), pub!, Buffer.from(sig, 'base64'));
    if (!okSig) return bad(Math.max(0, Math.min(cp.size ?? 0, hashes.length) - 1), `checkpoint ${j + 1} (${cp.at}) has a bad signature (forged or edited)`);
    if (cp.size < signedUpTo) return bad(cp.size, `checkpoint ${j + 1} (${cp.at}) signs ${cp.size} records, fewer than the one before (${signedUpTo}): rolled back`);
    if (cp.size > hashes.length) {
      return bad(hashes.length, `missing: checkpoint ${j + 1} signed at ${cp.at} covers ${cp.size} records, the log has ${hashes.length} (truncated or rolled back)`);
    }
    if (cp.size > 0 && hashes[cp.size - 1] !== cp.head) {
      return bad(cp.size - 1, `differs from checkpoint ${j + 1} signed at ${cp.at} (the log was rewritten or rolled back)`);
    }
    signedUpTo = cp.size;
    lastAt = cp.at;
  }
  return { ok: true, records: hashes.length, head: hashes.at(-1) ?? GENESIS, checkpoints: cpLines.length, signedUpTo, lastCheckpointAt: lastAt };
}

export interface AuditFilter {
  /** exact action, or a prefix ending in "." ("subject.") */
  readonly action?: string;
  /** ISO time or a span back from now: 30m, 12h, 7d */
  readonly since?: string;
  readonly actor?: string;
}

/** Records matching the filter, oldest first. Lines that do not parse are skipped (verify reports them). */
export function readAudit(dataDir: string, filter: AuditFilter = {}, now = Date.now()): AuditRecord[] {
  const f = auditFiles(dataDir);
  if (!existsSync(f.log) || statSync(f.log).size === 0) return [];
  return filterAudit(readFileSync(f.log, 'utf8').split('\n'), filter, now);
}

/** The records among `lines` (JSON, one each) that match the filter; lines that do not parse are skipped (verify reports them). */
export function filterAudit(lines: Iterable<string>, filter: AuditFilter = {}, now = Date.now()): AuditRecord[] {
  const since = filter.since === undefined ? undefined : parseSince(filter.since, now);
  const out: AuditRecord[] = [];
  for (const l of lines) {
    if (!l) continue;
    let r: AuditRecord;
    try {
      r = JSON.parse(l) as AuditRecord;
    } catch {
      continue;
    }
    if (typeof r !== 'object' || r === null || typeof r.action !== 'string') continue;
    if (filter.action && !(filter.action.endsWith('.') ? r.action.startsWith(filter.action) : r.action === filter.action)) continue;
    if (filter.actor && r.actor !== filter.actor) continue;
    if (since !== undefined && Date.parse(r.at) < since) continue;
    out.push(r);
  }
  return out;
}

/** "2026-01-01T00:00:00Z" or "90s" / "30m" / "12h" / "7d" back from now, as epoch ms. */
export function parseSince(s: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)([smhd])$/.exec(s.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new VigilError('VIGIL_ERR_CONFIG_INVALID', { problems: `--since/--until: "${s}" is neither an ISO time nor a span like 30m, 12h, 7d` });
  return t;
}
