import { basename } from 'node:path';
import { cliActor } from '../../audit/log.js';
import { checkReportDir, sha256File, vigilVersion, writeEvidence, type ReplayedFile } from '../../audit/report.js';
import type { Config } from '../../config/schema.js';
import type { MatchEvent, SightingMsg } from '../../contracts/messages.js';
import { isVigilError } from '../../errors.js';
import { probe } from '../../ingest/ffmpeg.js';
import type { CameraResult } from '../../ingest/camera.js';
import { matchThreshold } from '../../models/manifest.js';
import type { Pipeline } from '../../pipeline.js';
import type { Runtime } from '../../runtime.js';
import { progressBar, type Progress } from '../progress.js';
import { auditLogOf } from '../../audit/log.js';

/** One terminal line per sighting: when (media time and capture time), where, who, how sure, which alert. */
export function sightingLine(s: SightingMsg): string {
  const span = s.firstMediaTime === null ? `${s.firstSeenAt} → ${s.lastSeenAt}` : `t=${s.firstMediaTime.toFixed(1)}–${s.lastMediaTime!.toFixed(1)}s`;
  return `SIGHTING ${span} camera=${s.camera}  ${s.subject.name} [${s.subject.id}]  ${s.faces} face(s), best ${s.similarity.toFixed(2)}${s.bestMediaTime === null ? '' : ` at t=${s.bestMediaTime.toFixed(1)}s`}  alert ${s.alertId}`;
}

/** What the evidence bundle says about each replayed file: complete, or why not. */
export function replayedFiles(videos: readonly string[], results: readonly CameraResult[], fps: number): ReplayedFile[] {
  return results.map((r, i) => ({
    file: videos[i]!,
    camera: r.camera,
    frames: r.frames,
    fps,
    width: r.size?.width ?? null,
    height: r.size?.height ?? null,
    duration: r.duration,
    // A truncated or corrupt recording keeps what was decoded, and the bundle says it is incomplete.
    status: r.error ? `failed: ${r.error.code}: ${r.error.message}` : 'complete',
  }));
}

export interface ReplayAuditOptions {
  readonly json?: boolean;
  readonly sightings?: boolean;
  readonly report?: string;
  readonly pdf: boolean;
  readonly blurBystanders?: boolean;
  readonly threshold?: number;
  readonly fps?: number;
}

/**
 * What `vigil replay` does for audits, kept out of the command: sightings listed after the run,
 * a progress bar on a terminal, and with --report the evidence bundle, recorded in the audit log.
 */
export class ReplayAudit {
  readonly #cfg: Config;
  readonly #o: ReplayAuditOptions;
  readonly #events: MatchEvent[] = [];
  readonly sightings: SightingMsg[] = [];
  #bar: Progress | undefined;

  /** Checks the report folder first: an unusable one fails before anything is decoded. */
  constructor(cfg: Config, o: ReplayAuditOptions) {
    this.#cfg = cfg;
    this.#o = o;
    if (o.report) checkReportDir(o.report);
  }

  async attach(pipeline: Pipeline, videos: readonly string[]): Promise<void> {
    pipeline.bus.subscribe('sightings', { group: 'replay-audit' }, (ss) => void this.sightings.push(...ss));
    if (this.#o.report) pipeline.onMatch('replay-audit', (e) => void this.#events.push(e));
    if (!process.stderr.isTTY) return;
    const durations = await Promise.all(videos.map((v) => probe(v).then((p) => p.duration ?? 0, () => 0)));
    const total = durations.reduce((a, b) => a + b, 0);
    const reached = new Map<string, number>();
    const bar = (this.#bar = progressBar(videos.length === 1 ? basename(videos[0]!) : `${videos.length} files`));
    pipeline.bus.subscribe('faces', { group: 'replay-progress' }, (msgs) => {
      for (const m of msgs) if (m.mediaTime !== null) reached.set(m.camera, Math.max(reached.get(m.camera) ?? 0, m.mediaTime));
      let done = 0;
      for (const t of reached.values()) done += t;
      bar.update(done, total || null);
    });
  }

  /** After every file ended: close the open tracks, list the sightings, write the bundle. */
  async finish(pipeline: Pipeline, runtime: Runtime, threshold: number, videos: readonly string[], results: readonly CameraResult[], out: (l: string) => void, err: (l: string) => void): Promise<void> {
    await pipeline.matcher.flush();
    await pipeline.drain();
    this.#bar?.stop();
    const o = this.#o;
    for (const s of this.sightings) if (!o.json || o.sightings) out(o.json ? JSON.stringify(s) : sightingLine(s));
    err(`sightings of listed people: ${this.sightings.length}`);
    if (!o.report) return;
    const cfg = this.#cfg;
    const audit = auditLogOf(cfg);
    const auditHead = await audit.checkpoint();
    const thresholdFrom = o.threshold === undefined ? matchThreshold(runtime.engine.profile.profile, cfg.matcher).from : '--threshold';
    const files = replayedFiles(videos, results, o.fps ?? 5);
    const b = await writeEvidence({ dir: o.report, cfg, engine: runtime.engine, store: runtime.store, threshold, thresholdFrom, files, events: this.#events, sightings: this.sightings, unknown: pipeline.matcher.unknown(), auditHead, vigilVersion: vigilVersion(), pdf: o.pdf, blurBystanders: o.blurBystanders });
    await audit.record({
      actor: cliActor(),
      action: 'report.export',
      dir: o.report,
      inputs: await Promise.all(videos.map(async (v) => ({ file: v, sha256: await sha256File(v).catch(() => null) }))),
      manifestSha256: b.manifestSha256,
      alerts: this.#events.filter((e) => e.type === 'alert').map((e) => e.id),
      sightings: this.sightings.length,
      pdf: b.files.includes('report.pdf'),
    });
    err(`evidence bundle written to ${o.report}: ${b.files.length} file(s), manifest sha256 ${b.manifestSha256}`);
    if (b.pdfError) throw b.pdfError;
  }
}
