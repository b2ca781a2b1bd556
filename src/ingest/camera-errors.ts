import { VigilError } from '../errors.js';
import type { RestartReason } from '../metrics.js';
import { IngestFailure, type FailureKind } from './failure.js';
import { redactSecrets, safeUrl } from '../util/redact.js';

const codeOf: Record<FailureKind, VigilError['code']> = {
  auth: 'VIGIL_ERR_INGEST_AUTH',
  'not-found': 'VIGIL_ERR_INGEST_NOT_FOUND',
  unreachable: 'VIGIL_ERR_INGEST_UNREACHABLE',
  'not-video': 'VIGIL_ERR_INGEST_NOT_VIDEO',
  protocol: 'VIGIL_ERR_INGEST_PROTOCOL',
  'not-file': 'VIGIL_ERR_INGEST_NOT_FILE',
  truncated: 'VIGIL_ERR_INGEST_TRUNCATED',
  other: 'VIGIL_ERR_INGEST_DECODE',
};

const reasonOf: Record<FailureKind, RestartReason> = {
  auth: 'auth',
  'not-found': 'not_found',
  unreachable: 'unreachable',
  'not-video': 'not_video',
  protocol: 'error',
  'not-file': 'error',
  truncated: 'error',
  other: 'error',
};

/** ffmpeg's own clutter removed from its last words: "[rtsp @ 0x55..] " prefixes and advice lines. */
export function tidyReason(detail: string): string {
  return detail
    .split(' | ')
    .map((l) => l.replace(/^\[[\w\s./-]+ @ 0x[0-9a-f]+\]\s*/i, '').trim())
    .filter((l) => l && !/^To ignore this/i.test(l))
    .join('; ');
}

/**
 * The one error mapper of ingest, whatever the policy (replay, live) or the mode (`start`, `replay`,
 * `vigil ingest`): a camera's failure as a VigilError whose code says what to fix. Every text is redacted against the
 * camera's URL (ffmpeg.ts already redacts what it reports; this also covers any other error).
 */
export function cameraError(camera: string, url: string, err: unknown): { error: VigilError; reason: RestartReason } {
  const shownUrl = safeUrl(url);
  if (err instanceof VigilError) return { error: err, reason: 'error' };
  if (err instanceof IngestFailure) {
    const reason = redactSecrets(tidyReason(err.message), url);
    return { error: new VigilError(codeOf[err.kind], { camera, url: shownUrl, reason }), reason: reasonOf[err.kind] };
  }
  const reason = redactSecrets((err as Error)?.message ?? String(err), url);
  return { error: new VigilError('VIGIL_ERR_INGEST_DECODE', { camera, url: shownUrl, reason }), reason: 'error' };
}
