#!/usr/bin/env node
import { basename, extname } from 'node:path';
import { Command, Option } from 'commander';
import type { CameraConfig, Config } from '../config/schema.js';
import { DEMO_SUBJECT, demoCamera, ensureDemoMedia } from '../demo.js';
import { isVigilError, VigilError } from '../errors.js';
import { redactUrl, type Logger } from '../log.js';
import { enroll, enrollWithReport } from '../matcher/enroll.js';
import { reembed } from '../matcher/enroll.js';
import { WatchlistStore } from '../matcher/watchlist.js';
import { describeProfiles, formatProfilesTable } from '../models/list.js';
import { loadManifest, matchThreshold } from '../models/manifest.js';
import { pullProfile } from '../models/pull.js';
import { ensureToken } from '../broadcast/token.js';
import { Pipeline } from '../pipeline.js';
import { followConfigCameras } from '../ingest/reload.js';
import { collectProcessMetrics } from '../metrics.js';
import { localModelsOf, modelsDirOf, openEngine, openRuntime, type Runtime } from '../runtime.js';
import { alertLine, eventJson } from './format.js';
import { setup } from './setup.js';
import { register as registerBenchAlerts } from './commands/bench-alerts.js';
import { register as registerBenchFace } from './commands/bench-face.js';
import { register as registerBenchIngest } from './commands/bench-ingest.js';
import { register as registerServices } from './commands/services.js';
import { register as registerBenchKafka } from './commands/bench-kafka.js';
import { announceWatchlist } from '../services/watchlist.js';
import { register as registerAudit, auditLogOf } from './commands/audit.js';
import { register as registerSearch } from './commands/search.js';
import { register as registerBenchSearch } from '../../bench/commands/search.js';
import { benchGroup } from './commands/bench.js';
import { cliActor } from '../audit/log.js';
import { photoHashes } from '../audit/photos.js';
import { ReplayAudit } from './commands/report.js';

interface GlobalOpts {
  config?: string;
  verbose?: boolean;
}

const program = new Command('vigil')
  .description('Vigil: live face-watchlist alerts for CCTV cameras')
  .addOption(new Option('-c, --config <file>', 'config file (YAML or JSON)').env('VIGIL_CONFIG'))
  .option('--verbose', 'stack traces on errors, debug logs')
  .showHelpAfterError();


const out = (line: string): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);

program
  .command('start')
  .description('run every stage in one process (the embedded default); with no cameras configured, a built-in demo')
  .option('--profile <name>', 'model profile (overrides models.profile)')
  .action(async (opts: { profile?: string }, cmd: Command) => {
    const { cfg, log } = setup(cmd);
    let cameras: CameraConfig[] = cfg.cameras.filter((c) => c.enabled);
    const demo = cameras.length === 0;
    const runtime = await openRuntime(cfg, log, { profile: opts.profile, fetch: true });
    if (demo) {
      const media = await ensureDemoMedia(cfg.dataDir, (m) => log.info(m));
      if (!runtime.store.get(DEMO_SUBJECT.id)) {
        const s = await enroll(runtime.engine, runtime.store, { ...DEMO_SUBJECT, files: media.stills });
        runtime.index.upsert(s);
        log.info({ subject: s.id }, 'demo subject enrolled');
      }
      cameras = [demoCamera(media.video)];
    }
    const { token, generated, file } = await ensureToken(cfg.dataDir, cfg.broadcast.token);
    const pipeline = new Pipeline({ cfg, log, runtime, live: true, broadcastToken: token });
    await pipeline.start();
    pipeline.onMatch('console', (e) => out(alertLine(e)));
    banner(cfg, runtime, pipeline, { demo, cameras, token: generated ? token : undefined, tokenFile: file });
    let unfollow: (() => void) | undefined;
    installShutdown(log, async () => {
      unfollow?.();
      await pipeline.stop();
      await runtime.close();
    });
    collectProcessMetrics();
    // Each camera runs under a supervisor (reconnects, stall watchdog) until Vigil stops; edits to
    // the config file's cameras apply while running.
    await pipeline.cameras.apply(demo ? cameras : cfg.cameras);
    const cfgFile = cmd.optsWithGlobals<GlobalOpts>().config;
    if (cfgFile && cfg.ingest.watchConfig) unfollow = followConfigCameras(cfgFile, { cameras: pipeline.cameras, log, running: cfg, fallback: demo ? cameras : [] });
  });

function banner(cfg: Config, rt: Runtime, p: Pipeline, o: { demo: boolean; cameras: CameraConfig[]; token?: string; tokenFile?: string }): void {
  const e = rt.engine;
  err('');
  err(`Vigil is running (embedded mode) - model profile "${e.profile.name}": ${e.profile.profile.description}`);
  for (const l of rt.licenses) err(`  license  ${l}`);
  err(`  watchlist ${rt.store.list().length} subject(s), threshold ${rt.threshold}`);
  for (const c of o.cameras) err(`  camera   ${c.id}: ${redactUrl(c.url)} @ ${c.fps} fps`);
  if (o.demo) err(`  demo     streaming a face video and alerting on the enrolled "${DEMO_SUBJECT.name}"; alerts print below`);
  err('');
  err(`Connect a monitor:  ws://${cfg.broadcast.host}:${p.broadcast?.port ?? cfg.broadcast.port}/?token=<token>  (or header "Authorization: Bearer <token>")`);
  if (o.token) err(`  token (generated now, kept in ${o.tokenFile}): ${o.token}`);
  else err(`  token: ${o.tokenFile ? `in ${o.tokenFile}` : 'broadcast.token in your config'}`);
  err('Use your own cameras: write a config file, e.g. vigil.yaml:');
  err('  cameras:');
  err('    - { id: door, url: "rtsp://user:{VIGIL_DOOR_PASSWORD}@192.0.2.10/stream1", fps: 5 }');
  err('then enroll people (bin/vigil.js enroll --name "Jane Doe" jane1.jpg jane2.jpg) and run bin/vigil.js -c vigil.yaml start');
  err('');
}

/** SIGINT/SIGTERM share one shutdown path with a deadline; a second signal exits at once. */
function installShutdown(log: Logger, stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  const run = (): Promise<void> => (stopping ??= stop());
  const onSignal = (sig: string): void => {
    if (stopping) process.exit(130);
    log.info({ signal: sig }, 'shutting down');
    const timer = setTimeout(() => process.exit(1), 10_000);
    timer.unref();
    void run().then(() => process.exit(0));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  return run;
}

const cameraIdOf = (file: string): string => basename(file, extname(file)).replace(/[^A-Za-z0-9_.-]/g, '_') || 'file';

program
  .command('replay')
  .description('run recorded files through the same pipeline as fast as possible, then exit')
  .argument('<videos...>', 'video files')
  .option('--json', 'print one match event per line on stdout (logs and progress stay on stderr)')
  .option('--no-crop', 'leave the base64 face crop out of --json events')
  .option('--profile <name>', 'model profile (overrides models.profile)')
  .option('--fps <n>', 'frames sampled per second', (v) => Number(v))
  .option('--threshold <t>', 'cosine similarity for a match (overrides the profile)', (v) => Number(v))
  .option('--report <dir>', 'write an evidence bundle there (manifest, events, sightings, crops, report.html and .pdf); the folder must be new or empty')
  .option('--no-pdf', 'with --report: no report.pdf (no Chromium needed)')
  .option('--blur-bystanders', 'with --report: blur every face but the subject\'s in the exported crops')
  .option('--sightings', 'with --json: also print each sighting as a JSON line (kind "sighting")')
  .action(async (videos: string[], opts: { json?: boolean; crop: boolean; profile?: string; fps?: number; threshold?: number; report?: string; pdf: boolean; sightings?: boolean; blurBystanders?: boolean }, cmd: Command) => {
    const { cfg, log } = setup(cmd);
    const audit = new ReplayAudit(cfg, opts);
    const runtime = await openRuntime(cfg, log, { profile: opts.profile, fetch: false });
    const rt: Runtime = opts.threshold === undefined ? runtime : { ...runtime, threshold: opts.threshold };
    const pipeline = new Pipeline({ cfg, log, runtime: rt, live: false });
    await pipeline.start();
    let events = 0;
    pipeline.onMatch('cli', (e) => {
      events++;
      out(opts.json ? eventJson(e, opts.crop) : alertLine(e));
    });
    await audit.attach(pipeline, videos);
    err(`replaying ${videos.length} file(s) with profile "${runtime.engine.profile.name}" (threshold ${rt.threshold}); watchlist: ${runtime.store.list().length} subject(s)`);
    const t0 = Date.now();
    const results = await Promise.all(
      videos.map((v) => pipeline.runSource({ id: cameraIdOf(v), url: v, fps: opts.fps ?? 5, maxWidth: 1280, realtime: false, loop: false, enabled: true, transport: 'tcp' })),
    );
    await pipeline.drain();
    await audit.finish(pipeline, runtime, rt.threshold, videos, results, out, err);
    await pipeline.stop();
    await runtime.close();
    let failed = 0;
    for (const r of results) {
      if ('error' in r) {
        failed++;
        err(`${r.camera}: ${isVigilError(r.error) ? `${r.error.code}: ` : ''}${r.error.message}`);
      } else err(`${r.camera}: ${r.frames} frames (${r.probe.duration?.toFixed(1) ?? '?'} s of video)`);
    }
    const unknown = Object.entries(pipeline.matcher.unknown()).map(([c, u]) => `${c}: ${u.tracks} unknown appearance(s), ${u.faces} face(s)`);
    if (unknown.length) err(`not on the watchlist: ${unknown.join('; ')}`);
    err(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${events} event(s) (${pipeline.matcher.alerts} alert(s), ${pipeline.matcher.updates} update(s)), ${failed} file(s) failed`);
    process.exitCode = failed ? 1 : 0;
  });

program
  .command('enroll')
  .description('add a person to the watchlist from one or more photos (each must show exactly one face)')
  .requiredOption('--name <name>', 'display name')
  .option('--id <id>', 'subject id (default: from the name); an existing id gets the photos added')
  .option('--profile <name>', 'model profile (overrides models.profile)')
  .option('--reason <text>', 'why (kept in the audit log)')
  .argument('<images...>', 'photos of the person')
  .action(async (images: string[], opts: { name: string; id?: string; profile?: string; reason?: string }, cmd: Command) => {
    const { cfg, log } = setup(cmd);
    const store = await new WatchlistStore(cfg.dataDir).load();
    const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: true });
    try {
      const { subject: s, warnings } = await enrollWithReport(engine, store, { name: opts.name, id: opts.id, files: images }, { duplicateThreshold: matchThreshold(engine.profile.profile, cfg.matcher).threshold });
      for (const w of warnings) err(`warning: ${w.message}`);
      out(`enrolled ${s.name} [${s.id}] from ${images.length} photo(s) with ${engine.model}; the watchlist has ${store.list().length} subject(s)`);
      await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.enroll', subject: s.id, name: s.name, photos: await photoHashes(images), model: engine.model, reason: opts.reason ?? null });
      await announceWatchlist(cfg, log, [{ op: 'upsert', subject: s }], out);
    } finally {
      await engine.close();
    }
  });

const watchlist = program.command('watchlist').description('inspect and change the watchlist');
watchlist
  .command('list')
  .description('list enrolled subjects')
  .action(async (_o: unknown, cmd: Command) => {
    const { cfg } = setup(cmd);
    const store = await new WatchlistStore(cfg.dataDir).load();
    if (store.list().length === 0) out('the watchlist is empty');
    for (const s of store.list()) {
      const models = [...new Set(s.embeddings.map((e) => e.model))].join(', ');
      out(`${s.id}\t${s.name}\t${s.images.length} image(s)\tmodels: ${models}\tupdated ${s.updatedAt}`);
    }
  });
watchlist
  .command('remove')
  .argument('<id>', 'subject id')
  .description('remove a subject')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
    const { cfg, log } = setup(cmd);
    const store = await new WatchlistStore(cfg.dataDir).load();
    const photos = store.get(id)?.images.map((i) => i.sha256) ?? [];
    if (!(await store.remove(id))) throw new VigilError('VIGIL_ERR_WATCHLIST_UNKNOWN', { subject: id });
    out(`removed ${id}`);
    await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.remove', subject: id, photos, reason: opts.reason ?? null });
    await announceWatchlist(cfg, log, [{ op: 'remove', id }], out);
  });
watchlist
  .command('reembed')
  .description('re-embed every subject from its stored photos with the current profile')
  .option('--profile <name>', 'model profile (overrides models.profile)')
  .option('--reason <text>', 'why (kept in the audit log)')
  .action(async (opts: { profile?: string; reason?: string }, cmd: Command) => {
    const { cfg, log } = setup(cmd);
    const store = await new WatchlistStore(cfg.dataDir).load();
    const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: false });
    try {
      const done = await reembed(engine, store, { force: true });
      out(`re-embedded ${done.length} subject(s) with ${engine.model}`);
      await auditLogOf(cfg).record({ actor: cliActor(), action: 'subject.reembed', subjects: done, photos: done.flatMap((id) => store.get(id)?.images.map((i) => i.sha256) ?? []), model: engine.model, reason: opts.reason ?? null });
      await announceWatchlist(cfg, log, done.map((id) => ({ op: 'upsert' as const, subject: store.get(id)! })), out);
    } finally {
      await engine.close();
    }
  });

const models = program.command('models').description('model profiles: list, install');
models
  .command('list')
  .description('profiles, whether installed, and each model\'s license')
  .action(async (_o: unknown, cmd: Command) => {
    const { cfg } = setup(cmd);
    out(formatProfilesTable(await describeProfiles(loadManifest(), modelsDirOf(cfg))));
  });
models
  .command('pull')
  .description('install a profile from the local models folder or the npm registry, verifying checksums')
  .argument('[profile]', 'profile name', 'research')
  .addOption(new Option('--from <channel>', 'where from (default: the profile\'s own channel)').choices(['local', 'npm']))
  .option('--force', 'reinstall even when installed files verify')
  .action(async (profile: string, opts: { from?: 'local' | 'npm'; force?: boolean }, cmd: Command) => {
    const { cfg } = setup(cmd);
    const s = await pullProfile(loadManifest(), { profile, modelsDir: modelsDirOf(cfg), from: opts.from, localDir: localModelsOf(cfg), force: opts.force, log: err });
    for (const m of s.models) out(`${m.action}\t${m.id}\t${m.file}\t${m.bytes} bytes`);
    out(`profile "${s.profile}" installed in ${s.modelsDir} (from ${s.from})`);
  });

program
  .command('validate-config')
  .description('check the config file and print every problem')
  .action((_o: unknown, cmd: Command) => {
    const { cfg } = setup(cmd);
    out(`config OK: ${cfg.cameras.length} camera(s), data in ${cfg.dataDir}`);
  });

registerBenchAlerts(program);
registerBenchFace(program);
registerBenchIngest(program);
registerServices(program);
registerBenchKafka(program);
registerAudit(program);
registerSearch(program);
registerBenchSearch(benchGroup(program));

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const verbose = argv.includes('--verbose');
    if (isVigilError(e)) {
      err(`${e.code}: ${e.message}`);
      err(`  hint: ${e.hint}`);
      if (verbose && e.stack) err(e.stack);
      process.exitCode = e.exitCode;
    } else {
      err(`error: ${(e as Error).message}`);
      if (verbose && (e as Error).stack) err((e as Error).stack!);
      process.exitCode = 1;
    }
  }
}

await main(process.argv);
