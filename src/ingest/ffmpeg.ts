import ffmpeg from 'fluent-ffmpeg';
import type { PassThrough } from 'node:stream';

/**
 * The only module that touches fluent-ffmpeg (archived upstream): probe a source and decode it to
 * raw RGB24 frames at a sampled rate. Swapping it for a direct child_process.spawn stays local.
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

export interface DecodeOptions {
  readonly url: string;
  /** frames per second to sample */
  readonly fps: number;
  /** output size, px (even numbers) */
  readonly width: number;
  readonly height: number;
  /** pace a file at its own speed (a simulated live camera) */
  readonly realtime: boolean;
  readonly loop: boolean;
}

export interface DecodeHandle {
  /** Resolves when the source ends; rejects with the reason ffmpeg gave. */
  readonly done: Promise<void>;
  stop(): void;
}

const isStream = (url: string): boolean => /^(rtsps?|rtmp|srt|udp|tcp):\/\//i.test(url);

function inputOptions(url: string): string[] {
  return url.toLowerCase().startsWith('rtsp') ? ['-rtsp_transport', 'tcp'] : [];
}

function parseRate(r: string | undefined): number | null {
  if (!r) return null;
  const [a, b] = r.split('/').map(Number);
  const v = b ? a / b : a;
  return Number.isFinite(v) && v > 0 ? v : null;
}

export function probe(url: string): Promise<ProbeInfo> {
  return new Promise((resolve, reject) => {
    ffmpeg.ffprobe(url, inputOptions(url), (err, data) => {
      if (err) return reject(new Error(lastLines(String((err as Error).message ?? err))));
      const v = data.streams.find((s) => s.codec_type === 'video' && s.width && s.height);
      if (!v) return reject(new Error('no video stream'));
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

const banner = /^(lib\w+\s+\d|configuration:|built with|ffmpeg version|ffprobe version|Copyright|Input #|Duration:|Stream #|Metadata:)/;

/** The last meaningful lines of ffmpeg's stderr: the reason, without its version banner. */
function lastLines(text: string, n = 2): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !banner.test(l)).slice(-n).join(' | ');
}

/**
 * Decodes `url` and calls `onFrame` for each sampled frame with a fresh buffer of width*height*3
 * bytes. While `onFrame`'s promise is pending, ffmpeg's output is paused: backpressure reaches the
 * decoder instead of piling frames up in memory.
 */
export function decode(opts: DecodeOptions, onFrame: (rgb: Buffer, index: number) => void | Promise<void>): DecodeHandle {
  const frameBytes = opts.width * opts.height * 3;
  const input: string[] = [...inputOptions(opts.url)];
  if (opts.realtime && !isStream(opts.url)) input.push('-re');
  if (opts.loop && !isStream(opts.url)) input.push('-stream_loop', '-1');
  const stderr: string[] = [];
  let stopped = false;

  const cmd = ffmpeg(opts.url)
    .inputOptions(input)
    .noAudio()
    .outputOptions(['-vf', `fps=${opts.fps},scale=${opts.width}:${opts.height}:flags=bilinear`, '-pix_fmt', 'rgb24', '-f', 'rawvideo'])
    .on('stderr', (line: string) => {
      stderr.push(line);
      if (stderr.length > 20) stderr.shift();
    });

  const done = new Promise<void>((resolve, reject) => {
    let frame = Buffer.allocUnsafe(frameBytes);
    let filled = 0;
    let index = 0;
    let chain: Promise<void> = Promise.resolve();
    cmd.on('error', (err: Error) => {
      if (stopped) return void chain.then(resolve, reject);
      reject(new Error(lastLines(stderr.join('\n')) || err.message));
    });
    cmd.on('end', () => void chain.then(resolve, reject));
    const out = cmd.pipe() as PassThrough;
    out.on('data', (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        chunk.copy(frame, filled, off, off + n);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const full = frame;
          const i = index++;
          frame = Buffer.allocUnsafe(frameBytes);
          filled = 0;
          const r = onFrame(full, i);
          if (r instanceof Promise) {
            out.pause();
            chain = chain.then(() => r).finally(() => out.resume());
            chain.catch((err: unknown) => {
              stopped = true;
              cmd.kill('SIGKILL');
              reject(err);
            });
          }
        }
      }
    });
  });
  return {
    done,
    stop() {
      stopped = true;
      cmd.kill('SIGTERM');
    },
  };
}
