/**
 * `vigil models pull <profile>`: installs a profile's model files into modelsDir from a local
 * folder (the shared models folder) or from the npm registry (`npm pack` + `tar`).
 *
 * Nothing unverified is ever visible under its final name: each file is copied to a hidden temp
 * name inside modelsDir (same filesystem, so the rename is atomic) while being hashed, and only
 * after every file of the profile matched its sha256 are they renamed into place. A bad source
 * therefore leaves the previously installed files untouched.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { VigilError, isVigilError } from '../errors.js';
import { modelOf, optionalModelIds, profileModelIds, type Manifest } from './manifest.js';
import { installedStatus, lookupProfile, recordVerified } from './store.js';
import { npmPackExtract } from '../util/npm-pack.js';


export type PullChannel = 'local' | 'npm';

export interface PullOptions {
  readonly profile: string;
  readonly modelsDir: string;
  /** Defaults to the profile's `source` in the manifest. */
  readonly from?: PullChannel;
  /** Folder holding the model files for `local` (the caller passes `<sharedDir>/models`). */
  readonly localDir?: string;
  /** Reinstall files that are already installed and verified. */
  readonly force?: boolean;
  readonly log?: (msg: string) => void;
  /** npm executable (tests inject a bad one); default `npm` from PATH. */
  readonly npmCommand?: string;
  /** Limit for `npm pack`; default 5 minutes (a 41 MB tarball on a slow link). */
  readonly npmTimeoutMs?: number;
}

export interface PullFileResult {
  readonly id: string;
  readonly file: string;
  readonly action: 'installed' | 'skipped';
  readonly bytes: number;
}

export interface PullSummary {
  readonly profile: string;
  readonly from: PullChannel;
  readonly modelsDir: string;
  readonly models: readonly PullFileResult[];
}

interface Staged {
  readonly id: string;
  readonly file: string;
  readonly tmp: string;
  readonly sha256: string;
  readonly bytes: number;
}

export async function pullProfile(manifest: Manifest, opts: PullOptions): Promise<PullSummary> {
  const resolved = lookupProfile(manifest, opts.profile);
  const profile = resolved.name;
  const from = opts.from ?? resolved.profile.source;
  const log = opts.log ?? (() => undefined);
  const modelsDir = path.resolve(opts.modelsDir);
  const pullError = (reason: string, cause?: unknown) => new VigilError('VIGIL_ERR_MODEL_PULL', { profile, reason }, cause);

  try {
    await mkdir(modelsDir, { recursive: true });
  } catch (err) {
    throw pullError(`cannot create ${modelsDir}: ${(err as Error).message}`, err);
  }

  const status = await installedStatus(manifest, modelsDir, profile, { verify: true });
  const results = new Map<string, PullFileResult>();
  const todo: string[] = [];
  const ids = [...profileModelIds(resolved), ...optionalModelIds(resolved)];
  for (const id of ids) {
    const m = status.models[id]!; // installedStatus reports every model of the profile
    if (!opts.force && m.checksumOk === true) {
      results.set(id, { id, file: m.file, action: 'skipped', bytes: m.size ?? 0 });
      log(`${id}: ${m.file} already installed and verified, skipped`);
    } else {
      todo.push(id);
    }
  }

  if (todo.length > 0) {
    let tempDir: string | undefined;
    try {
      let sources: Record<string, string>;
      if (from === 'local') {
        sources = localSources(manifest, todo, opts.localDir, pullError);
      } else {
        tempDir = await mkdtemp(path.join(os.tmpdir(), 'vigil-npm-'));
        sources = await npmSources(manifest, todo, tempDir, opts, log, pullError);
      }
      const staged = await stageAll(manifest, profile, todo, sources, modelsDir, pullError, log);
      try {
        for (const s of staged) {
          await rename(s.tmp, path.join(modelsDir, s.file));
          await recordVerified(modelsDir, s.file, s.sha256);
          results.set(s.id, { id: s.id, file: s.file, action: 'installed', bytes: s.bytes });
          log(`${s.id}: installed ${s.file} (${s.bytes} bytes, sha256 ok)`);
        }
      } finally {
        // Only matters if a rename failed part-way: drop the temp files that were not renamed.
        await Promise.all(staged.filter((s) => !results.has(s.id)).map((s) => unlink(s.tmp).catch(() => undefined)));
      }
    } catch (err) {
      if (isVigilError(err)) throw err;
      throw pullError((err as Error).message, err);
    } finally {
      if (tempDir) await rm(tempDir, { recursive: true, force: true });
    }
  }

  const models = ids.map((id) => results.get(id)).filter((r): r is PullFileResult => r !== undefined);
  return { profile, from, modelsDir, models };
}

type PullErrorFn = (reason: string, cause?: unknown) => VigilError;

function localSources(manifest: Manifest, ids: readonly string[], localDir: string | undefined, pullError: PullErrorFn): Record<string, string> {
  if (!localDir) throw pullError('no local source folder given (set models.source or VIGIL_SHARED_DIR)');
  const out: Record<string, string> = {};
  for (const id of ids) out[id] = path.resolve(localDir, modelOf(manifest, id).file);
  return out;
}

/** `npm pack` into tempDir, then extract only the model members the manifest names. */
async function npmSources(
  manifest: Manifest,
  ids: readonly string[],
  tempDir: string,
  opts: PullOptions,
  log: (msg: string) => void,
  pullError: PullErrorFn,
): Promise<Record<string, string>> {
  const { package: pkg, version, files } = manifest.sources.npm;
  const members: Record<string, string> = {};
  for (const id of ids) {
    const member = files[id];
    if (!member) throw pullError(`model "${id}" is not shipped in the npm package ${pkg}@${version}`);
    members[id] = member;
  }
  const spec = `${pkg}@${version}`;
  log(`fetching ${spec} from the npm registry`);
  try {
    // Naming the members extracts only the model files, whatever else the package holds.
    await npmPackExtract(spec, Object.values(members), tempDir, { npmCommand: opts.npmCommand, timeoutMs: opts.npmTimeoutMs });
  } catch (err) {
    throw pullError((err as Error).message, err);
  }
  const out: Record<string, string> = {};
  for (const [id, member] of Object.entries(members)) out[id] = path.join(tempDir, member);
  return out;
}

/** Copies and verifies every file; on any failure removes what it staged, so nothing changes. */
async function stageAll(
  manifest: Manifest,
  profile: string,
  ids: readonly string[],
  sources: Record<string, string>,
  modelsDir: string,
  pullError: PullErrorFn,
  log: (msg: string) => void,
): Promise<Staged[]> {
  const staged: Staged[] = [];
  try {
    for (const id of ids) {
      const { file, sha256: expected } = modelOf(manifest, id);
      const src = sources[id]!; // both sources give one path per id
      const tmp = path.join(modelsDir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
      const { sha256, bytes } = await copyHashing(src, tmp, pullError);
      staged.push({ id, file, tmp, sha256, bytes });
      if (sha256 !== expected) {
        throw new VigilError('VIGIL_ERR_MODEL_CHECKSUM', { profile, file: src, actual: sha256, expected });
      }
      log(`${id}: ${src} verified`);
    }
    return staged;
  } catch (err) {
    await Promise.all(staged.map((s) => unlink(s.tmp).catch(() => undefined)));
    throw err;
  }
}

/** One pass over the source: bytes go to the temp file and the hash together; fsync before returning. */
async function copyHashing(src: string, tmp: string, pullError: PullErrorFn): Promise<{ sha256: string; bytes: number }> {
  try {
    if (!(await stat(src)).isFile()) throw pullError(`source ${src} is not a file`);
  } catch (err) {
    if (isVigilError(err)) throw err;
    throw pullError(`source file ${src} is missing or unreadable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, err);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await pipeline(
      createReadStream(src),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      // 0644 whatever the source's mode: the shared folder is read-only, the install need not be.
      createWriteStream(tmp, { flags: 'wx', mode: 0o644 }),
    );
    const fh = await open(tmp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw pullError(`copying ${src} failed: ${(err as Error).message}`, err);
  }
  return { sha256: hash.digest('hex'), bytes };
}
