import type { RecognizerModel } from '../models/manifest.js';
import { openSession, ort, type SessionOptions } from './onnx.js';
import type { RgbImage } from '../contracts/messages.js';

/**
 * Turns aligned 112x112 faces into L2-normalised embeddings. Faces are run as one batch when the
 * model accepts a batch dimension (manifest `batch`), else one by one on the same session.
 */
export class Embedder {
  readonly id: string;
  readonly size: number;
  readonly #model: RecognizerModel;
  readonly #session: ort.InferenceSession;
  readonly #input: string;
  readonly #output: string;
  readonly #maxBatch: number;

  private constructor(id: string, model: RecognizerModel, session: ort.InferenceSession, maxBatch: number) {
    this.id = id;
    this.#model = model;
    this.size = model.embeddingSize;
    this.#session = session;
    const [input] = session.inputNames;
    const [output] = session.outputNames;
    if (input === undefined || output === undefined) throw new Error(`embedder ${id}: the model has no input or no output tensor`);
    this.#input = input;
    this.#output = output;
    this.#maxBatch = model.batch ? maxBatch : 1;
  }

  static async open(id: string, model: RecognizerModel, file: string, opts: SessionOptions, maxBatch = 32): Promise<Embedder> {
    return new Embedder(id, model, await openSession(file, opts), maxBatch);
  }

  /** Fills `out` (at offset `n`-th face slot) with the model's normalised CHW input for one face. */
  #fill(face: RgbImage, out: Float32Array, n: number): void {
    const { width: w, height: h } = this.#model.input;
    if (face.width !== w || face.height !== h) throw new Error(`embedder ${this.id}: face is ${face.width}x${face.height}, model needs ${w}x${h}`);
    const plane = w * h;
    const base = n * 3 * plane;
    const { mean, std } = this.#model;
    const inv = 1 / std;
    const bgr = this.#model.colorOrder === 'BGR';
    const r0 = base + (bgr ? 2 : 0) * plane;
    const g0 = base + plane;
    const b0 = base + (bgr ? 0 : 2) * plane;
    const d = face.data;
    for (let i = 0, p = 0; i < plane; i++, p += 3) {
      // p + 2 < 3 * plane: an RGB face of the size checked above
      out[r0 + i] = (d[p]! - mean) * inv;
      out[g0 + i] = (d[p + 1]! - mean) * inv;
      out[b0 + i] = (d[p + 2]! - mean) * inv;
    }
  }

  /** Embeddings for `faces`, in order. */
  async embed(faces: readonly RgbImage[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    const { width: w, height: h } = this.#model.input;
    for (let start = 0; start < faces.length; start += this.#maxBatch) {
      const chunk = faces.slice(start, start + this.#maxBatch);
      const data = new Float32Array(chunk.length * 3 * w * h);
      chunk.forEach((f, i) => this.#fill(f, data, i));
      const res = await this.#session.run({ [this.#input]: new ort.Tensor('float32', data, [chunk.length, 3, h, w]) });
      const emb = res[this.#output]!.data as Float32Array; // ort returns every requested output
      const dim = emb.length / chunk.length;
      for (let i = 0; i < chunk.length; i++) out.push(l2normalize(emb.slice(i * dim, (i + 1) * dim)));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
