import type { Command } from 'commander';
import type { CameraResult } from '../../ingest/camera.js';
import { recordingIds } from '../../ingest/input.js';
import { Pipeline } from '../../pipeline.js';
import { openRuntime, type Runtime } from '../../runtime.js';
import { alertLine, err, eventJson, out } from '../format.js';
import { ReplayAudit } from './report.js';
import { warnWithoutHeapFloor } from '../heap.js';
import { setup } from '../setup.js';

interface ReplayOpts {
  json?: boolean;
  crop: boolean;
  profile?: string;
  fps?: number;
  threshold?: number;
  report?: string;
  pdf: boolean;
  sightings?: boolean;
  blurBystanders?: boolean;
}

/** `vigil replay`: recorded files through the same pipeline as fast as possible, then exit. */
export function register(program: Command): void {
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
    .option('--blur-bystanders', "with --report: blur every face but the subject's in the exported crops")
    .option('--sightings', 'with --json: also print each sighting as a JSON line (kind "sighting")')
    .action(async (videos: string[], opts: ReplayOpts, cmd: Command) => {
      const { cfg, log } = setup(cmd);
      warnWithoutHeapFloor(log);
      const audit = new ReplayAudit(cfg, opts);
      const runtime = await openRuntime(cfg, log, { profile: opts.profile, fetch: false });
      const rt: Runtime = opts.threshold === undefined ? runtime : { ...runtime, threshold: opts.threshold };
      const pipeline = new Pipeline({ cfg, log, runtime: rt, live: false });
      let events = 0;
      let results: CameraResult[];
      const t0 = Date.now();
      // Stopped and closed whatever happens (a report that fails, say): worker threads would keep the process up.
      try {
        await pipeline.start();
        pipeline.onMatch('cli', (e) => {
          events++;
          out(opts.json ? eventJson(e, opts.crop) : alertLine(e));
        });
        await audit.attach(pipeline, videos);
        err(`replaying ${videos.length} file(s) with profile "${runtime.engine.profile.name}" (threshold ${rt.threshold}); watchlist: ${runtime.store.count()} subject(s)`);
        // Two files of one name in different folders are two cameras (north_door, south_door).
        const ids = recordingIds(videos); // one per file, in order
        results = await pipeline.cameras.run(videos.map((v, i) => ({ id: ids[i]!, url: v, fps: opts.fps ?? 5, maxWidth: 1280, realtime: false, loop: false, enabled: true, transport: 'tcp' })));
        await pipeline.drain();
        await audit.finish(pipeline, runtime, rt.threshold, videos, results, out, err);
      } finally {
        await pipeline.stop();
        await runtime.close();
      }
      let failed = 0;
      for (const r of results) {
        if (r.error) {
          failed++;
          err(`${r.camera}: ${r.error.code}: ${r.error.message}`);
        } else err(`${r.camera}: ${r.frames} frames (${r.duration?.toFixed(1) ?? '?'} s of video)`);
      }
      const unknown = Object.entries(pipeline.matcher.unknown()).map(([c, u]) => `${c}: ${u.tracks} unknown appearance(s), ${u.faces} face(s)`);
      if (unknown.length) err(`not on the watchlist: ${unknown.join('; ')}`);
      err(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${events} event(s) (${pipeline.matcher.alerts} alert(s), ${pipeline.matcher.updates} update(s)), ${failed} file(s) failed`);
      process.exitCode = failed ? 1 : 0;
    });
}
