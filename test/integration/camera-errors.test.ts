import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { ensureRtspServerBinary, RtspServer } from '../support/rtsp-lab.js';
import { sharedBrokers, uniquePrefix } from '../kafka.js';
import { repoRoot, tempDir } from '../helpers.js';
import { dataDirWithModels, vigil } from './cli.js';

/**
 * One mapper: the same bad camera gives the same error code whichever command runs it — `vigil
 * replay` (replay policy, embedded), `vigil start` (live policy, embedded) and `vigil ingest`
 * (distributed; files under the replay policy, streams under the live one).
 */
let server: RtspServer;
let inputs: Record<string, string>;
const expected: Record<string, string> = {
  missing: 'VIGIL_ERR_INGEST_NOT_FOUND',
  nope: 'VIGIL_ERR_INGEST_NOT_FOUND',
  notes: 'VIGIL_ERR_INGEST_NOT_VIDEO',
  gone: 'VIGIL_ERR_INGEST_UNREACHABLE',
};

beforeAll(async () => {
  server = new RtspServer({ binary: await ensureRtspServerBinary() });
  await server.start();
  const dir = await tempDir();
  const notes = join(dir, 'notes.mp4');
  await writeFile(notes, 'this is not a video\n'.repeat(100));
  inputs = {
    missing: join(dir, 'missing.mp4'),
    nope: server.url('nope'),
    notes,
    gone: `rtsp://127.0.0.1:${await freePort()}/gone`,
  };
}, 15 * 60_000);

afterAll(async () => {
  await server?.close();
});

/** Runs the CLI until every camera has logged a failure with its code; returns camera -> code. */
function codesFromLogs(args: string[], env: Record<string, string>, ms = 60_000): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(repoRoot, 'bin', 'vigil.js'), ...args], { cwd: repoRoot, env: { ...process.env, VIGIL_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    const codes: Record<string, string> = {};
    let stderr = '';
    let rest = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      p.kill('SIGKILL');
      if (err) reject(err);
      else resolve(codes);
    };
    const timer = setTimeout(() => finish(new Error(`timed out; codes so far ${JSON.stringify(codes)}; stderr: ${stderr.slice(-2000)}`)), ms);
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        if (!l.startsWith('{')) continue;
        const e = JSON.parse(l) as { camera?: string; code?: string };
        if (e.camera && e.code?.startsWith('VIGIL_ERR_INGEST_')) codes[e.camera] ??= e.code;
      }
      if (Object.keys(expected).every((id) => codes[id])) finish();
    });
    p.on('exit', () => setTimeout(() => finish(Object.keys(expected).every((id) => codes[id]) ? undefined : new Error(`exited early: ${stderr.slice(-2000)}`)), 100));
  });
}

const cameras = () => Object.entries(inputs).map(([id, url]) => ({ id, url, fps: 2 }));

describe('the same bad camera, the same error code, under every command', () => {
  it('vigil replay', async () => {
    const r = await vigil(['replay', ...Object.values(inputs)], { VIGIL_DATA_DIR: await dataDirWithModels(), VIGIL_PROFILE: 'research' });
    expect(r.code).toBe(1);
    const codes = Object.fromEntries([...r.stderr.matchAll(/^(\w+): (VIGIL_ERR_\w+): /gm)].map((m) => [m[1], m[2]]));
    expect(codes).toEqual(expected);
  });

  it('vigil start', async () => {
    const dataDir = await dataDirWithModels();
    const cfgFile = join(dataDir, 'vigil.yaml');
    await writeFile(cfgFile, stringify({ broadcast: { port: 0 }, ingest: { backoffInitialMs: 200, openTimeoutMs: 15_000 }, cameras: cameras() }));
    expect(await codesFromLogs(['-c', cfgFile, 'start'], { VIGIL_DATA_DIR: dataDir, VIGIL_PROFILE: 'research' })).toEqual(expected);
  });

  it('vigil ingest', async () => {
    const dataDir = await tempDir();
    const cfgFile = join(dataDir, 'vigil.yaml');
    const kafka = { brokers: (await sharedBrokers()).split(','), topicPrefix: uniquePrefix('camerr') };
    await writeFile(cfgFile, stringify({ dataDir, bus: { kafka }, ingest: { backoffInitialMs: 200, openTimeoutMs: 15_000 }, cameras: cameras() }));
    expect(await codesFromLogs(['-c', cfgFile, 'ingest'], { KAFKA_BROKERS: '' }, 120_000)).toEqual(expected);
  }, 180_000);
});
