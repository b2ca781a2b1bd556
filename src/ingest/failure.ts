/**
 * What kind of failure ffmpeg's last words describe, so each camera gets an error that says what to
 * fix (credentials, path, network, not video) instead of ffmpeg's raw text. 'protocol', 'not-file'
 * and 'truncated' are Vigil's own findings (input.ts, the replay's duration check).
 */
export type FailureKind = 'auth' | 'not-found' | 'unreachable' | 'not-video' | 'protocol' | 'not-file' | 'truncated' | 'other';

const rules: readonly [FailureKind, RegExp][] = [
  ['auth', /\b40[13]\b|Unauthorized|authori[sz]ation failed|Forbidden/i],
  // "404 Not Found", but not "moov atom not found" (an MP4 without its index: input.ts refineFailure).
  ['not-found', /\b404\b|Not Found|No such file or directory/],
  [
    'unreachable',
    /Connection refused|Connection timed out|No route to host|Network is unreachable|Host is unreachable|Name or service not known|Temporary failure in name resolution|Connection reset by peer|Broken pipe|End of file/i,
  ],
  ['not-video', /matches no streams|does not contain any stream|Invalid data found when processing input|no video stream|Could not find codec parameters|moov atom not found/i],
  ['protocol', /Protocol '[^']*' not on whitelist|Protocol not found/i],
];

export function classifyFailure(stderr: string): FailureKind {
  for (const [kind, re] of rules) if (re.test(stderr)) return kind;
  return 'other';
}

/** ffmpeg (or the input check) failed: what kind (for the per-camera error code) and its last words, redacted. */
export class IngestFailure extends Error {
  readonly kind: FailureKind;
  readonly exitCode: number | null;
  constructor(kind: FailureKind, detail: string, exitCode: number | null) {
    super(detail);
    this.name = 'IngestFailure';
    this.kind = kind;
    this.exitCode = exitCode;
  }
}
