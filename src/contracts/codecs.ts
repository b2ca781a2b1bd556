import sharp, { type OutputInfo } from 'sharp';
import { z } from 'zod';
import { VigilError } from '../errors.js';
import { base64Of, float32FromBase64 } from '../util/base64.js';
import { b64, faceRecord, facesV1, frameV1, matchV1, matchV2, rgbImage, sightingV1, statusV1, watchlistV1, watchlistV2, dismissalV1, auditRequestV1, type FacesMsg, type FrameMsg, type MatchEvent, type TopicName, type Topics } from './messages.js';

/**
 * Wire codecs, one per topic, for transports that cross a process (Kafka). Decoding validates, so a
 * junk message fails here with VIGIL_ERR_BUS_DECODE (naming topic and reason) and can be dead-lettered
 * instead of crashing a stage. Versions: each decoder dispatches on `v`; old versions stay decodable.
 */
export interface Codec<T> {
  encode(msg: T): Promise<Buffer>;
  decode(buf: Buffer, limits?: DecodeLimits): Promise<T>;
}

/** What a consumer refuses to decode: a frame small on the wire can decode to GBs (a 1 MB JPEG of 16000x16000 is 768 MB raw). */
export interface DecodeLimits {
  /** Largest frame, width x height, checked from the headers before any pixel is decoded (bus.kafka.maxFramePixels). */
  readonly maxFramePixels: number;
}
/** The config's default (bus.kafka.maxFramePixels): 8K UHD, the widest camera.maxWidth allows. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxFramePixels: 7680 * 4320 };

// Wire forms: binary fields as base64 (faces), pixels as a JPEG after a JSON header (frames).
const facesWireV1 = facesV1.extend({ faces: z.array(faceRecord.extend({ embedding: b64, crop: b64 })) });
const frameHeaderV1 = frameV1.omit({ image: true }).extend(rgbImage.pick({ width: true, height: true }).shape);

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
    return validate('matches', matchV2, raw, 2);
  },
};

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

const facesCodec: Codec<FacesMsg> = {
  async encode(m) {
    const wire = { ...m, faces: m.faces.map((f) => ({ ...f, embedding: base64Of(f.embedding), crop: base64Of(f.crop) })) };
    return Buffer.from(JSON.stringify(wire));
  },
  async decode(buf) {
    const w = validate('faces', facesWireV1, parseJson('faces', buf));
    return {
      ...w,
      faces: w.faces.map((f) => ({ ...f, embedding: float32FromBase64(f.embedding), crop: new Uint8Array(Buffer.from(f.crop, 'base64')) })),
    };
  },
};

const jsonCodec = <S extends z.ZodType>(topic: TopicName, schema: S): Codec<z.infer<S>> => ({
  async encode(m) {
    return Buffer.from(JSON.stringify(m));
  },
  async decode(buf) {
    return validate(topic, schema, parseJson(topic, buf));
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
  async decode(buf, limits = DEFAULT_DECODE_LIMITS) {
    if (buf.length < 4) throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: 'shorter than its length prefix' });
    const n = buf.readUInt32BE(0);
    if (4 + n > buf.length) throw new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: 'header length past the end' });
    const h = validate('frames', frameHeaderV1, parseJson('frames', buf.subarray(4, 4 + n)));
    const max = limits.maxFramePixels;
    const tooLarge = (w: number, ht: number): VigilError =>
      new VigilError('VIGIL_ERR_BUS_DECODE', { topic: 'frames', reason: `frame of ${w}x${ht} (${w * ht} px) is above the limit of ${max} px (bus.kafka.maxFramePixels); not decoded` });
    if (h.width * h.height > max) throw tooLarge(h.width, h.height);
    const jpeg = buf.subarray(4 + n);
    let decoded: { data: Buffer; info: OutputInfo };
    try {
      // libvips checks the JPEG's own header against the limit before it decodes a pixel (the JSON header may lie).
      decoded = await sharp(jpeg, { limitInputPixels: max }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    } catch (err) {
      if (/pixel limit/i.test((err as Error).message)) {
        const m = await sharp(jpeg, { limitInputPixels: false }).metadata().catch(() => undefined);
        throw tooLarge(m?.width ?? NaN, m?.height ?? NaN);
      }
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
  watchlist: {
    async encode(m) {
      return Buffer.from(JSON.stringify(m));
    },
    async decode(buf) {
      const raw = parseJson('watchlist', buf);
      return (raw as { v?: unknown } | null)?.v === 2 ? validate('watchlist', watchlistV2, raw, 2) : validate('watchlist', watchlistV1, raw, 1);
    },
  },
  status: jsonCodec('status', statusV1),
  sightings: jsonCodec('sightings', sightingV1),
  dismissals: jsonCodec('dismissals', dismissalV1),
  'audit-requests': jsonCodec('audit-requests', auditRequestV1),
};
