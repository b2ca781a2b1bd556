import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { Publisher, type RtspServer, startRtspCamera, stopRtspCamera } from '../support/rtsp-lab.js';
import { hamiltonClip } from '../helpers.js';
import { camera, IngestRig } from '../unit/ingest/rig.js';

/**
 * Live ingest against a real RTSP server (mediamtx, built once by scripts/rtsp-server.sh) fed by
 * ffmpeg publishers streaming a real face clip in a loop. Readers need credentials, so every camera
 * URL here holds a password that must never show up in a log line, an event or a metric.
 */
const PASS = 'Sup3r#S3cr@t';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: RtspServer;
let pub: Publisher;

beforeAll(async () => void ({ server, pub } = await startRtspCamera({ reader: { user: 'viewer', pass: PASS }, path: 'door', file: hamiltonClip() })), 15 * 60_000);

afterAll(() => stopRtspCamera(server, pub));

function expectNoSecret(rig: IngestRig, extra: string[] = []): Promise<void> {
  return rig.registry.metrics().then((text) => {
    for (const blob of [text, JSON.stringify(rig.statuses), ...rig.logs, ...extra]) {
      expect(blob).not.toContain(PASS);
      expect(blob).not.toContain(encodeURIComponent(PASS));
    }
  });
}

describe('RTSP ingest on a real server', () => {
  it('delivers frames within 5 s of start, stamped with the wall clock at receipt and the stream\'s own time', async () => {
    const rig = new IngestRig();
    try {
      const t0 = Date.now();
      await rig.set.apply([camera({ id: 'door', url: server.url('door') })]);
      const firstMs = await rig.until(() => rig.count('door') > 0, 5000, 'the first frame');
      console.log(`rtsp: first frame ${firstMs} ms after start`);
      await rig.until(() => rig.count('door') >= 8, 5000, '8 frames');
      const fs = rig.frames.get('door')!;
      expect(fs.map((f) => f.seq)).toEqual([...fs.keys()]);
      expect(fs[0]!.image).toMatchObject({ width: 320, height: 180 });
      expect(fs[0]!.capturedAt).toBeGreaterThanOrEqual(t0);
      expect(fs.at(-1)!.capturedAt).toBeLessThanOrEqual(Date.now());
      for (let i = 1; i < fs.length; i++) {
        expect(fs[i]!.capturedAt).toBeGreaterThan(fs[i - 1]!.capturedAt);
        expect(fs[i]!.streamTime!).toBeGreaterThan(fs[i - 1]!.streamTime!);
      }
      // 5 fps: the stream's clock spaces samples ~0.2 s apart, whatever the delivery jitter.
      const span = fs.at(-1)!.streamTime! - fs[0]!.streamTime!;
      expect(span / (fs.length - 1)).toBeGreaterThan(0.15);
      expect(span / (fs.length - 1)).toBeLessThan(0.3);
      expect(fs[0]!.mediaTime).toBeNull();
      expect(rig.statesOf('door').slice(0, 2)).toEqual(['connecting', 'live']);
      expect(await rig.metric('vigil_camera_up', { camera: 'door' })).toBe(1);
      expect(await rig.metric('vigil_camera_state', { camera: 'door', state: 'live' })).toBe(1);
      expect(await rig.metric('vigil_camera_frames_total', { camera: 'door' })).toBeGreaterThanOrEqual(8);
      expect(rig.lastStatus('door')!.url).toBe(server.url('door').replace(encodeURIComponent(PASS), '***'));
      await expectNoSecret(rig);
    } finally {
      await rig.close();
    }
  });

  it('recovers by itself when the server dies for 10 s, and the outage shows in its state and metrics', async () => {
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'door', url: server.url('door') })]);
      await rig.until(() => rig.count('door') >= 3, 5000, 'frames before the outage');
      const down = Date.now();
      await pub.stop();
      await server.kill();
      await rig.until(() => rig.lastStatus('door')?.state !== 'live', 5000, 'the outage to be seen');
      const seen = Date.now() - down;
      expect(await rig.metric('vigil_camera_up', { camera: 'door' })).toBe(0);
      await sleep(10_000 - (Date.now() - down));
      const before = rig.count('door');
      const backoffs = rig.statuses.filter((s) => s.camera === 'door' && s.state === 'backoff');
      expect(backoffs.length).toBeGreaterThanOrEqual(3); // it kept retrying, further and further apart (capped)
      expect(backoffs.map((s) => s.retryInMs)).toEqual(expect.arrayContaining([250, 500, 1000, 2000]));
      expect(backoffs.some((s) => s.error?.code === 'VIGIL_ERR_INGEST_UNREACHABLE')).toBe(true);
      // Down: backing off, or between two tries (which one depends on the instant on a loaded machine).
      const down1 = (await rig.metric('vigil_camera_state', { camera: 'door', state: 'backoff' }))! + (await rig.metric('vigil_camera_state', { camera: 'door', state: 'connecting' }))!;
      expect(down1).toBe(1);
      await server.start();
      const back = Date.now();
      await pub.start();
      const recoverMs = await rig.until(() => rig.count('door') > before + 3, 15_000, 'frames after the server came back');
      console.log(`rtsp: outage seen after ${seen} ms; frames again ${recoverMs} ms after the server restarted (${Date.now() - back} ms)`);
      expect(rig.lastStatus('door')!.state).toBe('live');
      expect(await rig.metric('vigil_camera_up', { camera: 'door' })).toBe(1);
      const restarts = (await rig.registry.getSingleMetric('vigil_camera_restarts_total')!.get()).values.reduce((a, v) => a + v.value, 0);
      expect(restarts).toBeGreaterThanOrEqual(3);
      expect(await rig.metric('vigil_camera_downtime_seconds_total', { camera: 'door' })).toBeGreaterThan(9);
      // One sequence across the outage: nothing downstream sees a reset.
      const seqs = rig.frames.get('door')!.map((f) => f.seq);
      expect(seqs).toEqual([...seqs.keys()]);
      await expectNoSecret(rig);
    } finally {
      await rig.close();
      // The other tests need the server, even when this one failed during the outage.
      if (!server.running) {
        await server.start();
        await pub.start();
      }
    }
  }, 60_000);

  it('detects a publisher that stops sending (stall) and restarts the camera', async () => {
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'door', url: server.url('door') })]);
      await rig.until(() => rig.count('door') >= 3, 5000, 'frames before the stall');
      pub.pause();
      const t0 = Date.now();
      try {
        await rig.until(() => rig.statesOf('door').includes('stalled'), 8000, 'the stall watchdog');
        await rig.until(() => rig.statesOf('door').includes('backoff'), 3000, 'the restart after the stall');
      } finally {
        // Resume even when the assertion fails, so that the next test has a publisher.
        setTimeout(() => pub.resume(), Math.max(0, 5000 - (Date.now() - t0)));
      }
      const stallMs = Date.now() - t0;
      const stalled = rig.statuses.find((s) => s.camera === 'door' && s.state === 'stalled')!;
      expect(stalled.error?.code).toBe('VIGIL_ERR_INGEST_STALLED');
      expect(stalled.error?.message).toMatch(/camera door: no frame from rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/door for 3(\.\d)? s \(stalled\)/);
      expect(await rig.metric('vigil_camera_stalls_total', { camera: 'door' })).toBe(1);
      expect(await rig.metric('vigil_camera_restarts_total', { camera: 'door', reason: 'stalled' })).toBe(1);
      const before = rig.count('door');
      await rig.until(() => rig.count('door') > before + 3, 15_000, 'frames after the publisher resumed');
      console.log(`rtsp: stall detected ${stallMs} ms after the publisher froze (stallTimeoutMs 3000); states: ${rig.statesOf('door').join(' > ')}`);
      expect(rig.statesOf('door').slice(0, 4)).toEqual(['connecting', 'live', 'stalled', 'backoff']);
      expect(rig.lastStatus('door')!.state).toBe('live');
      await expectNoSecret(rig);
    } finally {
      await rig.close();
    }
  }, 40_000);

  it('gives each broken camera a clear error with the password redacted, while the others keep running', async () => {
    const audio = new Publisher({ server, path: 'mic', lavfi: { input: 'sine=frequency=440:sample_rate=8000', codec: ['-c:a', 'pcm_mulaw'] } });
    await audio.start();
    const web: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>camera admin page</body></html>'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    const closedPort = await freePort();
    const rig = new IngestRig();
    try {
      const cams = [
        camera({ id: 'door', url: server.url('door') }),
        camera({ id: 'wrong-path', url: server.url('nope') }),
        camera({ id: 'wrong-pass', url: server.url('door', { user: 'viewer', pass: 'Wr0ng-Pa55' }) }),
        camera({ id: 'audio-only', url: server.url('mic') }),
        camera({ id: 'web-page', url: `http://admin:${encodeURIComponent(PASS)}@127.0.0.1:${(web.address() as AddressInfo).port}/` }),
        camera({ id: 'no-server', url: `rtsp://viewer:${encodeURIComponent(PASS)}@127.0.0.1:${closedPort}/door` }),
      ];
      await rig.set.apply(cams);
      const expected: Record<string, [string, RegExp]> = {
        'wrong-path': ['VIGIL_ERR_INGEST_NOT_FOUND', /^camera wrong-path: rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/nope was not found \(.*404 Not Found/],
        'wrong-pass': ['VIGIL_ERR_INGEST_AUTH', /^camera wrong-pass: rtsp:\/\/viewer:\*\*\*@127\.0\.0\.1:\d+\/door refused the credentials \(.*401 Unauthorized/],
        'audio-only': ['VIGIL_ERR_INGEST_NOT_VIDEO', /^camera audio-only: rtsp:\/\/viewer:\*\*\*@.* is not a video stream/],
        'web-page': ['VIGIL_ERR_INGEST_NOT_VIDEO', /^camera web-page: http:\/\/admin:\*\*\*@.* is not a video stream \(.*Invalid data/],
        'no-server': ['VIGIL_ERR_INGEST_UNREACHABLE', /^camera no-server: cannot reach rtsp:\/\/viewer:\*\*\*@.*Connection refused/],
      };
      // Each has failed at least once (they cycle backoff/connecting, so not necessarily all at one instant on a loaded machine).
      await rig.until(() => Object.keys(expected).every((id) => rig.statesOf(id).includes('backoff')), 10_000, 'every broken camera to fail');
      await rig.until(() => rig.count('door') > 0, 5000, 'the good camera');
      const during = rig.count('door');
      for (const [id, [code, message]] of Object.entries(expected)) {
        const s = rig.statuses.find((x) => x.camera === id && x.state === 'backoff')!;
        expect(s.error?.code, `${id}: ${s.error?.message}`).toBe(code);
        expect(s.error?.message, id).toMatch(message);
        expect(await rig.metric('vigil_camera_restarts_total', { camera: id, reason: { 'wrong-path': 'not_found', 'wrong-pass': 'auth', 'audio-only': 'not_video', 'web-page': 'not_video', 'no-server': 'unreachable' }[id]! })).toBeGreaterThanOrEqual(1);
        console.log(`rtsp: ${s.error!.code}: ${s.error!.message}`);
      }
      // The good camera kept going throughout, and still does.
      await rig.until(() => rig.count('door') >= during + 5, 5000, 'the good camera to keep delivering');
      expect(rig.statesOf('door')).toEqual(['connecting', 'live']);
      // Log lines name the camera and code; none has a password.
      expect(rig.logs.some((l) => l.includes('"camera":"wrong-pass"') && l.includes('VIGIL_ERR_INGEST_AUTH'))).toBe(true);
      await expectNoSecret(rig);
    } finally {
      await rig.close();
      await audio.stop();
      web.close();
    }
  }, 40_000);

  it('applies camera changes while running without touching the other cameras', async () => {
    const rig = new IngestRig();
    try {
      await rig.set.apply([camera({ id: 'a', url: server.url('door') }), camera({ id: 'b', url: server.url('door') })]);
      await rig.until(() => rig.count('a') > 2 && rig.count('b') > 2, 8000, 'a and b');
      const changes = await rig.set.apply([
        camera({ id: 'a', url: server.url('door'), name: 'Front door' }),
        camera({ id: 'b', url: server.url('door'), maxWidth: 160 }),
        camera({ id: 'c', url: server.url('door'), enabled: false }),
        camera({ id: 'd', url: server.url('door') }),
      ]);
      // a only got a display name: no reconnect for that.
      expect(changes).toEqual({ added: ['c', 'd'], removed: [], changed: ['a', 'b'], unchanged: [] });
      await rig.until(() => rig.frames.get('b')!.at(-1)!.image.width === 160 && rig.count('d') > 0, 8000, 'b at its new size and d');
      expect(rig.statesOf('c')).toEqual(['disabled']);
      const removed = await rig.set.apply([camera({ id: 'a', url: server.url('door'), name: 'Front door' }), camera({ id: 'c', url: server.url('door') })]);
      expect(removed).toEqual({ added: [], removed: ['b', 'd'], changed: ['c'], unchanged: ['a'] });
      await rig.until(() => rig.count('c') > 0, 8000, 'c enabled');
      expect(rig.lastStatus('b')!.state).toBe('stopped');
      expect(await rig.metric('vigil_camera_up', { camera: 'b' })).toBeUndefined(); // its series are gone
      // a was never restarted: one connection, one sequence.
      expect(rig.statesOf('a')).toEqual(['connecting', 'live']);
      expect(rig.set.get('a')!.status().name).toBe('Front door');
      const bSeqs = rig.frames.get('b')!.map((f) => f.seq);
      expect(bSeqs).toEqual([...bSeqs.keys()]);
      await expectNoSecret(rig);
    } finally {
      await rig.close();
    }
  }, 40_000);
});
