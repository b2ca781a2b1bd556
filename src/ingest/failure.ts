/**
 * What kind of failure ffmpeg's last words describe, so each camera gets an error that says what to
 * fix (credentials, path, network, not video) instead of ffmpeg's raw text.
 */
export type FailureKind = 'auth' | 'not-found' | 'unreachable' | 'not-video' | 'other';

const rules: readonly [FailureKind, RegExp][] = [
  ['auth', /\b40[13]\b|Unauthorized|authori[sz]ation failed|Forbidden/i],
  ['not-found', /\b404\b|Not Found|No such file or directory/i],
  [
    'unreachable',
    /Connection refused|Connection timed out|No route to host|Network is unreachable|Host is unreachable|Name or service not known|Temporary failure in name resolution|Connection reset by peer|Broken pipe|End of file/i,
  ],
  ['not-video', /matches no streams|does not contain any stream|Invalid data found when processing input|no video stream|Could not find codec parameters|moov atom not found/i],
];

export function classifyFailure(stderr: string): FailureKind {
  for (const [kind, re] of rules) if (re.test(stderr)) return kind;
  return 'other';
}
