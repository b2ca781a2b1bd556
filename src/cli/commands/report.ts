import { isVigilError } from '../../errors.js';
import type { SightingMsg } from '../../contracts/messages.js';
import type { SourceResult } from '../../ingest/source.js';
import type { ReplayedFile } from '../../audit/report.js';

/** One terminal line per sighting: when (media time and capture time), where, who, how sure, which alert. */
export function sightingLine(s: SightingMsg): string {
  const span = s.firstMediaTime === null ? `${s.firstSeenAt} → ${s.lastSeenAt}` : `t=${s.firstMediaTime.toFixed(1)}–${s.lastMediaTime!.toFixed(1)}s`;
  return `SIGHTING ${span} camera=${s.camera}  ${s.subject.name} [${s.subject.id}]  ${s.faces} face(s), best ${s.similarity.toFixed(2)}${s.bestMediaTime === null ? '' : ` at t=${s.bestMediaTime.toFixed(1)}s`}  alert ${s.alertId}`;
}

/** What the evidence bundle says about each replayed file: complete, or why not. */
export function replayedFiles(videos: readonly string[], results: readonly (SourceResult | { camera: string; error: Error })[], fps: number): ReplayedFile[] {
  return results.map((r, i) =>
    'error' in r
      ? { file: videos[i]!, camera: r.camera, frames: 0, fps, width: null, height: null, duration: null, status: `failed: ${isVigilError(r.error) ? `${r.error.code}: ` : ''}${r.error.message}` }
      : { file: videos[i]!, camera: r.camera, frames: r.frames, fps, width: r.probe.width, height: r.probe.height, duration: r.probe.duration, status: 'complete' },
  );
}
