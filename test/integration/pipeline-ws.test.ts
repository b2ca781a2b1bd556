import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from '../../src/config/load.js';
import { cameraSchema } from '../../src/config/schema.js';
import type { MatchEvent } from '../../src/contracts/messages.js';
import { createLogger } from '../../src/log.js';
import { enroll } from '../../src/matcher/enroll.js';
import { Pipeline } from '../../src/pipeline.js';
import { openRuntime, type Runtime } from '../../src/runtime.js';
import { faces, hamiltonClip, tempDir } from '../helpers.js';
import { dataDirWithModels } from './cli.js';

const TOKEN = 'e2e-token-0123456789abcdef';
let runtime: Runtime;
let pipeline: Pipeline;

beforeAll(async () => {
  const cfg = parseConfig({ dataDir: await dataDirWithModels(), models: { profile: 'research' }, broadcast: { port: 0 } }, {});
  const log = createLogger('silent');
  runtime = await openRuntime(cfg, log, { fetch: false });
  const s = await enroll(runtime.engine, runtime.store, { name: 'Lin-Manuel Miranda', files: [faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')] });
  runtime.index.upsert(s);
  pipeline = new Pipeline({ cfg, log, runtime, live: false, broadcastToken: TOKEN });
  await pipeline.start();
});

afterAll(async () => {
  await pipeline?.stop();
  await runtime?.close();
});

describe('embedded pipeline: video file to a WebSocket client', () => {
  it('delivers the enrolled person\'s match events to a monitoring client, and survives a corrupt video', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${pipeline.broadcast!.port}/?token=${TOKEN}`);
    const got: MatchEvent[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { kind: string };
      if (m.kind === 'match') got.push(m as MatchEvent);
    });
    await new Promise((r, j) => ws.once('open', r).once('error', j));

    // A corrupt "camera" fails on its own; the pipeline stays up for the next one.
    const broken = join(await tempDir(), 'broken.mp4');
    await writeFile(broken, Buffer.alloc(40_000, 3));
    const [bad] = await pipeline.cameras.run([cameraSchema.parse({ id: 'broken', url: broken, realtime: false })]);
    expect(bad!.error?.message).toMatch(/camera broken/);

    const [ok] = await pipeline.cameras.run([cameraSchema.parse({ id: 'stage', url: hamiltonClip(), realtime: false })]);
    expect(ok).toMatchObject({ frames: 50, error: null });
    await pipeline.drain();
    await new Promise((r) => setTimeout(r, 200)); // let the socket flush
    ws.close();

    expect(got.filter((e) => e.type === 'alert')).toHaveLength(1);
    expect(got.map((e) => e.revision)).toEqual(got.map((_, i) => i)); // the alert, then its updates in order
    expect(new Set(got.map((e) => e.subject.id))).toEqual(new Set(['lin_manuel_miranda']));
    expect(new Set(got.map((e) => e.camera))).toEqual(new Set(['stage']));
    expect(got.every((e) => e.similarity >= e.threshold && e.mediaTime !== null)).toBe(true);
    const seqs = got.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b)); // in camera order
    expect(pipeline.bus.stats().frames.dropped).toBe(0); // replay loses nothing
  });
});
