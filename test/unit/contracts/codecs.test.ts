import { describe, expect, it } from 'vitest';
import { codecs } from '../../../src/contracts/codecs.js';
import { facesV1, frameV1, type FacesMsg, type FrameMsg, type MatchEvent } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';
import { sighting } from '../store/fixtures.js';

const v1 = {
  kind: 'match', v: 1, id: 'abc', subject: { id: 's', name: 'S' }, similarity: 0.7, threshold: 0.4,
  candidates: [{ subject: { id: 's', name: 'S' }, similarity: 0.7 }, { subject: { id: 't', name: 'T' }, similarity: 0.5 }], camera: 'c', seq: 3,
  capturedAt: '2026-01-01T00:00:00.000Z', mediaTime: 0.6, box: [1, 2, 3, 4], frame: { width: 10, height: 10 },
  detectorScore: 0.9, crop: 'AAAA', profile: 'research', model: 'w600k_mbf_fp32',
} as const;
const match: MatchEvent = {
  ...v1, v: 2, type: 'update', revision: 2, margin: 0.2, rule: 'k-of-n', trackId: 'c-1', firstSeenAt: '2026-01-01T00:00:00.000Z',
  alertAt: '2026-01-01T00:00:00.000Z', related: { id: 'x', camera: 'd' },
};

async function rejects(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isVigilError(e, 'VIGIL_ERR_BUS_DECODE')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a decode error');
}

describe('codecs', () => {
  it('round-trips a match event, faces with embeddings, and a frame as JPEG', async () => {
    expect(await codecs.matches.decode(await codecs.matches.encode(match))).toEqual(match);
    // v1 (one event per face) still decodes, as an alert of its own
    const up = await codecs.matches.decode(Buffer.from(JSON.stringify(v1)));
    expect(up).toMatchObject({ v: 2, type: 'alert', revision: 0, id: 'abc', related: null });
    expect(up.margin).toBeCloseTo(0.2);
    const faces: FacesMsg = {
      kind: 'faces', v: 1, camera: 'c', seq: 1, capturedAt: 5, mediaTime: null, frame: { width: 4, height: 4 }, profile: 'p', model: 'm',
      faces: [{ box: [0, 0, 2, 2], score: 0.9, landmarks: [[1, 1]], embedding: new Float32Array([0.6, 0.8]), crop: new Uint8Array([1, 2, 3]) }],
    };
    const back = await codecs.faces.decode(await codecs.faces.encode(faces));
    expect(Array.from(back.faces[0]!.embedding)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(back.faces[0]!.crop)).toEqual([1, 2, 3]);
    const data = new Uint8Array(16 * 8 * 3).fill(128);
    const frame: FrameMsg = { kind: 'frame', v: 1, camera: 'c', seq: 2, capturedAt: 9, mediaTime: 0.4, image: { width: 16, height: 8, data } };
    const f2 = await codecs.frames.decode(await codecs.frames.encode(frame));
    expect(f2.image.width).toBe(16);
    expect(Math.abs(f2.image.data[0]! - 128)).toBeLessThan(4);
    // The decoded messages are what the one schema per message describes (binary fields in memory).
    expect(frameV1.safeParse(f2).success).toBe(true);
    expect(facesV1.safeParse(back).success).toBe(true);
    expect(facesV1.safeParse({ ...back, faces: [{ ...back.faces[0], embedding: [0.6, 0.8] }] }).success).toBe(false);
  });

  it('round-trips a sighting on the wire (the broadcast service stores what it decodes from the sightings topic)', async () => {
    const g = sighting('g1', 'a1', { firstMediaTime: 3.6, lastMediaTime: 7.6, bestMediaTime: 5 });
    expect(await codecs.sightings.decode(await codecs.sightings.encode(g))).toEqual(g);
    expect(await rejects(codecs.sightings.decode(Buffer.from(JSON.stringify({ ...g, alertId: undefined }))))).toMatch(/sightings/);
  });

  it('round-trips the watchlist topic\'s v1 and v2 records and a dismissal; a v2 record of an unknown op is refused', async () => {
    const changes = [
      { kind: 'watchlist', v: 1, op: 'remove', id: 'ada' },
      { kind: 'watchlist', v: 2, op: 'list', list: { name: 'vip', priority: 7, colour: '#d33', threshold: null, targetFpir: 0.001 } },
      { kind: 'watchlist', v: 2, op: 'negatives', subject: 'ada', model: 'm', vectors: [[0.5, -0.25]] },
    ] as const;
    for (const c of changes) expect(await codecs.watchlist.decode(await codecs.watchlist.encode(c))).toEqual(c);
    const d = { kind: 'dismissal', v: 1, alertId: 'a1', subject: 'ada', camera: 'c', actor: 'operator', at: '2026-01-01T00:00:00.000Z' } as const;
    expect(await codecs.dismissals.decode(await codecs.dismissals.encode(d))).toEqual(d);
    await expect(codecs.watchlist.decode(Buffer.from(JSON.stringify({ kind: 'watchlist', v: 2, op: 'upsert', subject: {} })))).rejects.toThrow(/watchlist/);
  });

  it('rejects junk with a reason naming the topic: not JSON, wrong version, missing field, bad JPEG', async () => {
    expect(await rejects(codecs.matches.decode(Buffer.from('{nope')))).toMatch(/topic matches.*not JSON/);
    expect(await rejects(codecs.matches.decode(Buffer.from(JSON.stringify({ ...match, v: 7 }))))).toMatch(/unsupported version 7/);
    const { subject: _s, ...noSubject } = match;
    expect(await rejects(codecs.matches.decode(Buffer.from(JSON.stringify(noSubject))))).toMatch(/subject/);
    const hdr = Buffer.from(JSON.stringify({ kind: 'frame', v: 1, camera: 'c', seq: 1, capturedAt: 1, mediaTime: null, width: 2, height: 2 }));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(hdr.length);
    expect(await rejects(codecs.frames.decode(Buffer.concat([len, hdr, Buffer.from('not a jpeg')])))).toMatch(/bad JPEG/);
    expect(await rejects(codecs.frames.decode(Buffer.from([0, 0])))).toMatch(/length prefix/);
  });
});
