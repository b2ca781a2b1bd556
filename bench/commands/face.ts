import { setup } from '../../src/cli/setup.js';
/**
 * `vigil bench lfw | ident | degrade | speed`: the face engine measured on standard data, exactly as
 * the pipeline runs it (FaceEngine, SubjectIndex). Numbers go to stdout; with --json the last stdout
 * line is one JSON object and the human summary goes to stderr. Progress always goes to stderr.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { calibrate, writeCalibration } from '../calibrate.js';
import { benchDegrade, type DegradeResult } from '../degrade.js';
import type { FillProgress } from '../face-cache.js';
import { benchIdent, type Combine, type IdentResult } from '../ident.js';
import { benchLfw, type LfwResult } from '../lfw.js';
import { requireLfw } from '../lfw-data.js';
import { benchSpeed, type SpeedResult } from '../speed.js';
import type { Config } from '../../src/config/schema.js';
import { FaceEngine } from '../../src/inference/engine.js';
import { qualityLimits } from '../../src/inference/quality.js';
import type { Logger } from '../../src/log.js';
import { manifestPath } from '../../src/models/manifest.js';
import { requireProfile } from '../../src/models/store.js';
import { chooseProfile, modelsDirOf } from '../../src/runtime.js';

/** LFW images are 250 px: letterboxed to 320 (the reference pipeline's choice) rather than upscaled to 640. */
export const LFW_DETECT_SIZE = 320;

interface Common {
  data?: string;
  profile?: string;
  json?: boolean;
  flip?: boolean;
  detectSize?: number;
}

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`not a whole number: ${v}`);
  return n;
};


async function openBenchEngine(cfg: Config, log: Logger, o: Common, detectSize?: number): Promise<FaceEngine> {
  const { manifest, name } = await chooseProfile(cfg, log, { profile: o.profile, fetch: false });
  const { resolved, files } = await requireProfile(manifest, modelsDirOf(cfg), name);
  return FaceEngine.open(resolved, files, { provider: cfg.inference.provider, threads: cfg.inference.threads }, { detectSize: detectSize ?? resolved.profile.detectSize, flip: false });
}

interface LfwRun {
  readonly engine: FaceEngine;
  readonly lfwDir: string;
  readonly cacheDir: string;
  readonly detectSize: number;
  readonly flip: boolean;
}

/** What bench lfw, ident and calibrate share: the LFW folder, an engine at the LFW detect size (closed after), the flip setting. */
async function onLfw(cmd: Command, o: Common, bench: (run: LfwRun) => Promise<void>): Promise<void> {
  const { cfg, log } = setup(cmd);
  const lfwDir = lfwDirOf(cfg, o);
  const detectSize = o.detectSize ?? LFW_DETECT_SIZE;
  const engine = await openBenchEngine(cfg, log, o, detectSize);
  try {
    await bench({ engine, lfwDir, cacheDir: cacheDirOf(cfg), detectSize, flip: flipOf(o, cfg, engine) });
  } finally {
    await engine.close();
  }
}

/** Flip TTA as the pipeline would run it: --flip/--no-flip, else inference.flip, else the profile's. */
const flipOf = (o: Common, cfg: Config, engine: FaceEngine): boolean => o.flip ?? cfg.inference.flip ?? engine.profile.profile.flip ?? false;

const lfwDirOf = (cfg: Config, o: Common): string => {
  const dir = resolve(o.data ?? join(cfg.sharedDir, 'data', 'lfw'));
  requireLfw(dir);
  return dir;
};
const cacheDirOf = (cfg: Config): string => join(cfg.dataDir, 'bench-cache');

const progress = (what: string) => (p: FillProgress) => process.stderr.write(`  ${what}: ${p.done}/${p.total} images (${p.computed} computed this run)\n`);
const pct = (v: number, d = 2): string => `${(v * 100).toFixed(d)}%`;
const machine = (): string => `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${cpus().length} logical cores`;

function emit(o: Common, lines: string[], json: object): void {
  const text = `${lines.join('\n')}\n`;
  if (o.json) {
    process.stderr.write(text);
    process.stdout.write(`${JSON.stringify({ ...json, machine: machine(), date: new Date().toISOString().slice(0, 10) })}\n`);
  } else process.stdout.write(text);
}

function commonOptions(c: Command): Command {
  return c
    .option('--data <dir>', 'LFW folder (default <sharedDir>/data/lfw)')
    .option('--profile <name>', 'model profile (default: models.profile)')
    .option('--flip', 'score with flip test-time augmentation (default: the profile\'s setting)')
    .option('--no-flip', 'score without flip test-time augmentation')
    .option('--json', 'last stdout line: the results as one JSON object');
}

export function lfwLines(r: LfwResult, engine: FaceEngine): string[] {
  const ms = r.ms_per_image;
  return [
    `LFW View 2: ${r.folds} fold(s), ${r.pairs} pairs; profile "${r.profile}" (${engine.profile.profile.detector} + ${engine.profile.profile.recognizer}), flip TTA ${r.flip ? 'on' : 'off'}, detect size ${r.detect_size}`,
    `  accuracy        ${pct(r.accuracy_mean)} ± ${(r.accuracy_std * 100).toFixed(2)} (each fold's threshold chosen on the others; mean ${r.threshold_mean})`,
    `  ROC AUC         ${r.auc.toFixed(5)}`,
    `  TAR@FAR=1e-3    ${pct(r.tar_at_far_1e3)}   TAR@FAR=1e-2 ${pct(r.tar_at_far_1e2)}`,
    `  images          ${r.images}, no face found in ${r.no_face}: ${r.no_face_policy}`,
    `  ms per image    ${ms.total} (detect ${ms.detect} + embed ${ms.embed}${r.flip ? ` + mirror ${ms.flip}` : ''}; mean over ${ms.n} images when computed, on ${machine()})`,
    `  cache           ${r.cache.file} (${r.cache.computed} image(s) computed this run)`,
  ];
}

export function identLines(r: IdentResult): string[] {
  return [
    `Open-set identification on LFW: ${r.identities} enrolled identities (seed ${r.seed}, ${r.gallery_images} image(s) each, ${r.combine}), ${r.probes} mated probes, ${r.impostors} impostor probes; profile "${r.profile}", flip TTA ${r.flip ? 'on' : 'off'}`,
    `  rank-1 (closed set)   ${pct(r.rank1)}`,
    `  TPIR @ FPIR=1%        ${pct(r.tpir_at_fpir_1e2)}  (threshold ${r.threshold_at_fpir_1e2})`,
    `  TPIR @ FPIR=0.1%      ${pct(r.tpir_at_fpir_1e3)}  (threshold ${r.threshold_at_fpir_1e3})`,
    `  calibration           ${r.calibration.map((p) => `FPIR ${p.targetFpir} -> ${p.threshold} (TPIR ${pct(p.tpir, 1)})`).join('; ')}`,
    `  LFW same-person names  ${r.same_person_merged} pairs merged before the draw (LFW_SAME_PERSON)`,
    `  no face detected      gallery ${r.no_face.gallery}, probes ${r.no_face.probes} (count as misses), impostors ${r.no_face.impostors} (no alert)`,
    `  search                ${r.search_ms_per_probe} ms per probe (SubjectIndex, hnswlib); engine ${r.ms_per_image.total} ms per image`,
  ];
}

export function degradeLines(r: DegradeResult): string[] {
  const l = r.limits;
  const rows = r.outcomes.map(
    (o) =>
      `  ${o.gates.padEnd(10)} ${String(o.faces_dropped).padStart(6)} ${String(o.false_alerts).padStart(7)} (${o.false_alerts_impostor} + ${o.false_alerts_wrong_subject})`.padEnd(40) +
      ` ${String(o.true_alerts).padStart(6)} ${String(o.true_alerts_lost).padStart(5)}   ${pct(o.fpir)}  ${pct(o.tpir, 1)}   ${pct(o.tpir_at_fpir_1e2, 1)}`,
  );
  return [
    `Quality gates on degraded LFW probes (CCTV-like: 6-42 px between the eyes, blur, dark, JPEG; seed ${r.seed}): ${r.identities} identities, ${r.probes} mated + ${r.impostors} impostor probes; profile "${r.profile}", threshold ${r.threshold}`,
    `  gates: inter-eye >= ${l.minInterEye} px, detector score >= ${l.minScore}, sharpness >= ${l.minSharpness}, |yaw| <= ${l.maxYaw}, |pitch| <= ${l.maxPitch}`,
    `  no face detected: ${r.no_face.probes} mated, ${r.no_face.impostors} impostor probes`,
    `  gates      dropped  false alerts (impostor + wrong)  true  lost   FPIR    TPIR    TPIR@FPIR=1% (re-thresholded)`,
    ...rows,
    `  clean LFW probes with all gates: ${r.clean.dropped} face(s) dropped, ${r.clean.true_alerts_lost} of ${r.clean.true_alerts} true alerts lost`,
  ];
}

export function speedLines(r: SpeedResult): string[] {
  return [
    `Engine throughput, profile "${r.profile}": ${r.frames} CCTV-like 1280x720 frames (${r.faces_per_frame} faces each, decoded beforehand), detect size ${r.detect_size}, on ${machine()}`,
    ...r.runs.map((x) => `  threads ${x.threads}, ${x.concurrency} frame(s) in flight, flip TTA ${x.flip ? 'on ' : 'off'}: ${x.ms_per_frame} ms/frame, ${x.frames_per_s} frames/s`),
  ];
}

export function register(bench: Command): void {
  commonOptions(bench.command('lfw').description('LFW View 2 face verification: 10-fold accuracy, ROC AUC, TAR@FAR, ms per image'))
    .option('--folds <n>', 'use only the first n folds (quick runs)', int)
    .option('--limit <n>', 'use only the first n pairs of each fold (quick runs)', int)
    .option('--detect-size <px>', `detection letterbox size (default ${LFW_DETECT_SIZE}: LFW images are 250 px)`, int)
    .action((o: Common & { folds?: number; limit?: number }, cmd: Command) =>
      onLfw(cmd, o, async (run) => {
        const r = await benchLfw({ ...run, folds: o.folds, limit: o.limit, onProgress: progress('embedding LFW') });
        emit(o, lfwLines(r, run.engine), r);
      }),
    );

  commonOptions(bench.command('ident').description('open-set watchlist identification on LFW: TPIR at FPIR 1% and 0.1%, thresholds, search time'))
    .option('--identities <n>', 'enrolled identities', int, 1000)
    .option('--seed <n>', 'seed of the identity and image draw', int, 1)
    .option('--gallery-images <n>', 'enrollment images per identity', int, 1)
    .option('--hold-out <n>', 'reserve n photos per person for enrollment (compare --gallery-images values on the same probes)', int)
    .addOption(new Option('--combine <how>', 'several enrollment images: best of (max, what Vigil does) or mean embedding').choices(['max', 'mean']).default('max'))
    .option('--impostors <n>', 'at most this many impostor probes (quick runs)', int)
    .option('--probes-per-identity <n>', 'at most this many mated probes per identity (quick runs)', int)
    .option('--detect-size <px>', `detection letterbox size (default ${LFW_DETECT_SIZE})`, int)
    .action((o: Common & { identities: number; seed: number; galleryImages: number; holdOut?: number; combine: Combine; impostors?: number; probesPerIdentity?: number }, cmd: Command) =>
      onLfw(cmd, o, async (run) => {
        const r = await benchIdent({
          ...run,
          identities: o.identities,
          seed: o.seed,
          galleryImages: o.galleryImages,
          holdOut: o.holdOut,
          combine: o.combine,
          impostors: o.impostors,
          probesPerIdentity: o.probesPerIdentity,
          onProgress: progress('embedding LFW'),
        });
        emit(o, identLines(r), r);
      }),
    );

  commonOptions(bench.command('degrade').description('what the quality gates buy on CCTV-like degraded LFW probes'))
    .option('--identities <n>', 'enrolled identities', int, 500)
    .option('--seed <n>', 'seed of the draw and of the degradations', int, 1)
    .option('--probes-per-identity <n>', 'mated probes per identity', int, 2)
    .option('--impostors <n>', 'impostor probes', int, 2000)
    .option('--threshold <t>', 'operating similarity threshold (default: the profile\'s, or matcher.threshold)', Number)
    .option('--detect-size <px>', 'detection letterbox size for the 640x360 frames (default: the profile\'s)', int)
    .action(async (o: Common & { identities: number; seed: number; probesPerIdentity: number; impostors: number; threshold?: number }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const lfwDir = lfwDirOf(cfg, o);
      const engine = await openBenchEngine(cfg, log, o, o.detectSize);
      const cleanEngine = await openBenchEngine(cfg, log, { ...o, profile: engine.profile.name }, LFW_DETECT_SIZE);
      try {
        const flip = flipOf(o, cfg, engine);
        const r = await benchDegrade({
          engine,
          cleanEngine,
          lfwDir,
          cacheDir: cacheDirOf(cfg),
          detectSize: o.detectSize ?? engine.profile.profile.detectSize,
          cleanDetectSize: LFW_DETECT_SIZE,
          flip,
          identities: o.identities,
          seed: o.seed,
          probesPerIdentity: o.probesPerIdentity,
          impostors: o.impostors,
          threshold: o.threshold ?? cfg.matcher.threshold ?? engine.profile.profile.threshold,
          limits: qualityLimits(cfg.quality),
          onProgress: progress('embedding'),
        });
        emit(o, degradeLines(r), r);
      } finally {
        await Promise.all([engine.close(), cleanEngine.close()]);
      }
    });

  commonOptions(bench.command('calibrate').description('a profile\'s match thresholds: bench ident over several seeded draws, FPIR -> threshold table; --write puts it into models/manifest.json'))
    .option('--identities <n>', 'enrolled identities', int, 1000)
    .option('--seeds <list>', 'seeds of the draws, comma-separated', '1,2,3,4,5')
    .option('--fpir <rate>', 'FPIR of the profile\'s default threshold', Number, 1e-2)
    .option('--detect-size <px>', `detection letterbox size (default ${LFW_DETECT_SIZE})`, int)
    .option('--write', 'write threshold, note and table into models/manifest.json')
    .action((o: Common & { identities: number; seeds: string; fpir: number; write?: boolean }, cmd: Command) =>
      onLfw(cmd, o, async (run) => {
        const { engine } = run;
        const seeds = o.seeds.split(',').map((x) => int(x.trim()));
        const command = `vigil bench calibrate --profile ${engine.profile.name} --identities ${o.identities} --seeds ${seeds.join(',')} --fpir ${o.fpir}${o.flip === undefined ? '' : o.flip ? ' --flip' : ' --no-flip'}`;
        const c = await calibrate({
          ...run,
          identities: o.identities,
          seeds,
          defaultFpir: o.fpir,
          command,
          onProgress: progress('embedding LFW'),
          onRun: (r) => process.stderr.write(`  seed ${r.seed}: ${r.calibration.map((p) => `${p.targetFpir}->${p.threshold} (TPIR ${pct(p.tpir, 1)})`).join(', ')}\n`),
        });
        if (o.write) await writeCalibration(manifestPath, c.profile, c);
        const lines = [
          `Calibration of profile "${c.profile}" (flip TTA ${c.flip ? 'on' : 'off'}): ${c.calibration.data}; seeds ${seeds.join(',')}`,
          ...c.calibration.points.map((p) => `  FPIR ${String(p.fpir).padEnd(6)} threshold ${p.threshold.toFixed(4)}  TPIR ${pct(p.tpir ?? 0)}`),
          `  default threshold ${c.threshold} (FPIR ${o.fpir}; std over draws ${c.threshold_std})${o.write ? ` written to ${manifestPath}` : ' (not written: add --write)'}`,
        ];
        const { runs: _runs, ...summary } = c;
        emit(o, lines, { bench: 'calibrate', ...summary, tpir_by_seed: c.runs.map((r) => ({ seed: r.seed, tpir_at_fpir_1e2: r.tpir_at_fpir_1e2, tpir_at_fpir_1e3: r.tpir_at_fpir_1e3 })) });
      }),
    );

  bench
    .command('speed')
    .description('face engine throughput for onnxruntime thread counts and images in flight')
    .option('--data <dir>', 'LFW folder (default <sharedDir>/data/lfw)')
    .option('--profile <name>', 'model profile (default: models.profile)')
    .option('--frames <n>', 'frames per run (three LFW faces each)', int, 40)
    .option('--threads <list>', 'intra-op threads per session to try, comma-separated', '1,2')
    .option('--concurrency <list>', 'frames in flight to try, comma-separated', '1,2')
    .option('--detect-size <px>', 'detection letterbox size (default: the profile\'s)', int)
    .option('--json', 'last stdout line: the results as one JSON object')
    .action(async (o: Common & { frames: number; threads: string; concurrency: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      const lfwDir = lfwDirOf(cfg, o);
      const list = (s: string): number[] => s.split(',').map((x) => int(x.trim()));
      const { manifest, name } = await chooseProfile(cfg, log, { profile: o.profile, fetch: false });
      const { resolved, files } = await requireProfile(manifest, modelsDirOf(cfg), name);
      const r = await benchSpeed({
        profile: resolved,
        files,
        provider: cfg.inference.provider,
        lfwDir,
        images: o.frames,
        threads: list(o.threads),
        concurrency: list(o.concurrency),
        detectSize: o.detectSize ?? resolved.profile.detectSize,
      });
      emit(o, speedLines(r), r);
    });
}
