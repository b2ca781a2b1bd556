import { framePool } from './frame-pool.js';

/**
 * Turns ffmpeg's two output pipes into frames, without ffmpeg: the bytes of stdout (raw RGB24 or a
 * JPEG per frame) and the showinfo filter's one stderr line per output frame (its size, timestamp and
 * key-frame flag). ffmpeg writes a frame's log line before its bytes, and the two pipes are read
 * independently, so a frame is complete once both have arrived. Sizes come from each frame's own line,
 * so a stream that changes resolution mid-way still splits correctly.
 */

export interface FrameMeta {
  /** The stream's presentation time of the frame, s; null if unknown. */
  readonly pts: number | null;
  readonly width: number;
  readonly height: number;
  readonly keyframe: boolean;
}

export interface AssembledFrame extends FrameMeta {
  readonly data: Buffer;
}

/** The input's video stream as ffmpeg described it. */
export interface StreamInfo {
  readonly codec: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number | null;
}

const showinfoRe = /\bn:\s*(\d+)\s+pts:\s*(-?\d+|NOPTS)\s+pts_time:(\S+).*?\bs:(\d+)x(\d+).*?\biskey:(\d)/;
const inputStreamRe = /Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})\b/;
const fpsRe = /, ([\d.]+) fps\b/;

/** A showinfo line's frame metadata, or null for any other line. */
export function parseShowinfo(line: string): FrameMeta | null {
  const m = showinfoRe.exec(line);
  if (!m) return null;
  const pts = m[3] === 'NOPTS' || m[2] === 'NOPTS' ? null : Number(m[3]);
  return { pts: pts !== null && Number.isFinite(pts) ? pts : null, width: Number(m[4]), height: Number(m[5]), keyframe: m[6] === '1' };
}

/** An "Input #0 ... Stream #0:0: Video: h264 ..., 1280x720, 25 fps" line's description, or null. */
export function parseInputStream(line: string): StreamInfo | null {
  const s = inputStreamRe.exec(line);
  if (!s) return null;
  const fps = fpsRe.exec(line);
  return { codec: s[1]!, width: Number(s[2]), height: Number(s[3]), fps: fps ? Number(fps[1]) : null };
}

/** Splits text arriving in arbitrary chunks into lines ("\n", "\r\n" or ffmpeg's lone "\r"). */
export class LineSplitter {
  #rest = '';

  /** The complete, non-blank lines of `chunk` (with what was held back from the previous one). */
  push(chunk: string): string[] {
    const parts = (this.#rest + chunk).split(/\r?\n|\r/);
    this.#rest = parts.pop() ?? '';
    return parts.filter((l) => l.trim());
  }

  /** The last line, if the text did not end with a newline. */
  flush(): string[] {
    const rest = this.#rest;
    this.#rest = '';
    return rest.trim() ? [rest] : [];
  }
}

const JPEG_END = Buffer.from([0xff, 0xd9]);

export class FrameAssembler {
  readonly #jpeg: boolean;
  // One entry per showinfo line, in output order. Not keyed by showinfo's n: it restarts at 0 when
  // the filter graph is rebuilt (the stream changed resolution).
  #metas: (FrameMeta | undefined)[] = [];
  #metaHead = 0;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** JPEG: where the search for the end marker goes on from (the bytes before were searched). */
  #scanFrom = 0;

  constructor(format: 'rgb' | 'jpeg') {
    this.#jpeg = format === 'jpeg';
  }

  /** Bytes waiting for their frame's metadata or for the rest of the frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Frames whose metadata arrived but whose bytes have not (all of them) yet. */
  get pendingMeta(): number {
    return this.#metas.length - this.#metaHead;
  }

  addMeta(meta: FrameMeta): void {
    this.#metas.push(meta);
  }

  addBytes(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The next complete frame, or undefined until more arrives. */
  next(): AssembledFrame | undefined {
    const meta = this.#metas[this.#metaHead];
    if (!meta) return undefined;
    const n = this.#frameBytes(meta);
    if (n < 0) return undefined;
    this.#metas[this.#metaHead++] = undefined;
    if (this.#metaHead > 256) {
      this.#metas.splice(0, this.#metaHead);
      this.#metaHead = 0;
    }
    return { ...meta, data: this.#take(n) };
  }

  /** The byte length of the next frame, or -1 while it is incomplete. */
  #frameBytes(meta: FrameMeta): number {
    if (!this.#jpeg) {
      const n = meta.width * meta.height * 3;
      return this.#buffered >= n ? n : -1;
    }
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#buffered)];
    const buf = this.#chunks[0];
    if (!buf) return -1;
    const at = buf.indexOf(JPEG_END, Math.max(2, this.#scanFrom - 1));
    if (at < 0) {
      this.#scanFrom = buf.length;
      return -1;
    }
    this.#scanFrom = 0;
    return at + 2;
  }

  /** The first n buffered bytes as one buffer: a single copy out of the pipe's chunks (an RGB frame into a recycled buffer). */
  #take(n: number): Buffer {
    const out = this.#jpeg ? Buffer.allocUnsafe(n) : framePool.take(n);
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0]!; // n <= buffered bytes: a chunk is left while off < n
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    return out;
  }
}
