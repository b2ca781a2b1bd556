/**
 * The installed-models folder (e.g. `.vigil/models`): which profile files are present, whether
 * they match the manifest's sha256, and the checked lookup the engine starts from.
 *
 * Hashing every model on every start costs 25-80 ms for the research profile (17 MB, measured on a
 * loaded 2-core machine with the files in the page cache; more from a cold disk), a stat 0.1-0.5 ms
 * for all of them, so verdicts are cached in `<modelsDir>/.verified.json`, keyed like git's index
 * by the file's size, mtime, ctime and inode. ctime matters: mtime can be set back after an edit
 * in place (`touch -r`, `utimes`), ctime cannot (any write or utimes moves it to now). Like git's
 * index, an entry whose mtime is not clearly older than the moment it was recorded is "racy"
 * (filesystem timestamps are coarse: a write a few ms after the hash can keep the same mtime),
 * so it is re-hashed instead of trusted.
 */
import { createReadStream } from 'node:fs';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { modelOf, optionalModelIds, profileModelIds, resolveProfile, type Manifest, type ResolvedProfile } from './manifest.js';

export const VERIFIED_CACHE_FILE = '.verified.json';

/** An entry is trusted only if the file's mtime is at least this much older than its verification. */
const RACY_MARGIN_MS = 2000;

export interface ModelStatus {
  readonly id: string;
  /** File name inside modelsDir (from the manifest). */
  readonly file: string;
  /** Absolute path the file is (or would be) installed at. */
  readonly path: string;
  readonly present: boolean;
  readonly size?: number;
  readonly expected: string;
  /** Set only when verified: the file's actual sha256. */
  readonly sha256?: string;
  /** undefined when not verified (verify: false) or not present. */
  readonly checksumOk?: boolean;
  /** Whether the verdict came from .verified.json instead of a fresh hash. */
  readonly cached?: boolean;
  /** The profile runs without it (optionalModelIds): not counted by `complete`. */
  readonly optional?: boolean;
}

export interface ProfileStatus {
  readonly profile: string;
  readonly resolved: ResolvedProfile;
  /** model id -> status, for every model the profile needs or can use. */
  readonly models: Readonly<Record<string, ModelStatus>>;
  /** Every needed (not optional) model present and, when verified, matching its checksum. */
  readonly complete: boolean;
}

export interface StatusOptions {
  readonly verify: boolean;
  /** false = re-hash even when .verified.json has a matching entry (e.g. `vigil models verify`). */
  readonly trustCache?: boolean;
}

/** Looks up a profile by name, or throws VIGIL_ERR_MODEL_UNKNOWN_PROFILE listing the known ones. */
export function lookupProfile(manifest: Manifest, profileName: string): ResolvedProfile {
  if (!Object.hasOwn(manifest.profiles, profileName)) {
    throw new VigilError('VIGIL_ERR_MODEL_UNKNOWN_PROFILE', {
      profile: profileName,
      known: Object.keys(manifest.profiles).join(', '),
    });
  }
  return resolveProfile(manifest, profileName);
}

export async function installedStatus(
  manifest: Manifest,
  modelsDir: string,
  profileName: string,
  opts: StatusOptions,
): Promise<ProfileStatus> {
  const resolved = lookupProfile(manifest, profileName);
  const dir = path.resolve(modelsDir);
  const cache = opts.verify ? await readCache(dir) : {};
  let cacheChanged = false;
  const models: Record<string, ModelStatus> = {};
  const optional = new Set(optionalModelIds(resolved));
  for (const id of [...profileModelIds(resolved), ...optional]) {
    const entry = modelOf(manifest, id);
    const base = { id, file: entry.file, path: path.join(dir, entry.file), expected: entry.sha256, ...(optional.has(id) ? { optional: true } : {}) };
    const st = await statFile(base.path);
    if (!st) {
      models[id] = { ...base, present: false };
      continue;
    }
    const size = Number(st.size);
    if (!opts.verify) {
      models[id] = { ...base, present: true, size };
      continue;
    }
    const key = cacheKey(st);
    const hit = cache[entry.file];
    if (opts.trustCache !== false && hit && sameKey(hit, key) && !isRacy(hit)) {
      models[id] = { ...base, present: true, size, sha256: hit.sha256, checksumOk: hit.sha256 === entry.sha256, cached: true };
      continue;
    }
    const sha256 = await sha256File(base.path);
    cache[entry.file] = { ...key, sha256, verifiedAtMs: Date.now() };
    cacheChanged = true;
    models[id] = { ...base, present: true, size, sha256, checksumOk: sha256 === entry.sha256, cached: false };
  }
  if (cacheChanged) await writeCache(dir, cache);
  const complete = Object.values(models).every((m) => m.optional || (m.present && (!opts.verify || m.checksumOk === true)));
  return { profile: profileName, resolved, models, complete };
}

/**
 * The checked entry point for the engine: every model of the profile present and matching the
 * manifest, or a VigilError that says which file and how to fix it.
 */
export async function requireProfile(
  manifest: Manifest,
  modelsDir: string,
  profileName: string,
): Promise<{ resolved: ResolvedProfile; files: Record<string, string> }> {
  const status = await installedStatus(manifest, modelsDir, profileName, { verify: true });
  const all = Object.values(status.models).filter((m) => !m.optional);
  // Missing files first: `vigil models pull <profile>` fixes both, but "missing" is the clearer story.
  const missing = all.filter((m) => !m.present);
  if (missing.length > 0) {
    throw new VigilError('VIGIL_ERR_MODEL_PROFILE_MISSING', {
      profile: profileName,
      reason: `missing ${missing.map((m) => m.path).join(', ')}; run \`vigil models pull ${profileName}\``,
    });
  }
  const bad = all.find((m) => m.checksumOk !== true);
  if (bad) {
    throw new VigilError('VIGIL_ERR_MODEL_CHECKSUM', {
      profile: profileName,
      file: bad.path,
      actual: bad.sha256 ?? 'unknown',
      expected: bad.expected,
    });
  }
  const files: Record<string, string> = {};
  for (const m of all) files[m.id] = m.path;
  // An optional model is used only when it is there and verified; otherwise the engine does without it.
  for (const m of Object.values(status.models)) if (m.optional && m.present && m.checksumOk === true) files[m.id] = m.path;
  return { resolved: status.resolved, files };
}

/**
 * The first profile in `preference` whose files are all present. Presence only by default: a
 * corrupt file of the preferred profile should fail loudly in requireProfile, not silently switch
 * the engine to another profile (with another license and another embedding space).
 */
export async function pickInstalledProfile(
  manifest: Manifest,
  modelsDir: string,
  preference: readonly string[] = ['research', 'permissive', 'npm'],
  opts: { verify?: boolean } = {},
): Promise<string | undefined> {
  for (const name of preference) {
    if (!Object.hasOwn(manifest.profiles, name)) continue;
    const status = await installedStatus(manifest, modelsDir, name, { verify: opts.verify ?? false });
    if (status.complete) return name;
  }
  return undefined;
}

/** Streams a file through sha256 (models are MBs; never read them whole just to hash). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Records a hash the caller just computed (pull does this after installing) so the next start can skip it. */
export async function recordVerified(modelsDir: string, file: string, sha256: string): Promise<void> {
  const dir = path.resolve(modelsDir);
  const st = await statFile(path.join(dir, file));
  if (!st) return;
  const cache = await readCache(dir);
  cache[file] = { ...cacheKey(st), sha256, verifiedAtMs: Date.now() };
  await writeCache(dir, cache);
}

// --- .verified.json ---------------------------------------------------------------------------

const cacheEntrySchema = z.object({
  size: z.string(),
  mtimeNs: z.string(),
  ctimeNs: z.string(),
  ino: z.string(),
  sha256: z.string(),
  verifiedAtMs: z.number(),
});
const cacheSchema = z.record(z.string(), cacheEntrySchema);
type CacheEntry = z.infer<typeof cacheEntrySchema>;
type CacheKey = Pick<CacheEntry, 'size' | 'mtimeNs' | 'ctimeNs' | 'ino'>;
type BigStats = Awaited<ReturnType<typeof statBig>>;

function statBig(file: string) {
  return stat(file, { bigint: true });
}

async function statFile(file: string): Promise<BigStats | undefined> {
  try {
    const st = await statBig(file);
    return st.isFile() ? st : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

// Inode too: a file replaced by another (cp -p keeps size and mtime) gets a new inode. ctime: an
// edit in place whose mtime was set back (entries written before ctime was keyed fail the schema:
// the whole cache is then re-hashed once).
function cacheKey(st: BigStats): CacheKey {
  return { size: String(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs), ino: String(st.ino) };
}

function sameKey(a: CacheKey, b: CacheKey): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

function isRacy(e: CacheEntry): boolean {
  return Number(BigInt(e.mtimeNs) / 1_000_000n) >= e.verifiedAtMs - RACY_MARGIN_MS;
}

// The cache is only an optimisation: unreadable or malformed means "empty", never an error.
async function readCache(dir: string): Promise<Record<string, CacheEntry>> {
  try {
    const parsed = cacheSchema.safeParse(JSON.parse(await readFile(path.join(dir, VERIFIED_CACHE_FILE), 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

// Temp file + rename so a concurrent reader never sees half a JSON; failures (read-only dir) are ignored.
async function writeCache(dir: string, cache: Record<string, CacheEntry>): Promise<void> {
  const tmp = path.join(dir, `${VERIFIED_CACHE_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, `${JSON.stringify(cache, null, 2)}\n`);
    await rename(tmp, path.join(dir, VERIFIED_CACHE_FILE));
  } catch {
    await unlink(tmp).catch(() => undefined);
  }
}
