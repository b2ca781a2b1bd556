import { spawn } from 'node:child_process';
import ffmpeg from 'fluent-ffmpeg';
import { VigilError } from '../errors.js';
import { classifyFailure, type FailureKind } from './failure.js';
import { redactSecrets } from './redact.js';

/**
 * The only module that runs ffmpeg: probe a file (fluent-ffmpeg's ffprobe wrapper) and decode a file
 * or stream to frames (ffmpeg spawned directly, so the arguments, the process id and stderr are ours).
 * Every text that leaves this module has the URL's credentials redacted.
 */

export interface ProbeInfo {
  readonly width: number;
  readonly height: number;
  /** seconds, null for live streams */
  readonly duration: number | null;
  readonly fps: number | null;
  /** creation_time tag of a recording, epoch ms, when present */
  readonly creationTime: number | null;
}

/** A network source (camera, stream server) rather than a local file. */
export const isStream = (url: string): boolean => /^(rtsps?|rtmps?|srt|udp|tcp):\/\//i.test(url);
/** Anything with a scheme other than file:// is live: it has no end we should wait for. */
export const isLiveUrl = (url: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^file:/i.test(url);

export type RtspTransport = 'tcp' | 'udp';

function inputOptions(url: string, transport: RtspTransport = 'tcp'): string[] {
  return /^rtsps?:/i.test(url) ? ['-rtsp_transport', transport] : [];
}

function parseRate(r: string | undefined): number | null {
  if (!r) return null;
  const [a, b] = r.split('/').map(Number);
  const v = b ? a / b : a;
  return Number.isFinite(v) && v > 0 ? v : null;
}

/** Probes a file (or stream) for size, duration and rate. Rejects with an IngestFailure (redacted). */
export function probe(url: string): Promise<ProbeInfo> {
  return new Promise((resolve, reject) => {
    ffmpeg.ffprobe(url, inputOptions(url), (err, data) => {
      if (err) {
        const text = redactSecrets(String((err as Error).message ?? err), url);
        return reject(new IngestFailure(classifyFailure(text), lastLines(text), null));
      }
      const v = data.streams.find((s) => s.codec_type === 'video' && s.width && s.height);
      if (!v) return reject(new IngestFailure('not-video', 'no video stream', null));
      const tag = data.format.tags?.creation_time ?? v.tags?.creation_time;
      const created = typeof tag === 'string' ? Date.parse(tag) : NaN;
      const duration = Number(data.format.duration);
      resolve({
        width: v.width!,
        height: v.height!,
        duration: isStream(url) || !Number.isFinite(duration) ? null : duration,
        fps: parseRate(v.avg_frame_rate) ?? parseRate(v.r_frame_rate),
        creationTime: Number.isFinite(created) && created > 0 ? created : null,
      });
    });
  });
}

const banner = /^(lib\w+\s+\d|configuration:|built with|ffmpeg version|ffprobe version|Copyright|Input #|Output #|Duration:|Stream #|Metadata:|Stream mapping:|Press \[q\]|frame=|\w+\s+:\s)/;

/** The last meaningful lines of ffmpeg's stderr: the reason, without its version banner. */
export function lastLines(text: string, n = 2): string {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l && !banner.test(l))
    .slice(-n)
    .join(' | ');
}

/** Decoder settings the ingest benchmark compares (all hardware-free). */
export interface DecoderTuning {
  /** Decoder threads; 0 = ffmpeg's choice (about one per core). */
  readonly threads: number;
  /** Decode key frames only (`-skip_frame nokey`): far cheaper, but only one frame per GOP. */
  readonly keyframesOnly: boolean;
}

export interface DecodeOptions {
  readonly url: string;
  /** Frames per second to sample. */
  readonly fps: number;
  /**
   * 'exact' (files, replay): the fps filter, frame n at n/fps, duplicating to fill gaps.
   * 'live' (cameras): the first frame of each 1/fps slot of the stream's own clock, never a
   * duplicate, so a stream that hiccups does not produce a burst of copies afterwards.
   */
  readonly sampling?: 'exact' | 'live';
  /** Output size: an exact size, at most this wide (aspect kept, even sides), or the source's own. */
  readonly size?: { readonly width: number; readonly height: number } | { readonly maxWidth: number } | 'source';
  /** Pace a file at its own speed (a simulated live camera). */
  readonly realtime?: boolean;
  readonly loop?: boolean;
  readonly transport?: RtspTransport;
  readonly tuning?: Partial<DecoderTuning>;
  /** 'rgb': raw RGB24 (what inference takes); 'jpeg': JPEG per frame (what crosses processes). */
  readonly output?: 'rgb' | 'jpeg';
}

export interface DecodedFrame {
  /** RGB24 (width*height*3 bytes) or one JPEG, as asked. */
  readonly data: Buffer;
  readonly width: number;
  readonly height: number;
  /** Output frame number of this ffmpeg run, from 0. */
  readonly index: number;
  /** The stream's own presentation time of the frame, s (after ffmpeg's start offset); null if unknown. */
  readonly pts: number | null;
  readonly keyframe: boolean;
}

/** The input's video stream as ffmpeg described it. */
export interface StreamInfo {
  readonly codec: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number | null;
}

export interface DecodeHandle {
  /** Resolves when the source ends (or stop() was called); rejects with an IngestFailure. */
  readonly done: Promise<void>;
  /** The ffmpeg process id (CPU accounting in benchmarks). */
  readonly pid: number | undefined;
  stop(): void;
}

/** ffmpeg exited with an error: what kind (for the per-camera error code) and its last words, redacted. */
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

export interface DecodeCallbacks {
  /** Called per frame, in order. While its promise is pending ffmpeg's output is paused (backpressure). */
  onFrame(frame: DecodedFrame): void | Promise<void>;
  onStreamInfo?(info: StreamInfo): void;
}

const ffmpegPath = (): string => process.env.FFMPEG_PATH || 'ffmpeg';

function videoFilter(o: DecodeOptions): string {
  const f: string[] = [];
  // start_time=0: a video that starts late in its file is padded from 0 in the filter, where showinfo sees it.
  if ((o.sampling ?? 'exact') === 'exact') f.push(`fps=${o.fps}:start_time=0`);
  // Keep a frame when it opens a new 1/fps slot of stream time (t: the frame's own timestamp). "Differs"
  // rather than "later": a stream whose clock jumps back (a camera's encoder restarting) goes on at once.
  else f.push(`select='isnan(prev_selected_t)+not(eq(floor(t*${o.fps})\\,floor(prev_selected_t*${o.fps})))'`);
  const size = o.size ?? 'source';
  if (size !== 'source') {
    if ('maxWidth' in size) f.push(`scale=w='trunc(min(iw\\,${size.maxWidth})/2)*2':h=-2:flags=bilinear`);
    else f.push(`scale=${size.width}:${size.height}:flags=bilinear`);
  }
  // One log line per output frame: its number, timestamp and size (checksums off: they cost CPU).
  f.push('showinfo=checksum=0');
  return f.join(',');
}

/** The ffmpeg command line for `o` (exported for tests and the benchmark's report). */
export function ffmpegArgs(o: DecodeOptions): string[] {
  const live = isLiveUrl(o.url);
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  args.push(...inputOptions(o.url, o.transport));
  if (o.realtime && !live) args.push('-re');
  if (o.loop && !live) args.push('-stream_loop', '-1');
  // Decoder options go before -i: they apply to the input's decoder.
  if (o.tuning?.threads !== undefined) args.push('-threads', String(o.tuning.threads));
  if (o.tuning?.keyframesOnly) args.push('-skip_frame', 'nokey');
  // Live: do not hold the first frame back to estimate the frame rate (sampling uses timestamps); ~0.3 s sooner.
  if (live) args.push('-fpsprobesize', '0');
  args.push('-i', o.url, '-map', '0:v:0', '-an', '-sn', '-dn', '-vf', videoFilter(o));
  // The muxer must neither duplicate nor drop: each output frame is one showinfo line.
  args.push('-fps_mode', 'passthrough');
  if ((o.output ?? 'rgb') === 'rgb') args.push('-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');
  else args.push('-c:v', 'mjpeg', '-q:v', '4', '-pix_fmt', 'yuvj420p', '-f', 'image2pipe', 'pipe:1');
  return args;
}

const showinfoRe = /\bn:\s*(\d+)\s+pts:\s*(-?\d+|NOPTS)\s+pts_time:(\S+).*?\bs:(\d+)x(\d+).*?\biskey:(\d)/;
const inputStreamRe = /Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})\b/;
const fpsRe = /, ([\d.]+) fps\b/;

interface FrameMeta {
  readonly pts: number | null;
  readonly width: number;
  readonly height: number;
  readonly keyframe: boolean;
}


/**
 * Decodes `o.url` and calls `onFrame` for each sampled frame. Frame sizes and timestamps come from
 * the showinfo filter's log line for that frame, so a stream that changes resolution mid-way still
 * splits correctly. ffmpeg writes a frame's log line before its bytes; the two pipes are read
 * independently, so a frame waits here until both have arrived.
 */
export function decode(o: DecodeOptions, cb: DecodeCallbacks): DecodeHandle {
  const args = ffmpegArgs(o);
  const proc = spawn(ffmpegPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const jpeg = o.output === 'jpeg';
  const tail: string[] = [];
  // One entry per showinfo line, in output order. Not keyed by showinfo's n: it restarts at 0 when
  // the filter graph is rebuilt (the stream changed resolution).
  const metas: (FrameMeta | undefined)[] = [];
  let metaHead = 0;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let next = 0;
  let busy = false;
  let stopped = false;
  let inOutput = false;
  let infoSent = false;
  let fatal: unknown;
  let stderrRest = '';
  let killTimer: NodeJS.Timeout | undefined;

  // The first n buffered bytes as one buffer: a single copy out of the pipe's chunks.
  const take = (n: number): Buffer => {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) chunks.shift();
      else chunks[0] = c.subarray(k);
    }
    buffered -= n;
    return out;
  };

  let scanFrom = 0;
  const nextFrameBytes = (meta: FrameMeta): number => {
    if (!jpeg) return buffered >= meta.width * meta.height * 3 ? meta.width * meta.height * 3 : -1;
    if (chunks.length > 1) chunks = [Buffer.concat(chunks, buffered)];
    const buf = chunks[0];
    if (!buf) return -1;
    const at = buf.indexOf(Buffer.from([0xff, 0xd9]), Math.max(2, scanFrom - 1));
    if (at < 0) {
      scanFrom = buf.length;
      return -1;
    }
    scanFrom = 0;
    return at + 2;
  };

  let settle: (() => void) | undefined;
  const pump = (): void => {
    if (busy || fatal || stopped) return;
    while (!fatal && !stopped) {
      const meta = metas[metaHead];
      if (!meta) return;
      const n = nextFrameBytes(meta);
      if (n < 0) return;
      metas[metaHead++] = undefined;
      if (metaHead > 256) {
        metas.splice(0, metaHead);
        metaHead = 0;
      }
      const frame: DecodedFrame = { data: take(n), width: meta.width, height: meta.height, index: next++, pts: meta.pts, keyframe: meta.keyframe };
      let r: void | Promise<void>;
      try {
        r = cb.onFrame(frame);
      } catch (err) {
        fail(err);
        return;
      }
      if (r instanceof Promise) {
        busy = true;
        proc.stdout.pause();
        r.then(
          () => {
            busy = false;
            proc.stdout.resume();
            pump();
            settle?.();
          },
          (err: unknown) => fail(err),
        );
        return;
      }
    }
  };

  const fail = (err: unknown): void => {
    fatal ??= err;
    busy = false;
    kill('SIGKILL');
    settle?.();
  };

  const onStderrLine = (line: string): void => {
    const m = showinfoRe.exec(line);
    if (m) {
      const pts = m[3] === 'NOPTS' || m[2] === 'NOPTS' ? null : Number(m[3]);
      metas.push({ pts: pts !== null && Number.isFinite(pts) ? pts : null, width: Number(m[4]), height: Number(m[5]), keyframe: m[6] === '1' });
      pump();
      return;
    }
    if (/^\s*color_range:/.test(line) || /^\[Parsed_showinfo/.test(line)) return;
    if (/^Output #/.test(line)) inOutput = true;
    if (!inOutput && !infoSent && cb.onStreamInfo) {
      const s = inputStreamRe.exec(line);
      if (s) {
        infoSent = true;
        const fps = fpsRe.exec(line);
        cb.onStreamInfo({ codec: s[1], width: Number(s[2]), height: Number(s[3]), fps: fps ? Number(fps[1]) : null });
      }
    }
    tail.push(redactSecrets(line, o.url));
    if (tail.length > 40) tail.shift();
  };

  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => {
    const parts = (stderrRest + d).split(/\r?\n|\r/);
    stderrRest = parts.pop() ?? '';
    for (const l of parts) if (l.trim()) onStderrLine(l);
  });
  proc.stdout.on('data', (d: Buffer) => {
    chunks.push(d);
    buffered += d.length;
    pump();
  });

  function kill(signal: NodeJS.Signals): void {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    // A process that ignores SIGTERM (stuck in a read) is killed for good after 2 s.
    killTimer ??= setTimeout(() => proc.kill('SIGKILL'), 2000);
    killTimer.unref();
  }

  const done = new Promise<void>((resolve, reject) => {
    proc.on('error', (err: NodeJS.ErrnoException) => {
      fatal ??=
        err.code === 'ENOENT'
          ? new VigilError('VIGIL_ERR_FFMPEG_MISSING', { reason: `${ffmpegPath()} is not on PATH` }, err)
          : new IngestFailure('other', redactSecrets(err.message, o.url), null);
    });
    proc.on('close', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      if (stderrRest.trim()) onStderrLine(stderrRest);
      stderrRest = '';
      // Deliver what is complete, waiting for a pending onFrame, then settle.
      const finish = (): void => {
        if (busy && !fatal) {
          settle = finish;
          return;
        }
        settle = undefined;
        if (fatal) return reject(fatal);
        if (stopped || code === 0) return resolve();
        const text = tail.join('\n');
        reject(new IngestFailure(classifyFailure(text), lastLines(text) || `ffmpeg exited with ${signal ?? `code ${code}`}`, code));
      };
      pump();
      finish();
    });
  });

  return {
    done,
    pid: proc.pid,
    stop() {
      stopped = true;
      kill('SIGTERM');
    },
  };
}
