import { basename } from 'node:path';
import type { Command } from 'commander';
import { sha256Hex } from '../../audit/canonical.js';
import { cliActor, parseSince } from '../../audit/log.js';
import type { Config } from '../../config/schema.js';
import type { FaceEngine } from '../../inference/engine.js';
import { isVigilError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { matchThreshold } from '../../models/manifest.js';
import { openEngine } from '../../runtime.js';
import { indexRecording, type IndexResult } from '../../search/indexer.js';
import { queryFace } from '../../search/query.js';
import { AppearanceIndex } from '../../search/store.js';
import { progressBar } from '../progress.js';
import { setup } from '../setup.js';
import { auditLogOf } from '../../audit/log.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);

/** The appearance index of the engine's model, with retention applied (logged in the audit log). */
async function openIndex(cfg: Config, engine: FaceEngine): Promise<AppearanceIndex> {
  const index = new AppearanceIndex(cfg.dataDir, engine.model, engine.embedder.size);
  const days = cfg.search.retentionDays;
  if (days > 0) {
    const before = Date.now() - days * 86_400_000;
    const purged = index.purgeBefore(before);
    if (purged) {
      await auditLogOf(cfg).record({ actor: 'system', action: 'retention.purge', what: 'appearances', model: engine.model, count: purged, before: new Date(before).toISOString() });
      err(`retention: ${purged} appearance(s) older than ${days} day(s) deleted`);
    }
  }
  return index;
}

/** Indexes each recording not indexed yet (by content), with a progress bar on a terminal; failures are reported, not fatal. */
async function indexAll(cfg: Config, log: Logger, engine: FaceEngine, index: AppearanceIndex, files: readonly string[], o: { fps: number; camera?: string }): Promise<{ results: IndexResult[]; failed: number }> {
  const results: IndexResult[] = [];
  let failed = 0;
  for (const file of files) {
    const bar = progressBar(basename(file));
    try {
      const r = await indexRecording({ cfg, log, engine, index, file, camera: o.camera, fps: o.fps, onProgress: (t, d) => bar.update(t, d) });
      bar.stop();
      results.push(r);
      if (r.decoded) {
        err(`indexed ${file}: ${r.appearances} appearance(s) from ${r.frames} frames, ${r.videoSeconds.toFixed(1)} s of video in ${r.wallSeconds.toFixed(1)} s (${(r.videoSeconds / Math.max(r.wallSeconds, 1e-3)).toFixed(1)}x real time)`);
        await auditLogOf(cfg).record({ actor: cliActor(), action: 'recording.index', file, sha256: r.recording.sha256, appearances: r.appearances, model: engine.model });
      }
    } catch (e) {
      bar.stop();
      failed++;
      err(`${file}: not indexed: ${isVigilError(e) ? `${e.code}: ` : ''}${(e as Error).message}`);
    }
  }
  const decoded = results.filter((r) => r.decoded);
  err(`${decoded.length} recording(s) indexed now (${decoded.reduce((s, r) => s + r.frames, 0)} frames decoded), ${results.length - decoded.length} already indexed, ${failed} failed`);
  return { results, failed };
}

export function register(program: Command): void {
  program
    .command('index')
    .description('index recordings for forensic search: every face track\'s times, box, best crop and embeddings, kept beside the event store')
    .argument('<recordings...>', 'video files')
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .option('--fps <n>', 'frames sampled per second (default search.fps)', (v) => Number(v))
    .option('--camera <id>', 'camera id to file the recordings under (default: from each file name)')
    .action(async (files: string[], opts: { profile?: string; fps?: number; camera?: string }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: false });
      const index = await openIndex(cfg, engine);
      try {
        const { failed } = await indexAll(cfg, log, engine, index, files, { fps: opts.fps ?? cfg.search.fps, camera: opts.camera });
        out(`${index.appearances} appearance(s) in the index of ${engine.model}`);
        process.exitCode = failed ? 1 : 0;
      } finally {
        index.close();
        await engine.close();
      }
    });

  program
    .command('search')
    .description('find a person in recordings without enrolling them: ranked appearances of the face in PHOTO (a photo or a face crop)')
    .requiredOption('--face <photo>', 'photo or face crop of the person to look for')
    .argument('[recordings...]', 'recordings to search (indexed first when new); none: everything indexed')
    .option('--camera <id...>', 'only these cameras')
    .option('--since <time>', 'only appearances at or after this capture time (ISO, or 30m / 12h / 7d back)')
    .option('--until <time>', 'only appearances at or before this capture time')
    .option('--threshold <t>', 'least similarity reported (default: the profile\'s match threshold)', (v) => Number(v))
    .option('--limit <n>', 'most appearances printed (default search.maxResults)', (v) => Number(v))
    .option('--fps <n>', 'frames sampled per second when indexing (default search.fps)', (v) => Number(v))
    .option('--profile <name>', 'model profile (overrides models.profile)')
    .option('--json', 'one JSON object per appearance on stdout')
    .action(async (files: string[], opts: { face: string; camera?: string[]; since?: string; until?: string; threshold?: number; limit?: number; fps?: number; profile?: string; json?: boolean }, cmd: Command) => {
      const { cfg, log } = setup(cmd, 'warn');
      const since = opts.since === undefined ? undefined : parseSince(opts.since);
      const until = opts.until === undefined ? undefined : parseSince(opts.until);
      const engine = await openEngine(cfg, log, { profile: opts.profile, fetch: false });
      const index = await openIndex(cfg, engine);
      try {
        // The photo first: a photo without a face fails before any recording is decoded.
        const q = await queryFace(engine, opts.face);
        const { results, failed } = files.length ? await indexAll(cfg, log, engine, index, files, { fps: opts.fps ?? cfg.search.fps }) : { results: [], failed: 0 };
        const threshold = opts.threshold ?? matchThreshold(engine.profile.profile, cfg.matcher).threshold;
        const limit = opts.limit ?? cfg.search.maxResults;
        const t0 = performance.now();
        const hits = index.search(q.face.embedding, limit, { cameras: opts.camera, recordings: files.length ? results.map((r) => r.recording.id) : undefined, since, until });
        const ms = performance.now() - t0;
        const above = hits.filter((h) => h.similarity >= threshold);
        const det = index.details(above.map((h) => h.appearance));
        const iso = (ms: number): string => new Date(ms).toISOString();
        for (const h of above) {
          const d = det.get(h.appearance)!;
          const r = { mediaTime: d.bestMedia, capturedAt: iso(d.bestAt), camera: d.camera, similarity: Math.round(h.similarity * 1e4) / 1e4, file: d.file, firstMediaTime: d.firstMedia, lastMediaTime: d.lastMedia, firstSeenAt: iso(d.firstAt), lastSeenAt: iso(d.lastAt), faces: d.faces, box: d.box, appearance: h.appearance };
          out(
            opts.json
              ? JSON.stringify(r)
              : `${r.similarity.toFixed(3)}  ${r.camera}  t=${r.mediaTime?.toFixed(1) ?? '-'}s (${r.firstMediaTime?.toFixed(1) ?? '-'}–${r.lastMediaTime?.toFixed(1) ?? '-'} s, ${r.faces} face(s))  ${r.capturedAt}  ${r.file}`,
          );
        }
        const best = hits[0]?.similarity;
        err(`${above.length} appearance(s) at or above the threshold ${threshold}${above.length === 0 && best !== undefined ? ` (the most similar scored ${best.toFixed(3)})` : ''}; ${index.appearances} appearance(s) indexed; search took ${ms.toFixed(1)} ms`);
        await auditLogOf(cfg).record({
          actor: cliActor(),
          action: 'search.face',
          photo: { file: basename(opts.face), sha256: sha256Hex(q.bytes) },
          recordings: results.map((r) => r.recording.sha256),
          filters: { cameras: opts.camera ?? null, since: opts.since ?? null, until: opts.until ?? null },
          threshold,
          results: above.length,
        });
        process.exitCode = failed ? 1 : 0;
      } finally {
        index.close();
        await engine.close();
      }
    });
}
