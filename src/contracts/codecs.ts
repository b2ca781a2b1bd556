import sharp, { type OutputInfo } from 'sharp';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import type { CameraStatus, FacesMsg, FrameMsg, MatchEvent, SightingMsg, TopicName, Topics, WatchlistChange } from './messages.js';

/**
 * Wire codecs, one per topic, for transports that cross a process (Kafka). Decoding validates, so a
 * junk message fails here with VIGIL_ERR_BUS_DECODE (naming topic and reason) and can be dead-lettered
 * instead of crashing a stage. Versions: each decoder dispatches on `v`; old versions stay decodable.
 */
export interface Codec<T> {
  encode(msg: T): Promise<Buffer>;
  decode(buf: Buffer): Promise<T>;
}

const num = z.number().finite();
const box = z.tuple([num, num, num, num]);
const point = z.tuple([num, num]);
const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const subjectRef = z.strictObject({ id: z.string(), name: z.string() });

const facesV1 = z.strictObject({
  kind: z.literal('faces'),
  v: z.literal(1),
  camera: z.string(),
  seq: z.number().int().nonnegative(),
  capturedAt: num,
  mediaTime: num.nullable(),
  frame: z.strictObject({ width: z.number().int().positive(), height: z.number().int().positive() }),
  profile: z.string(),
  model: z.string(),
  faces: z.array(
    z.strictObject({ box, score: num, landmarks: z.array(point), embedding: b64, crop: b64 }),
  ),
});

/** v1: one event per matching face (the walking skeleton). Still decoded, upgraded to v2. */
export const matchV1 = z.strictObject({
  kind: z.literal('match'),
  v: z.literal(1),
  id: z.string(),
  subject: subjectRef,
  similarity: num,
  threshold: num,
  candidates: z.array(z.strictObject({ subject: subjectRef, similarity: num })),
  camera: z.string(),
  seq: z.number().int().nonnegative(),
  capturedAt: z.iso.datetime(),
  mediaTime: num.nullable(),
  box,
  frame: z.strictObject({ width: z.number().int().positive(), height: z.number().int().positive() }),
  detectorScore: num,
  crop: b64,
  profile: z.string(),
  model: z.string(),
});

export const matchV2 = z.strictObject({
  ...matchV1.shape,
  v: z.literal(2),
  type: z.enum(['alert', 'update']),
  revision: z.number().int().nonnegative(),
  margin: num,
  rule: z.enum(['strong', 'k-of-n']),
  trackId: z.string(),
  firstSeenAt: z.iso.datetime(),
  alertAt: z.iso.datetime(),
  related: z.strictObject({ id: z.string(), camera: z.string() }).nullable(),
});

/** A v1 event was one face above the threshold: an alert of its own, raised by that one face. */
function upgradeMatchV1(m: z.infer<typeof matchV1>): MatchEvent {
  const other = m.candidates.find((c) => c.subject.id !== m.subject.id);
  return {
    ...m,
    v: 2,
    type: 'alert',
    revision: 0,
    margin: m.similarity - (other?.similarity ?? 0),
    rule: 'strong',
    trackId: `${m.camera}-${m.seq}`,
    firstSeenAt: m.capturedAt,
    alertAt: m.capturedAt,
    related: null,
  };
}

const matchCodec: Codec<MatchEvent> = {
  async encode(m) {
    return Buffer.from(JSON.stringify(m));
  },
  async decode(buf) {
    const raw = parseJson('matches', buf);
    const v = (raw as { v?: unknown } | null)?.v;
    if (v === 1) return upgradeMatchV1(validate('matches', matchV1, raw, 1));
    return validate('matches', matchV2, raw, 2) as MatchEvent;
  },
};

const subjectRecord = z.strictObject({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  images: z.array(z.strictObject({ sha256: z.string(), name: z.string() })),
  embeddings: z.array(z.strictObject({ model: z.string(), image: z.string(), vector: z.array(num) })),
});
export const watchlistV1 = z.discriminatedUnion('op', [
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(1), op: z.literal('upsert'), subject: subjectRecord }),
  z.strictObject({ kind: z.literal('watchlist'), v: z.literal(1), op: z.literal('remove'), id: z.string() }),
]);

const cameraState = z.enum(['connecting', 'live', 'stalled', 'backoff', 'disabled', 'ended', 'stopped']);
export const statusV1 = z.strictObject({
  kind: z.literal('camera-status'),
  v: z.literal(1),
  camera: z.string(),
  name: z.string().nullable(),
  state: cameraState,
  previous: cameraState.nullable(),
  at: z.iso.datetime(),
  url: z.string(),
  attempt: z.number().int().nonnegative(),
  retryInMs: num.nonnegative().nullable(),
  frames: z.number().int().nonnegative(),
  lastFrameAt: z.iso.datetime().nullable(),
  error: z.strictObject({ code: z.string(), message: z.string() }).nullable(),
});

export const sightingV1 = z.strictObject({
  kind: z.literal('sighting'),
  v: z.literal(1),
  id: z.string(),
  alertId: z.string(),
  subject: subjectRef,
  camera: z.string(),
  trackId: z.string(),
  firstSeenAt: z.iso.datetime(),
  lastSeenAt: z.iso.datetime(),
  firstMediaTime: num.nullable(),
  lastMediaTime: num.nullable(),
  faces: z.number().int().positive(),
  similarity: num,
  threshold: num,
  bestAt: z.iso.datetime(),
  bestMediaTime: num.nullable(),
  box,
  frame: z.strictObject({ width: z.number().int().positive(), height: z.number().int().positive() }),
  crop: b64,
  profile: z.string(),
  model: z.string(),
});

const frameHeaderV1 = z.strictObject({
  kind: z.literal('frame'),
  v: z.literal(1),
  camera: z.string(),
  seq: z.number().int().nonnegative(),
  capturedAt: num,
  mediaTime: num.nullable(),
  streamTime: num.nullable().optional(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});

function parseJson(topic: TopicName, buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic, reason: `not JSON (${(err as Error).message})` }, err);
  }
}

function validate<S extends z.ZodType>(topic: TopicName, schema: S, value: unknown, version = 1): z.infer<S> {
  const v = (value as { v?: unknown } | null)?.v;
  if (v !== version) throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic, reason: `unsupported version ${JSON.stringify(v)}` });
  const r = schema.safeParse(value);
  if (!r.success) {
    const reason = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic, reason });
  }
  return r.data;
}

const f32ToB64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function b64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b.subarray(0, out.byteLength));
  return out;
}

const facesCodec: Codec<FacesMsg> = {
  async encode(m) {
    const wire = { ...m, faces: m.faces.map((f) => ({ ...f, embedding: f32ToB64(f.embedding), crop: Buffer.from(f.crop).toString('base64') })) };
    return Buffer.from(JSON.stringify(wire));
  },
  async decode(buf) {
    const w = validate('faces', facesV1, parseJson('faces', buf));
    return {
      ...w,
      faces: w.faces.map((f) => ({ ...f, embedding: b64ToF32(f.embedding), crop: new Uint8Array(Buffer.from(f.crop, 'base64')) })),
    };
  },
};

const jsonCodec = <T>(topic: TopicName, schema: z.ZodType): Codec<T> => ({
  async encode(m) {
    return Buffer.from(JSON.stringify(m));
  },
  async decode(buf) {
    return validate(topic, schema, parseJson(topic, buf)) as T;
  },
});

/** Frames cross processes as [u32 header length][JSON header][JPEG]: pixels are never sent raw. */
const frameCodec: Codec<FrameMsg> = {
  async encode(m) {
    const { image, ...rest } = m;
    const header = Buffer.from(JSON.stringify({ ...rest, width: image.width, height: image.height }));
    const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length);
    return Buffer.concat([len, header, jpeg]);
  },
  async decode(buf) {
    if (buf.length < 4) throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: 'shorter than its length prefix' });
    const n = buf.readUInt32BE(0);
    if (4 + n > buf.length) throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: 'header length past the end' });
    const h = validate('frames', frameHeaderV1, parseJson('frames', buf.subarray(4, 4 + n)));
    let decoded: { data: Buffer; info: OutputInfo };
    try {
      decoded = await sharp(buf.subarray(4 + n)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    } catch (err) {
      throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: `bad JPEG (${(err as Error).message})` }, err);
    }
    const { width, height, ...rest } = h;
    if (decoded.info.width !== width || decoded.info.height !== height) {
      throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: `JPEG is ${decoded.info.width}x${decoded.info.height}, header says ${width}x${height}` });
    }
    return { ...rest, image: { width, height, data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength) } };
  },
};

export const codecs: { [T in TopicName]: Codec<Topics[T]> } = {
  frames: frameCodec,
  faces: facesCodec,
  matches: matchCodec,
  watchlist: jsonCodec<WatchlistChange>('watchlist', watchlistV1),
  status: jsonCodec<CameraStatus>('status', statusV1),
  sightings: jsonCodec<SightingMsg>('sightings', sightingV1),
};
