import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../src/config/schema.js';
import { cameraSchema } from '../src/config/schema.js';
import type { MatchEvent } from '../src/contracts/messages.js';
import type { Logger } from '../src/log.js';
import { enroll } from '../src/matcher/enroll.js';
import { Pipeline } from '../src/pipeline.js';
import { modelsDirOf, openRuntime, type Runtime } from '../src/runtime.js';
import { buildScene, type Appearance, type Scene, type SceneOptions } from './alerts-scene.js';
import { percentile } from './metrics.js';

export interface AlertBenchOptions {
  readonly cfg: Config;
  readonly log: Logger;
  readonly workDir: string;
  readonly profile?: string;
  readonly enrolled: number;
  readonly strangers: number;
  readonly seed: number;
  readonly fps: number;
  /** How the scene is built (default: the plain corridor). */
  readonly scene?: Partial<SceneOptions>;
}

export interface AlertBenchReport {
  readonly profile: string;
  readonly seed: number;
  readonly video_seconds: number;
  readonly enrolled_appearances: number;
  readonly stranger_appearances: number;
  readonly enroll_failed: number;
  readonly alerted_share: number;
  readonly false_alerts: number;
  readonly false_alerts_per_camera_hour: number;
  readonly duplicate_alerts_per_appearance: number;
  readonly time_to_alert_p50_s: number | null;
  readonly time_to_alert_p95_s: number | null;
  readonly updates: number;
  readonly missed: string[];
}

/** Scores alert events against the scene's ground truth (pure: unit-tested). */
export function scoreAlerts(appearances: readonly Appearance[], subjectOf: ReadonlyMap<string, string>, events: readonly MatchEvent[], videoSeconds: number) {
  const alerts = events.filter((e) => e.type === 'alert');
  const enrolled = appearances.filter((a) => a.enrolled && subjectOf.has(a.person));
  const claimed = new Set<MatchEvent>();
  const latencies: number[] = [];
  const missed: string[] = [];
  let duplicates = 0;
  for (const a of enrolled) {
    const mine = alerts.filter((e) => e.subject.id === subjectOf.get(a.person) && e.mediaTime !== null && e.mediaTime >= a.start - 0.5 && e.mediaTime <= a.end + 1);
    mine.forEach((e) => claimed.add(e));
    if (mine.length === 0) missed.push(a.person);
    else latencies.push(Math.max(0, mine[0]!.mediaTime! - a.start));
    duplicates += Math.max(0, mine.length - 1);
  }
  const falseAlerts = alerts.filter((e) => !claimed.has(e)).length;
  const sorted = [...latencies].sort((x, y) => x - y);
  const pct = (q: number): number | null => {
    const v = percentile(sorted, q);
    return v === null ? null : Math.round(v * 100) / 100;
  };
  return {
    enrolled_appearances: enrolled.length,
    alerted_share: enrolled.length ? (enrolled.length - missed.length) / enrolled.length : 0,
    false_alerts: falseAlerts,
    false_alerts_per_camera_hour: Math.round((falseAlerts / (videoSeconds / 3600)) * 100) / 100,
    duplicate_alerts_per_appearance: enrolled.length ? duplicates / enrolled.length : 0,
    time_to_alert_p50_s: pct(0.5),
    time_to_alert_p95_s: pct(0.95),
    updates: events.length - alerts.length,
    missed,
  };
}

/**
 * `vigil bench alerts`: builds the LFW walking scene, enrolls its enrolled people (one photo each,
 * never the photo they walk with), replays the clip through the real pipeline and scores the alerts.
 */
/** A scene with its enrolled people on a scratch watchlist, ready to replay (bench alerts and bench throughput). */
export interface PreparedScene {
  readonly scene: Scene;
  readonly cfg: Config;
  readonly runtime: Runtime;
  /** LFW person -> subject id */
  readonly subjectOf: Map<string, string>;
  readonly enrollFailed: number;
  /** Closes the runtime and removes the run's data folder (its watchlist and events: nothing to keep). */
  close(): Promise<void>;
}

/**
 * Builds the LFW walking scene and enrolls its enrolled people (one photo each, never the photo they
 * walk with) on a scratch watchlist beside the real models: the bench never touches the operator's.
 */
export async function prepareScene(o: Omit<AlertBenchOptions, 'fps'> & { readonly scene?: Partial<SceneOptions> }): Promise<PreparedScene> {
  const lfwDir = join(o.cfg.sharedDir, 'data', 'lfw');
  await mkdir(o.workDir, { recursive: true });
  // The file name says how the scene was built, so differently built scenes never share a file.
  const { faceSize, ...rest } = o.scene ?? {};
  const built = Object.entries(rest).map(([k, v]) => `-${k}${Array.isArray(v) ? v.join('-') : String(v)}`).join('');
  const scene = await buildScene({ lfwDir, out: join(o.workDir, `scene-${o.seed}-${o.enrolled}+${o.strangers}${faceSize ? `-${faceSize.join('-')}px` : ''}${built}.mp4`), enrolled: o.enrolled, strangers: o.strangers, seed: o.seed, ...o.scene });
  o.log.info({ video: scene.video, seconds: scene.duration, appearances: scene.appearances.length }, 'scene built');
  const dataDir = join(o.workDir, `data-${o.seed}-${Date.now()}`);
  await mkdir(dataDir, { recursive: true });
  await symlink(modelsDirOf(o.cfg), join(dataDir, 'models'));
  const cfg: Config = { ...o.cfg, dataDir };
  const runtime = await openRuntime(cfg, o.log, { profile: o.profile, fetch: false });
  const subjectOf = new Map<string, string>();
  let enrollFailed = 0;
  for (const [person, photos] of scene.enroll) {
    // LFW photos often show a second face beside the subject, which enrollment rightly refuses: try the next photo.
    for (const photo of photos) {
      try {
        const s = await enroll(runtime.engine, runtime.store, { name: person.replace(/_/g, ' '), files: [join(lfwDir, photo)] });
        runtime.index.upsert(s);
        subjectOf.set(person, s.id);
        break;
      } catch (err) {
        o.log.debug({ person, photo, err: (err as Error).message }, 'enrollment photo refused');
      }
    }
    if (!subjectOf.has(person)) {
      enrollFailed++;
      o.log.warn({ person }, 'no usable enrollment photo; person left out of the score');
    }
  }
  const close = async (): Promise<void> => {
    await runtime.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  return { scene, cfg, runtime, subjectOf, enrollFailed, close };
}

export async function benchAlerts(o: AlertBenchOptions): Promise<AlertBenchReport> {
  const prep = await prepareScene(o);
  const { scene, cfg, runtime, subjectOf, enrollFailed } = prep;
  const pipeline = new Pipeline({ cfg, log: o.log, runtime, live: false });
  await pipeline.start();
  const events: MatchEvent[] = [];
  pipeline.onMatch('bench', (e) => void events.push(e));
  const [res] = await pipeline.cameras.run([cameraSchema.parse({ id: 'scene', url: scene.video, fps: o.fps, realtime: false })]);
  await pipeline.drain();
  await pipeline.stop();
  await prep.close();
  if (!res || res.error) throw res?.error ?? new Error('the scene did not run');
  return {
    profile: runtime.engine.profile.name,
    seed: o.seed,
    video_seconds: scene.duration,
    stranger_appearances: scene.appearances.filter((a) => !a.enrolled).length,
    enroll_failed: enrollFailed,
    ...scoreAlerts(scene.appearances, subjectOf, events, scene.duration),
  };
}
