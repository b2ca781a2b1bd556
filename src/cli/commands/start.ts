import type { Command } from 'commander';
import { ensureTokens } from '../../broadcast/token.js';
import type { CameraConfig, Config } from '../../config/schema.js';
import { DEMO_SUBJECT, demoCamera, ensureDemoMedia } from '../../demo.js';
import { followConfigCameras } from '../../ingest/reload.js';
import { safeUrl } from '../../util/redact.js';
import { enroll } from '../../matcher/enroll.js';
import { collectProcessMetrics } from '../../metrics.js';
import { Pipeline } from '../../pipeline.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import { alertLine, err, out } from '../format.js';
import { warnWithoutHeapFloor } from '../heap.js';
import { setup } from '../setup.js';
import { installShutdown } from '../shutdown.js';

/** `vigil start`: every stage in one process (embedded mode); the demo when no camera is configured. */
export function register(program: Command): void {
  program
    .command('start')
    .description('run every stage in one process (the embedded default); with no cameras configured, a built-in demo')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .action(async (opts: { profile?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      warnWithoutHeapFloor(log);
      let cameras: CameraConfig[] = cfg.cameras.filter((c) => c.enabled);
      const demo = cameras.length === 0;
      const runtime = await openRuntime(cfg, log, { profile: opts.profile, fetch: true });
      // Until the pipeline runs, a failure (demo media, a port in use) closes what is open: the
      // inference worker threads would otherwise keep the process alive.
      const prepare = async () => {
        if (demo) {
          const media = await ensureDemoMedia(cfg.dataDir, (m) => log.info(m));
          if (!runtime.store.get(DEMO_SUBJECT.id)) {
            const s = await enroll(runtime.engine, runtime.store, { ...DEMO_SUBJECT, files: media.stills });
            runtime.index.upsert(s);
            log.info({ subject: s.id }, 'demo subject enrolled');
          }
          cameras = [demoCamera(media.video)];
        }
        const t = await ensureTokens(cfg.dataDir, cfg.broadcast);
        const p = new Pipeline({ cfg, log, runtime, live: true, broadcastTokens: t.tokens });
        await p.start().catch(async (err: unknown) => {
          await p.stop();
          throw err;
        });
        return { ...t, pipeline: p };
      };
      const { pipeline, tokens, generated, file } = await prepare().catch(async (err: unknown) => {
        await runtime.close();
        throw err;
      });
      const token = tokens.of('admin')!;
      pipeline.onMatch('console', (e) => out(alertLine(e)));
      banner(cfg, runtime, pipeline, { demo, cameras, token: generated.includes('admin') ? token : undefined, tokenFile: file, consoleToken: token });
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
      const cfgFile = cmd.optsWithGlobals<{ config?: string }>().config;
      if (cfgFile && cfg.ingest.watchConfig) unfollow = followConfigCameras(cfgFile, { cameras: pipeline.cameras, log, running: cfg, fallback: demo ? cameras : [] });
    });
}

function banner(cfg: Config, rt: Runtime, p: Pipeline, o: { demo: boolean; cameras: CameraConfig[]; token?: string; tokenFile?: string; consoleToken: string }): void {
  const e = rt.engine;
  err('');
  err(`Vigil is running (embedded mode) - model profile "${e.profile.name}": ${e.profile.profile.description}`);
  for (const l of rt.licenses) err(`  license  ${l}`);
  err(`  watchlist ${rt.store.count()} subject(s) (${rt.index.size} vector(s) of ${rt.engine.model}), threshold ${rt.threshold}`);
  for (const c of o.cameras) err(`  camera   ${c.id}: ${safeUrl(c.url)} @ ${c.fps} fps`);
  if (o.demo) err(`  demo     streaming a face video and alerting on the enrolled "${DEMO_SUBJECT.name}"; alerts print below`);
  err('');
  const tls = p.broadcast?.tls ? 's' : '';
  const hostPort = `${cfg.broadcast.host}:${p.broadcast?.port ?? cfg.broadcast.port}`;
  err(`console: http${tls}://${hostPort}/?token=${o.consoleToken}`);
  err(`Connect a monitor:  ws${tls}://${hostPort}/?token=<token>  (or header "Authorization: Bearer <token>"; API: docs/openapi.yaml)`);
  if (o.token) err(`  token (generated now, kept in ${o.tokenFile}): ${o.token}`);
  else err(`  tokens: viewer, operator, admin in ${o.tokenFile ?? 'your config'} (or broadcast.tokens / broadcast.token in the config)`);
  err('Use your own cameras: write a config file, e.g. vigil.yaml:');
  err('  cameras:');
  err('    - { id: door, url: "rtsp://user:{VIGIL_DOOR_PASSWORD}@192.0.2.10/stream1", fps: 5 }');
  err('then enroll people (bin/vigil.js enroll --name "Jane Doe" jane1.jpg jane2.jpg) and run bin/vigil.js -c vigil.yaml start');
  err('');
}
