import { open, stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { IngestFailure } from './failure.js';

/**
 * What ffmpeg is allowed to open for a camera URL. ffmpeg reads far more than files and cameras:
 * `concat:a|b`, `subfile,,start,0,end,9,,:x`, `data:...`, `pipe:0`, and a name that starts with "-" is
 * an option. So a camera's URL is checked here once, and ffmpeg gets it in a form it cannot misread:
 * a local file as an absolute path (never an option, never a protocol), a stream with its own scheme,
 * and `-protocol_whitelist` limiting what it opens underneath (RTP over UDP, TLS, ...) to what that
 * scheme needs.
 */

/** The schemes a camera URL may use unless `ingest.protocols` narrows them ("file": a local path). */
export const DEFAULT_PROTOCOLS = ['file', 'rtsp', 'rtsps', 'http', 'https', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp'] as const;

/** Per scheme, the protocols ffmpeg may open to read it (its `-protocol_whitelist`). */
const UNDERNEATH: Readonly<Record<string, string>> = {
  file: 'file',
  rtsp: 'rtsp,rtp,srtp,udp,tcp,tls',
  rtsps: 'rtsps,rtp,srtp,udp,tcp,tls',
  http: 'http,https,tcp,tls,crypto',
  https: 'http,https,tcp,tls,crypto',
  rtmp: 'rtmp,rtmps,tcp,tls',
  rtmps: 'rtmp,rtmps,tcp,tls',
  srt: 'srt,udp',
  udp: 'udp,rtp',
  tcp: 'tcp',
};

/** What ffmpeg gets for a camera URL. */
export interface Input {
  /** The scheme ("file" for a local path). */
  readonly scheme: string;
  /** The argument for `-i`: an absolute path for a local file, else the URL as given. */
  readonly arg: string;
  /** A local file's absolute path; null for a stream. */
  readonly path: string | null;
  /** ffmpeg's `-protocol_whitelist` for it. */
  readonly whitelist: string;
}

// ffmpeg's own rule (libavformat/avio.c): a run of letters, digits, "+", "-" and "." then ":" is a
// protocol name (one letter: a DOS drive); "subfile," opens one with options.
const SCHEME_CHARS = /^[A-Za-z0-9+.-]*/;

/** The protocol ffmpeg would read `url` with ("file" for a plain path). */
export function schemeOf(url: string): string {
  const run = SCHEME_CHARS.exec(url)![0];
  if (url[run.length] === ':' && run.length > 1) return run.toLowerCase();
  if (/^subfile,/i.test(url) && url.includes(':')) return 'subfile';
  return 'file';
}

/**
 * `url` checked against the allowed schemes and put in the form ffmpeg gets. Throws an IngestFailure
 * ('protocol') naming the scheme when it is not allowed.
 */
export function inputOf(url: string, allowed: readonly string[] = DEFAULT_PROTOCOLS): Input {
  // A line break would start a new directive in the ffconcat list that carries a URL with credentials.
  if (/[\x00-\x1f\x7f]/.test(url)) throw new IngestFailure('protocol', 'the URL holds control characters (a line break, a tab)', null);
  const scheme = schemeOf(url);
  // The scheme comes from the user: an unknown one (or one named like an Object method) has no entry.
  const whitelist = Object.hasOwn(UNDERNEATH, scheme) ? UNDERNEATH[scheme] : undefined;
  if (whitelist === undefined || !allowed.includes(scheme)) {
    const which = whitelist !== undefined ? `ingest.protocols allows only ${allowed.join(', ')}` : `Vigil reads ${allowed.join(', ')}`;
    throw new IngestFailure('protocol', `the "${scheme}:" protocol is not allowed (${which}); a local file whose name has a ":" can be given as ./name`, null);
  }
  if (scheme !== 'file') return { scheme, arg: url, path: null, whitelist };
  // file:/x, file:///x and file:x name the path after "file:" (ffmpeg does not decode %xx there).
  const path = resolve(url.replace(/^file:/i, ''));
  return { scheme, arg: path, path, whitelist };
}

/**
 * A recording to replay must be a regular file: a FIFO, a device or a socket has no end and no
 * container duration, and reading one would hang. A missing file is left to ffmpeg to report.
 */
export async function checkRecording(input: Input): Promise<void> {
  if (input.path === null) return;
  const s = await stat(input.path).catch(() => null);
  if (s && !s.isFile()) {
    const what = s.isFIFO() ? 'a FIFO (named pipe)' : s.isDirectory() ? 'a directory' : s.isSocket() ? 'a socket' : 'a device';
    throw new IngestFailure('not-file', `${what}, not a regular file`, null);
  }
}

/** Anything with a scheme other than file: is live: it has no end we should wait for. */
export const isLiveUrl = (url: string): boolean => schemeOf(url) !== 'file';

const idPart = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_');

/**
 * Camera ids for recordings given on the command line: the file's name without its extension, the
 * parent folder's name in front where two names collide (a/door.mp4, b/door.mp4 -> a_door, b_door),
 * and a number after where that still collides (the same file twice) — never one camera for two files.
 */
export function recordingIds(paths: readonly string[]): string[] {
  const named = paths.map((p) => ({ p, base: idPart(basename(p, extname(p))) || 'file' }));
  const withDir = named.map(({ p, base }) => (named.filter((n) => n.base === base).length > 1 ? `${idPart(basename(dirname(resolve(p)))) || 'root'}_${base}` : base));
  const seen = new Map<string, number>();
  return withDir.map((id) => {
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    return n === 1 ? id : `${id}-${n}`;
  });
}

/**
 * An MP4 that starts like one (an "ftyp" box) but has no index ("moov atom not found") was cut off
 * while it was written; anything else without an index is not an MP4 at all. ffmpeg says the same for
 * both, so the file's first bytes tell them apart.
 */
export async function refineFailure(input: Input, err: unknown): Promise<unknown> {
  if (!(err instanceof IngestFailure) || input.path === null || !/moov atom not found/i.test(err.message)) return err;
  const head = Buffer.alloc(8);
  const fh = await open(input.path).catch(() => null);
  if (!fh) return err;
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  const kind = head.toString('latin1', 4, 8) === 'ftyp' ? 'truncated' : 'not-video';
  return new IngestFailure(kind, err.message, err.exitCode);
}
