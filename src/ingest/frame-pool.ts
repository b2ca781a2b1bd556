/**
 * Recycled RGB frame buffers. A 720p frame is 2.7 MB; allocated anew for every frame, frames that
 * live through a few scavenges (queued on the bus, in a batch) are freed only by full mark-compact
 * collections, which the external-memory growth then forces several times a second (measured on a
 * quiet-scene replay: 275 mark-compacts, ~6.4 s of GC in a 30 s run, more than the detector took).
 * The assembler takes frames from here and the inference stage gives them back once a batch is done.
 * Only buffers this pool made are taken back, so a caller's own image is never recycled under it.
 */
export class FramePool {
  readonly #free = new Map<number, Buffer[]>();
  readonly #mine = new WeakSet<ArrayBufferLike>();
  readonly #max: number;

  /** `max`: buffers kept per size (frames in flight: the frames queue, a batch, one being assembled). */
  constructor(max = 24) {
    this.#max = max;
  }

  take(bytes: number): Buffer {
    const b = this.#free.get(bytes)?.pop();
    if (b) return b;
    // Its own ArrayBuffer (not a slice of Node's shared pool), so it can be handed back whole.
    const out = Buffer.allocUnsafeSlow(bytes);
    this.#mine.add(out.buffer);
    return out;
  }

  /** Hands a frame's pixels back; ignored for buffers not from this pool. Nothing may use them afterwards. */
  give(data: Uint8Array): void {
    if (!this.#mine.has(data.buffer) || data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) return;
    let list = this.#free.get(data.byteLength);
    if (!list) this.#free.set(data.byteLength, (list = []));
    if (list.length < this.#max && !list.some((b) => b.buffer === data.buffer)) list.push(Buffer.from(data.buffer, 0, data.byteLength));
  }

  /** Buffers waiting to be reused (tests). */
  get idle(): number {
    let n = 0;
    for (const l of this.#free.values()) n += l.length;
    return n;
  }
}

/** The process's pool: the embedded pipeline's cameras and its inference stage share it. */
export const framePool = new FramePool();
