import { spawn, type ChildProcessByStdio, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { VigilError } from '../errors.js';
import { FrameAssembler, LineSplitter, parseInputStream, parseShowinfo, type StreamInfo } from './assembler.js';
import { classifyFailure, IngestFailure } from './failure.js';
import { DEFAULT_PROTOCOLS, inputOf, schemeOf, type Input } from './input.js';
import { redactSecrets, safeUrl, secretsOf } from '../util/redact.js';

export { IngestFailure } from './failure.js';
export { isLiveUrl } from './input.js';
export type { StreamInfo } from './assembler.js';

/**
 * The only module that runs ffmpeg: probe a file or stream (ffprobe) and decode it to frames (ffmpeg),
 * both spawned directly, so the arguments, the process, its timeout and stderr are ours. Every input
 * goes through input.ts (allowed schemes, never an option, `-protocol_whitelist`), and every text that
 * leaves this module has the URL's credentials redacted.
 */

export interface ProbeInfo {
  readonly width: number;
  readonly height: number;
  /** seconds, null for live streams */
  readonly duration: number | null;
  /** The video stream's own duration, s, when the container states it (null: unknown or live). */
  readonly videoDuration: number | null;
  readonly fps: number | null;
  /** creation_time tag of a recording, epoch ms, when present */
  readonly creationTime: number | null;
}

/** A network source (camera, stream server) rather than a local file. */
export const isStream = (url: string): boolean => ['rtsp', 'rtsps', 'rtmp', 'rtmps', 'srt', 'udp', 'tcp'].includes(schemeOf(url));

export type RtspTransport = 'tcp' | 'udp';

/** ffmpeg's arguments for an input (its options, then `-i`) and, for a URL with credentials, the list to feed on fd 3. */
export interface InputCommand {
  readonly args: string[];
  readonly list: string | null;
}

/**
 * The input part of an ffmpeg or ffprobe command line. A URL holding credentials is not put there:
 * any local user can read a command line (`ps`, /proc/PID/cmdline). It goes in a one-entry ffconcat
 * list that ffmpeg reads from fd 3 (`-f concat -i pipe:3`), with its demuxer options as `option`
 * lines; the command line shows only "pipe:3". `format` options apply to both levels.
 */
function inputCommand(input: Input, url: string, o: { transport?: RtspTransport; format?: readonly [string, string][] } = {}): InputCommand {
  const demuxer: [string, string][] = /^rtsps?$/.test(input.scheme) ? [['rtsp_transport', o.transport ?? 'tcp']] : [];
  const format = o.format ?? [];
  const flat = (opts: readonly [string, string][]): string[] => opts.flatMap(([k, v]) => [`-${k}`, v]);
  if (input.path !== null || secretsOf(url).length === 0) {
    return { args: [...flat(demuxer), ...flat(format), '-protocol_whitelist', input.whitelist, '-i', input.arg], list: null };
  }
  // ffconcat quoting: nothing is special inside '...', so a quote is closed, escaped and reopened.
  const quoted = `'${input.arg.replaceAll("'", "'\\''")}'`;
  const list = ['ffconcat version 1.0', `file ${quoted}`, ...[...demuxer, ...format].map(([k, v]) => `option ${k} ${v}`), ''].join('\n');
  return { args: [...flat(format), '-f', 'concat', '-safe', '0', '-protocol_whitelist', `pipe,${input.whitelist}`, '-i', 'pipe:3'], list };
}

/** Starts ffmpeg or ffprobe with stdout and stderr piped, and the input list (if any) written to fd 3. */
function start(bin: string, cmd: InputCommand, before: string[], after: string[]): ChildProcessByStdio<null, Readable, Readable> {
  const stdio: StdioOptions = cmd.list === null ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', 'pipe'];
  const proc = spawn(bin, [...before, ...cmd.args, ...after], { stdio }) as ChildProcessByStdio<null, Readable, Readable>;
  if (cmd.list !== null) {
    const fd3 = proc.stdio[3] as Writable;
    // ffmpeg gone before reading it (not on PATH, killed): its exit says why.
    fd3.on('error', () => undefined);
    fd3.end(cmd.list);
  }
  return proc;
}

function parseRate(r: string | undefined): number | null {
  if (!r) return null;
  const [a = NaN, b] = r.split('/').map(Number);
  const v = b ? a / b : a;
  return Number.isFinite(v) && v > 0 ? v : null;
}

const ffprobePath = (): string => process.env.FFPROBE_PATH || 'ffprobe';

interface ProbeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  duration?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  tags?: { creation_time?: string };
}
interface ProbeJson {
  streams?: ProbeStream[];
  format?: { duration?: string; tags?: { creation_time?: string } };
}

export interface ProbeOptions {
  /** Give up (kill ffprobe) after this long, ms: a FIFO or a silent server must not hang a caller. */
  readonly timeoutMs?: number;
  /** Aborting kills ffprobe; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  readonly protocols?: readonly string[];
  readonly transport?: RtspTransport;
}

/** Probes a file (or stream) for size, duration and rate. Rejects with an IngestFailure (redacted). */
export function probe(url: string, o: ProbeOptions = {}): Promise<ProbeInfo> {
  return new Promise((resolve, reject) => {
    let input: Input;
    try {
      input = inputOf(url, o.protocols ?? DEFAULT_PROTOCOLS);
    } catch (err) {
      return reject(err);
    }
    if (o.signal?.aborted) return reject(o.signal.reason);
    const cmd = inputCommand(input, url, { transport: o.transport });
    const proc = start(ffprobePath(), cmd, ['-hide_banner', '-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'], []);
    let out = '';
    let errText = '';
    let verdict: unknown;
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (errText = (errText + d).slice(-8192)));
    const giveUp = (why: unknown): void => {
      verdict ??= why;
      proc.kill('SIGKILL');
    };
    const onAbort = (): void => giveUp(o.signal!.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const ms = o.timeoutMs ?? 30_000;
    const timer = setTimeout(() => giveUp(new IngestFailure('other', `no answer from ffprobe within ${ms / 1000} s`, null)), ms);
    proc.on('error', (err: NodeJS.ErrnoException) => {
      verdict ??= err.code === 'ENOENT' ? new VigilError('VIGIL_ERR_FFMPEG_MISSING', { reason: `${ffprobePath()} is not on PATH` }, err) : new IngestFailure('other', redactSecrets(err.message, url), null);
    });
    proc.on('close', (code) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (verdict) return reject(verdict);
      if (code !== 0) {
        const text = unwrap(redactSecrets(errText, url), url);
        return reject(new IngestFailure(classifyFailure(text), lastLines(text) || `ffprobe exited with code ${code}`, code));
      }
      let data: ProbeJson;
      try {
        data = JSON.parse(out) as ProbeJson;
      } catch {
        return reject(new IngestFailure('not-video', 'ffprobe gave no description of the input', code));
      }
      const v = data.streams?.find((s) => s.codec_type === 'video' && s.width && s.height);
      if (!v) return reject(new IngestFailure('not-video', 'no video stream', null));
      const tag = data.format?.tags?.creation_time ?? v.tags?.creation_time;
      const created = typeof tag === 'string' ? Date.parse(tag) : NaN;
      const live = isStream(url);
      const seconds = (s: string | undefined): number | null => (!live && s !== undefined && Number.isFinite(Number(s)) && Number(s) > 0 ? Number(s) : null);
      resolve({
        width: v.width!,
        height: v.height!,
        duration: seconds(data.format?.duration),
        videoDuration: seconds(v.duration),
        fps: parseRate(v.avg_frame_rate) ?? parseRate(v.r_frame_rate),
        creationTime: Number.isFinite(created) && created > 0 ? created : null,
      });
    });
  });
}

// What the ffconcat wrapper of a hidden URL adds to the real reason (inputCommand).
const concatWrapper = /^\[concat @ 0x[0-9a-f]+\] Impossible to open/;
/** ffmpeg names the hidden input "pipe:3"; the reason reads better with the (redacted) URL. */
const unwrap = (text: string, url: string): string => text.replace(/^pipe:3: /gm, `${safeUrl(url)}: `);
const banner = /^(lib\w+\s+\d|configuration:|built with|ffmpeg version|ffprobe version|Copyright|Input #|Output #|Duration:|Stream #|Metadata:|Stream mapping:|Press \[q\]|frame=|\w+\s+:\s)/;

/** The last meaningful lines of ffmpeg's stderr: the reason, without its version banner. */
export function lastLines(text: string, n = 2): string {
  return text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l && !banner.test(l) && !concatWrapper.test(l))
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
  /** Schemes allowed (config `ingest.protocols`); input.ts's defaults unless given. */
  readonly protocols?: readonly string[];
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

/** How a decode that exited cleanly went. */
export interface DecodeSummary {
  /** ffmpeg's complaints about damaged input (it may still exit 0 on a truncated file). */
  readonly errors: readonly string[];
}

export interface DecodeHandle {
  /** Resolves when the source ends (or stop() was called); rejects with an IngestFailure. */
  readonly done: Promise<DecodeSummary>;
  /** The ffmpeg process id (CPU accounting in benchmarks). */
  readonly pid: number | undefined;
  stop(): void;
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

/** The ffmpeg command for `o`: its arguments and the input list for fd 3 (a URL with credentials). Throws an IngestFailure for a refused input. */
export function ffmpegCommand(o: DecodeOptions): InputCommand {
  const input = inputOf(o.url, o.protocols ?? DEFAULT_PROTOCOLS);
  const live = input.path === null;
  const before = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
  if (o.realtime && !live) before.push('-re');
  if (o.loop && !live) before.push('-stream_loop', '-1');
  // Decoder options go before -i: they apply to the input's decoder.
  if (o.tuning?.threads !== undefined) before.push('-threads', String(o.tuning.threads));
  if (o.tuning?.keyframesOnly) before.push('-skip_frame', 'nokey');
  // Live: do not hold the first frame back to estimate the frame rate (sampling uses timestamps); ~0.3 s sooner.
  const cmd = inputCommand(input, o.url, { transport: o.transport, format: live ? [['fpsprobesize', '0']] : [] });
  const after = ['-map', '0:v:0', '-an', '-sn', '-dn', '-vf', videoFilter(o)];
  // The muxer must neither duplicate nor drop: each output frame is one showinfo line.
  after.push('-fps_mode', 'passthrough');
  if ((o.output ?? 'rgb') === 'rgb') after.push('-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');
  else after.push('-c:v', 'mjpeg', '-q:v', '4', '-pix_fmt', 'yuvj420p', '-f', 'image2pipe', 'pipe:1');
  return { args: [...before, ...cmd.args, ...after], list: cmd.list };
}

/** The ffmpeg command line for `o` (tests and the benchmark's report). */
export const ffmpegArgs = (o: DecodeOptions): string[] => ffmpegCommand(o).args;

/**
 * Decodes `o.url` and calls `onFrame` for each sampled frame (the FrameAssembler joins each frame's
 * bytes to its showinfo line). This function owns the process: backpressure (stdout paused while
 * onFrame's promise is pending), stop, kill, and the verdict when it exits.
 */
export function decode(o: DecodeOptions, cb: DecodeCallbacks): DecodeHandle {
  const cmd = ffmpegCommand(o);
  const proc = start(ffmpegPath(), { args: cmd.args, list: cmd.list }, [], []);
  const frames = new FrameAssembler(o.output ?? 'rgb');
  const lines = new LineSplitter();
  const tail: string[] = [];
  let next = 0;
  let busy = false;
  let stopped = false;
  let inOutput = false;
  let infoSent = false;
  let fatal: unknown;
  let killTimer: NodeJS.Timeout | undefined;
  let settle: (() => void) | undefined;

  const pump = (): void => {
    if (busy || fatal || stopped) return;
    while (!fatal && !stopped) {
      const f = frames.next();
      if (!f) return;
      let r: void | Promise<void>;
      try {
        r = cb.onFrame({ data: f.data, width: f.width, height: f.height, index: next++, pts: f.pts, keyframe: f.keyframe });
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
    const meta = parseShowinfo(line);
    if (meta) {
      frames.addMeta(meta);
      pump();
      return;
    }
    if (/^\s*color_range:/.test(line) || /^\[Parsed_showinfo/.test(line)) return;
    if (/^Output #/.test(line)) inOutput = true;
    if (!inOutput && !infoSent && cb.onStreamInfo) {
      const info = parseInputStream(line);
      if (info) {
        infoSent = true;
        cb.onStreamInfo(info);
      }
    }
    tail.push(unwrap(redactSecrets(line, o.url), o.url));
    if (tail.length > 40) tail.shift();
  };

  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d: string) => {
    for (const l of lines.push(d)) onStderrLine(l);
  });
  proc.stdout.on('data', (d: Buffer) => {
    frames.addBytes(d);
    pump();
  });

  function kill(signal: NodeJS.Signals): void {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    // A process that ignores SIGTERM (stuck in a read) is killed for good after 2 s.
    killTimer ??= setTimeout(() => proc.kill('SIGKILL'), 2000);
    killTimer.unref();
  }

  const done = new Promise<DecodeSummary>((resolve, reject) => {
    proc.on('error', (err: NodeJS.ErrnoException) => {
      fatal ??=
        err.code === 'ENOENT'
          ? new VigilError('VIGIL_ERR_FFMPEG_MISSING', { reason: `${ffmpegPath()} is not on PATH` }, err)
          : new IngestFailure('other', redactSecrets(err.message, o.url), null);
    });
    proc.on('close', (code, signal) => {
      if (killTimer) clearTimeout(killTimer);
      for (const l of lines.flush()) onStderrLine(l);
      // Deliver what is complete, waiting for a pending onFrame, then settle.
      const finish = (): void => {
        if (busy && !fatal) {
          settle = finish;
          return;
        }
        settle = undefined;
        if (fatal) return reject(fatal);
        const text = tail.join('\n');
        if (stopped || code === 0) return resolve({ errors: errorLines(text) });
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

/** What ffmpeg said about a damaged input while still exiting 0 ("partial file", bad NAL units). */
function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => /partial file|File ended prematurely|corrupt|Invalid NAL|error while decoding|Invalid data|truncat/i.test(l));
}
