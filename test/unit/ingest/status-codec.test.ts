import { describe, expect, it } from 'vitest';
import { codecs } from '../../../src/contracts/codecs.js';
import type { CameraStatus } from '../../../src/contracts/messages.js';
import { isVigilError } from '../../../src/errors.js';

describe('camera status codec', () => {
  const s: CameraStatus = {
    kind: 'camera-status',
    v: 1,
    camera: 'door',
    name: 'Front door',
    state: 'backoff',
    previous: 'connecting',
    at: '2026-11-27T10:00:00.000Z',
    url: 'rtsp://viewer:***@10.0.0.5/stream1',
    attempt: 3,
    retryInMs: 4000,
    frames: 120,
    lastFrameAt: '2026-11-27T09:59:50.000Z',
    error: { code: 'VIGIL_ERR_INGEST_AUTH', message: 'camera door: rtsp://viewer:***@10.0.0.5/stream1 refused the credentials (401 Unauthorized)' },
  };

  it('round-trips a status and rejects junk with VIGIL_ERR_BUS_DECODE', async () => {
    expect(await codecs.status.decode(await codecs.status.encode(s))).toEqual(s);
    for (const bad of [{ ...s, state: 'exploded' }, { ...s, v: 9 }, { ...s, extra: 1 }]) {
      const err = await codecs.status.decode(Buffer.from(JSON.stringify(bad))).then(() => undefined, (e: unknown) => e);
      expect(isVigilError(err, 'VIGIL_ERR_BUS_DECODE')).toBe(true);
    }
  });
});
