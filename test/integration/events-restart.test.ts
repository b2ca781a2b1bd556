import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { faces, hamiltonClip, repoRoot } from '../helpers.js';
import { dataDirWithModels, vigil } from './cli.js';

/**
 * Issue 9's "done when": kill -9 of `vigil start` streaming a clip with its person enrolled, and a
 * restart: every alert sent before the kill is still returned by GET /api/events, and a WebSocket
 * client resuming from its last cursor gets every later event exactly once.
 */
interface Ev {
  kind: string;
  id?: string;
  revision?: number;
  type?: string;
  cursor?: string;
}

const procs: ChildProcess[] = [];
afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

function start(dataDir: string, cfgFile: string): Promise<{ p: ChildProcess; base: string; token: string; log: () => string }> {
  const p = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), '-c', cfgFile, 'start'], {
    cwd: repoRoot,
    env: { ...process.env, VIGIL_DATA_DIR: dataDir, VIGIL_LOG_LEVEL: 'warn', VIGIL_PROFILE: 'research' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  let stderr = '';
  p.stdout!.resume();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no console line: ${stderr.slice(-2000)}`)), 120_000);
    p.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /console: http:\/\/([\d.]+:\d+)\/\?token=(\S+)/.exec(stderr);
      if (m) {
        clearTimeout(t);
        resolve({ p, base: m[1]!, token: m[2]!, log: () => stderr });
      }
    });
    p.once('exit', (code) => reject(new Error(`vigil start exited ${code}: ${stderr.slice(-2000)}`)));
  });
}

function monitor(url: string): { events: Ev[]; ws: WebSocket } {
  const ws = new WebSocket(url);
  const events: Ev[] = [];
  ws.on('message', (m) => events.push(JSON.parse(m.toString()) as Ev));
  return { events, ws };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const key = (e: Ev): string => `${e.kind}:${e.id ?? ''}#${e.revision ?? ''}@${e.cursor}`;

describe('event store across kill -9 of vigil start', () => {
  it('keeps every alert sent before the kill, and a resumed client gets every later event exactly once', async () => {
    const dataDir = await dataDirWithModels();
    const env = { VIGIL_DATA_DIR: dataDir, VIGIL_PROFILE: 'research' };
    const enrolled = await vigil(['enroll', '--name', 'Lin-Manuel Miranda', '--id', 'lmm', faces('face_recognition', 'lin_manuel_miranda', 'lin-manuel-miranda.png')], env);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const cfgFile = join(dataDir, 'vigil.yaml');
    // A looping clip, paced like a live camera; a short cooldown so each loop raises a new alert.
    await writeFile(cfgFile, `broadcast: { port: 0 }\nalerts: { cooldownSeconds: 1 }\ncameras:\n  - { id: stage, url: "${hamiltonClip()}", fps: 5, loop: true, realtime: true, maxWidth: 640 }\n`);

    const first = await start(dataDir, cfgFile);
    const m1 = monitor(`ws://${first.base}/?token=${first.token}`);
    const matches1 = () => m1.events.filter((e) => e.kind === 'match');
    await until(() => matches1().filter((e) => e.type === 'alert').length >= 2, 120_000, `two alerts before the kill; ${first.log().slice(-1500)}`);
    first.p.kill('SIGKILL');
    await new Promise((r) => first.p.once('exit', r));
    const before = matches1();
    const lastCursor = [...m1.events].reverse().find((e) => e.cursor && e.kind !== 'hello')!.cursor!;
    m1.ws.terminate();

    const second = await start(dataDir, cfgFile);
    const stored = (await (await fetch(`http://${second.base}/api/events?type=alert,update&limit=1000&token=${second.token}`)).json()) as { events: Ev[] };
    const storedKeys = new Set(stored.events.map(key));
    const lost = before.filter((e) => !storedKeys.has(key(e)));
    expect(lost, 'events sent before the kill and not stored').toEqual([]);

    // Resume from the last cursor seen before the kill while new events arrive.
    const m2 = monitor(`ws://${second.base}/?token=${second.token}&after=${encodeURIComponent(lastCursor)}`);
    await until(() => m2.events.filter((e) => e.kind === 'match' && e.type === 'alert').length >= 2, 120_000, 'two alerts after the restart');
    const got = m2.events.filter((e) => e.cursor && e.kind !== 'hello');
    const truth = (await (await fetch(`http://${second.base}/api/events?after=${encodeURIComponent(lastCursor)}&limit=1000&token=${second.token}`)).json()) as { events: Ev[] };
    // Exactly the stored events after the cursor, in order, each once (the store may have more by now).
    expect(got.map(key)).toEqual(truth.events.slice(0, got.length).map(key));
    expect(new Set(got.map(key)).size).toBe(got.length);
    console.log(`restart: ${before.length} match events before kill -9 all stored; resumed client got ${got.length} later events once each`);
    m2.ws.close();
    second.p.kill('SIGTERM');
    await new Promise((r) => second.p.once('exit', r));
  }, 360_000);
});
