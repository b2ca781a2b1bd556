/** Binary fields as base64 text (wire codecs, public events, caches), read in place: no copy. */
export const base64Of = (v: ArrayBufferView): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');

/** The Float32Array that base64Of wrote (a trailing partial float is ignored). */
export function float32FromBase64(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.byteLength >> 2);
  new Uint8Array(out.buffer).set(b.subarray(0, out.byteLength));
  return out;
}
